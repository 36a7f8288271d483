import pytest
import torch

from helpers import device as dev


def test_auto_on_a_cpu_only_machine_picks_cpu_and_says_why(monkeypatch):
    monkeypatch.delenv("CAPTION_DEVICE", raising=False)
    monkeypatch.setattr(dev, "is_available", lambda d: d == "cpu")
    choice = dev.choose_device()
    assert choice.device == "cpu"
    assert "not available: xpu, cuda, mps" in choice.device_reason
    assert choice.summary().startswith("Device: cpu (")


def test_order_prefers_xpu_then_cuda(monkeypatch):
    monkeypatch.delenv("CAPTION_DEVICE", raising=False)
    monkeypatch.setattr(dev, "is_available", lambda d: d in ("cuda", "xpu", "cpu"))
    assert dev.pick_device()[0] == "xpu"
    monkeypatch.setattr(dev, "is_available", lambda d: d in ("cuda", "mps", "cpu"))
    assert dev.pick_device()[0] == "cuda"
    monkeypatch.setattr(dev, "is_available", lambda d: d in ("mps", "cpu"))
    assert dev.pick_device()[0] == "mps"


def test_environment_override(monkeypatch):
    monkeypatch.setenv("CAPTION_DEVICE", "cpu")
    monkeypatch.setattr(dev, "is_available", lambda d: True)
    name, reason = dev.pick_device("auto")
    assert name == "cpu" and "CAPTION_DEVICE" in reason


def test_unavailable_or_unknown_device_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(dev, "is_available", lambda d: d == "cpu")
    with pytest.raises(RuntimeError, match="'xpu' was requested"):
        dev.pick_device("xpu")
    with pytest.raises(ValueError, match="Unknown device 'tpu'"):
        dev.pick_device("tpu")


def test_precision_rules(monkeypatch, tmp_path):
    assert dev.pick_precision("xpu")[0] == "bf16"
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: False)
    assert dev.pick_precision("cuda") == (
        "fp16",
        "this CUDA GPU lacks bf16; fp16 with loss scaling",
    )
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    assert dev.pick_precision("cuda")[0] == "bf16"
    assert dev.pick_precision("mps")[0] == "fp32"
    assert dev.pick_precision("xpu", "fp32") == ("fp32", "requested")
    with pytest.raises(ValueError, match="fp8"):
        dev.pick_precision("cpu", "fp8")


def test_cpu_bf16_detection_reads_cpu_flags(tmp_path):
    with_amx = tmp_path / "amx"
    with_amx.write_text("flags\t: fpu sse avx2 amx_bf16 amx_tile\n")
    without = tmp_path / "plain"
    without.write_text("flags\t: fpu sse avx2\n")
    assert dev.cpu_supports_bf16(with_amx)
    assert not dev.cpu_supports_bf16(without)
    assert not dev.cpu_supports_bf16(tmp_path / "missing")


def test_choice_maps_to_accelerate_and_torch():
    choice = dev.DeviceChoice("cpu", "bf16", "r", "r")
    assert choice.mixed_precision == "bf16"
    assert choice.dtype is torch.bfloat16
    assert dev.DeviceChoice("cpu", "fp32", "r", "r").mixed_precision == "no"
    assert choice.torch_device == torch.device("cpu")
