"""Precision follows what the hardware computes natively; every branch with faked device queries.
``test_resume_guard.py`` checks that a loss scaler's state survives a resume."""

from __future__ import annotations

import pytest
import torch

from helpers import device as dev


def fake_bf16_query(native: bool, emulated: bool):
    """A ``torch.<device>.is_bf16_supported`` for a GPU with/without native or emulated bf16;
    it records how it was asked."""
    calls = []

    def query(including_emulation: bool = True) -> bool:
        calls.append(including_emulation)
        return native or (including_emulation and emulated)

    query.calls = calls
    return query


def test_cuda_with_native_bf16_trains_in_bf16(monkeypatch):
    query = fake_bf16_query(native=True, emulated=True)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", query)
    assert dev.pick_precision("cuda") == ("bf16", "this CUDA GPU computes bf16 natively")
    assert query.calls == [False]  # emulation does not count


def test_cuda_that_only_emulates_bf16_gets_fp16_with_loss_scaling(monkeypatch):
    # a T4 or V100: torch's default query says True (emulation), the native query says False
    query = fake_bf16_query(native=False, emulated=True)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", query)
    precision, reason = dev.pick_precision("cuda")
    assert precision == "fp16" and "loss scaling" in reason and "emulation" in reason
    assert dev.DeviceChoice("cuda", precision, "", "").mixed_precision == "fp16"


def test_older_torch_without_the_emulation_argument_is_still_asked(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda: False)
    assert dev.pick_precision("cuda")[0] == "fp16"
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda: True)
    assert dev.pick_precision("cuda")[0] == "bf16"


@pytest.mark.parametrize(
    ("native", "expected"), [(True, "bf16"), (False, "fp32")], ids=["native", "none"]
)
def test_xpu_asks_torch_instead_of_assuming(monkeypatch, native, expected):
    query = fake_bf16_query(native=native, emulated=True)
    monkeypatch.setattr(torch.xpu, "is_bf16_supported", query, raising=False)
    assert dev.pick_precision("xpu")[0] == expected
    assert query.calls == [False]


def test_xpu_without_the_query_does_not_assume_bf16(monkeypatch):
    monkeypatch.delattr(torch.xpu, "is_bf16_supported", raising=False)
    precision, reason = dev.pick_precision("xpu")
    assert precision == "fp32" and "cannot say" in reason


@pytest.mark.parametrize(("flags", "expected"), [(True, "bf16"), (False, "fp32")])
def test_cpu_uses_bf16_only_with_native_instructions(monkeypatch, flags, expected):
    monkeypatch.setattr(dev, "cpu_supports_bf16", lambda: flags)
    assert dev.pick_precision("cpu")[0] == expected


def test_mps_and_requested_precisions():
    assert dev.pick_precision("mps")[0] == "fp32"
    assert dev.pick_precision("xpu", "fp32") == ("fp32", "requested")
    assert dev.pick_precision("cuda", "fp16") == ("fp16", "requested")
    with pytest.raises(ValueError, match="fp8"):
        dev.pick_precision("cpu", "fp8")
