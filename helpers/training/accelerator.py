"""The ``accelerate.Accelerator`` of a run, on exactly the device ``helpers.device`` picked.

Accelerate on its own prefers CUDA to an Intel GPU and reads no device setting from the config;
``make_accelerator`` starts it on the chosen device (through ``ACCELERATE_TORCH_DEVICE``, which
Accelerate reads when it first sets up; not a documented setting) and raises when it lands
elsewhere.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

from accelerate import Accelerator

from helpers.config import CaptionConfig
from helpers.device import DeviceChoice, choose_device


def make_accelerator(cfg: CaptionConfig) -> tuple[Accelerator, DeviceChoice]:
    """The Accelerator for ``cfg``'s device and precision, and that choice with its reasons.
    It runs on exactly the device ``helpers.device`` chose, or this raises and says why.

    Processes share one accelerate state, so code that runs before ``train`` (data preparation,
    downloads under ``main_process_first``) may call this too and gets the same setup."""
    choice = choose_device(cfg.device, cfg.precision)
    with _accelerate_device(choice.device):
        accelerator = Accelerator(
            cpu=choice.device == "cpu",
            mixed_precision=choice.mixed_precision,
            # helpers accumulates gradients itself, by micro-batches (helpers.training.auto_batch)
            gradient_accumulation_steps=1,
        )
    if accelerator.device.type != choice.device:
        raise RuntimeError(
            f"Accelerate set this process up on {accelerator.device}, but helpers chose "
            f"{choice.device} ({choice.device_reason}). Under `accelerate launch` with several "
            "processes Accelerate picks the GPU type itself: set CAPTION_DEVICE="
            f"{accelerator.device.type} to train there. In a notebook, an Accelerator made "
            "earlier fixed the device: restart the kernel."
        )
    return accelerator, choice


@contextmanager
def _accelerate_device(device: str) -> Iterator[None]:
    """Make a single-process Accelerator start on ``device``: Accelerate reads the device from
    ``ACCELERATE_TORCH_DEVICE`` when it first sets up (else it prefers CUDA to XPU). Launched
    processes (``LOCAL_RANK`` set) each get their own GPU from Accelerate and are left alone."""
    variable = "ACCELERATE_TORCH_DEVICE"
    if device == "cpu" or "LOCAL_RANK" in os.environ or variable in os.environ:
        yield
        return
    os.environ[variable] = device
    try:
        yield
    finally:
        os.environ.pop(variable, None)


__all__ = ["make_accelerator"]
