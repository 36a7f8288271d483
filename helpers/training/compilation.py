"""``torch.compile`` of the training step: when it pays, and never a crash when it fails.

``cfg.compile`` is True, False or "auto". "auto" compiles on CUDA and Intel GPUs (XPU, where
PyTorch >= 2.5 has an inductor backend) when the run trains enough samples to repay the compile
time, never on the CPU or an Apple GPU. Measured on an H200 (``docs/PERFORMANCE.md``): compiling
BLIP-large took about 85 s, and the compiled full fine-tune (bf16, SDPA, fused AdamW) ran 310
samples/s against 214 eager at batch 64, 1.45 ms saved per sample: about 59,000 samples repay
one compilation. A run's caption lengths vary, so PyTorch compiles a second time with the length
marked dynamic; "auto" therefore asks for ``AUTO_COMPILE_MIN_SAMPLES``, twice that (optimizer
steps x samples per step; five epochs over the Intel sample's 1,374 images stay eager).

Only the training forward and backward passes run compiled (``CompiledModule``); validation
runs the eager model (a compiled graph of the evaluation mode would be one more compilation).
The compiled wrapper is never saved: checkpoints and exports come from the unwrapped model, so
their parameter names carry no ``_orig_mod.`` prefix. A compilation that fails, when built or at
its first call, logs one warning and the run goes on eager. Out-of-memory errors pass through
(``helpers.training.auto_batch`` halves the batch on them).

The collators pad captions to a multiple of ``helpers.data.batching.LENGTH_BUCKET`` tokens, so a
compiled step sees a handful of lengths, not one per batch.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import nullcontext
from typing import Any

import torch

from helpers.oom import is_out_of_memory

log = logging.getLogger(__name__)

COMPILE_BACKEND = "inductor"
AUTO_COMPILE_DEVICES = ("cuda", "xpu")
AUTO_COMPILE_MIN_SAMPLES = 120_000  # trained samples that repay two compilations (see above)
XPU_COMPILE_SINCE = (2, 5)  # the first PyTorch whose inductor generates code for Intel GPUs


def torch_version() -> tuple[int, int]:
    """The installed PyTorch's (major, minor)."""
    major, minor = torch.__version__.split(".")[:2]
    return int(major), int(minor)


def compile_decision(setting: bool | str, device: str, samples: int) -> tuple[bool, str]:
    """Whether to compile a run that trains ``samples`` samples (optimizer steps x samples per
    step) on ``device``, and why (one line)."""
    if setting != "auto":
        return bool(setting), f"compile={setting!r}"
    if device not in AUTO_COMPILE_DEVICES:
        return False, f"compile='auto' compiles on CUDA and Intel GPUs only, not on {device}"
    if device == "xpu" and torch_version() < XPU_COMPILE_SINCE:
        return False, f"compile='auto': PyTorch {torch.__version__} cannot compile for XPU"
    if samples < AUTO_COMPILE_MIN_SAMPLES:
        return False, (
            f"compile='auto': the run trains {samples:,} samples, fewer than the "
            f"{AUTO_COMPILE_MIN_SAMPLES:,} that repay the compile time (compile=True forces it)"
        )
    return True, f"compile='auto': {samples:,} samples to train on {device}"


class CompiledModule(torch.nn.Module):
    """``module`` called through ``torch.compile`` (``backend``, default ``COMPILE_BACKEND``);
    on the first failure (other than out of memory) one warning, then ``module`` itself from
    then on. ``parameters()``, ``train()`` and ``eval()`` are ``module``'s."""

    def __init__(self, module: torch.nn.Module, backend: str | Callable | None = None) -> None:
        super().__init__()
        self.module = module
        self.failed = False
        try:
            compiled = torch.compile(module, backend=backend or COMPILE_BACKEND)
        except Exception as error:
            compiled = self._fall_back(error, "when built")
        object.__setattr__(self, "compiled", compiled)  # not a submodule: no second name

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        if not self.failed:
            try:
                return self.compiled(*args, **kwargs)
            except Exception as error:
                if is_out_of_memory(error):
                    raise
                self._fall_back(error, "when it ran")
        return self.module(*args, **kwargs)

    def no_sync(self):
        """The wrapped DDP module's ``no_sync`` (Accelerate calls it under several processes)."""
        return getattr(self.module, "no_sync", nullcontext)()

    def _fall_back(self, error: Exception, when: str) -> None:
        self.failed = True
        reason = str(error).strip().splitlines()[0] if str(error).strip() else ""
        log.warning(
            f"torch.compile failed {when} ({type(error).__name__}: {reason[:300]}); training "
            "continues without it (eager). Set compile=False to skip the attempt."
        )


def compiled_for_run(
    model: torch.nn.Module,
    setting: bool | str,
    device: str,
    samples: int,
    backend: str | Callable | None = None,
) -> torch.nn.Module:
    """``model`` wrapped in ``CompiledModule`` (``backend``, default ``COMPILE_BACKEND``) when
    ``compile_decision`` says so for a run of ``samples`` samples, else ``model`` itself; logs
    the decision."""
    wanted, why = compile_decision(setting, device, samples)
    log.info(f"torch.compile {'on' if wanted else 'off'}: {why}.")
    return CompiledModule(model, backend) if wanted else model


__all__ = [
    "AUTO_COMPILE_DEVICES",
    "AUTO_COMPILE_MIN_SAMPLES",
    "COMPILE_BACKEND",
    "CompiledModule",
    "compile_decision",
    "compiled_for_run",
]
