"""``torch.compile`` as a knob: "auto" compiles long GPU runs only; any failure, when built or
when it runs, means one warning and eager; out of memory passes through (the auto batch size
needs it); a compiled run saves the plain model and resumes without compile."""

from __future__ import annotations

import logging

import pytest
import torch
from compile_fixtures import CountingBackend
from safetensors import safe_open
from test_training import run_tiny, tiny_config

from helpers.training import compilation
from helpers.training.checkpoints import WEIGHTS_FILE, find_checkpoint
from helpers.training.compilation import AUTO_COMPILE_MIN_SAMPLES, CompiledModule, compile_decision

ENOUGH = AUTO_COMPILE_MIN_SAMPLES


@pytest.mark.parametrize(
    ("setting", "device", "steps", "wanted"),
    [
        (True, "cpu", 1, True),
        (False, "cuda", 10 * ENOUGH, False),
        ("auto", "cpu", 10 * ENOUGH, False),
        ("auto", "mps", 10 * ENOUGH, False),
        ("auto", "cuda", ENOUGH - 1, False),
        ("auto", "cuda", ENOUGH, True),
        ("auto", "xpu", ENOUGH, True),
    ],
)
def test_auto_compiles_long_gpu_runs_only(setting, device, steps, wanted):
    decided, why = compile_decision(setting, device, steps)
    assert decided is wanted and why


def test_auto_leaves_xpu_eager_on_a_torch_without_its_inductor(monkeypatch):
    monkeypatch.setattr(compilation, "torch_version", lambda: (2, 4))
    wanted, why = compile_decision("auto", "xpu", 10 * ENOUGH)
    assert not wanted and "XPU" in why


class Scale(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.weight = torch.nn.Parameter(torch.tensor(2.0))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.weight


def compiling_to(error: Exception):
    """A ``torch.compile`` whose compiled module raises ``error`` when called."""

    def compile_(module, **kwargs):
        def run(*args, **kw):
            raise error

        return run

    return compile_


def warnings_in(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]


def test_a_failure_when_it_runs_falls_back_to_eager_with_one_warning(monkeypatch, caplog):
    monkeypatch.setattr(torch, "compile", compiling_to(RuntimeError("no working C++ compiler")))
    module = Scale()
    wrapped = CompiledModule(module)
    with caplog.at_level(logging.WARNING, logger=compilation.__name__):
        outputs = [wrapped(torch.ones(2)) for _ in range(3)]
    assert all(torch.equal(output, torch.full((2,), 2.0)) for output in outputs)
    [warning] = warnings_in(caplog)
    assert "no working C++ compiler" in warning and "eager" in warning and wrapped.failed


def test_a_failure_when_built_falls_back_too(monkeypatch, caplog):
    def refuse(module, **kwargs):
        raise RuntimeError("Dynamo is not supported on this Python")

    monkeypatch.setattr(torch, "compile", refuse)
    with caplog.at_level(logging.WARNING, logger=compilation.__name__):
        wrapped = CompiledModule(Scale())
        assert torch.equal(wrapped(torch.ones(1)), torch.tensor([2.0]))
    [warning] = warnings_in(caplog)
    assert "when built" in warning and "not supported on this Python" in warning


def test_out_of_memory_passes_through_and_keeps_the_compiled_path(monkeypatch):
    monkeypatch.setattr(torch, "compile", compiling_to(torch.OutOfMemoryError("out of memory")))
    wrapped = CompiledModule(Scale())
    with pytest.raises(torch.OutOfMemoryError):
        wrapped(torch.ones(2))
    assert not wrapped.failed


def test_the_wrapper_has_the_module_parameters_and_modes_once():
    module = Scale()
    wrapped = CompiledModule(module, backend="eager")
    assert list(wrapped.parameters()) == list(module.parameters())
    wrapped.eval()
    assert not module.training
    assert torch.equal(wrapped(torch.ones(2)), module(torch.ones(2)))


def test_a_compiled_run_saves_the_plain_model_and_resumes_eager(tmp_path, monkeypatch, caplog):
    backend = CountingBackend()
    monkeypatch.setattr(compilation, "COMPILE_BACKEND", backend)
    cfg = tiny_config(tmp_path / "run", epochs=1, compile=True)
    with caplog.at_level(logging.INFO, logger=compilation.__name__):
        run_tiny(cfg)
    assert backend.graphs > 0 and not warnings_in(caplog)  # compiled, no fallback
    for path in (
        find_checkpoint(cfg.run_dir) / WEIGHTS_FILE,
        cfg.run_dir / "final" / "model.safetensors",
    ):
        with safe_open(path, "pt") as weights:
            names = list(weights.keys())
        assert names and not any("_orig_mod" in n or n.startswith("module.") for n in names)
    # compile and attention do not change the weights: safe changes, the run continues
    _, result = run_tiny(cfg.with_overrides(epochs=2, compile=False, attn_implementation="eager"))
    assert result.resumed_from_epoch == 1 and len(result.history) == 2
