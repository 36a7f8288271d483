"""Recognising a device's out-of-memory error, and freeing memory before a retry.

Each device reports running out of memory its own way, so the check is precise, never "any
``RuntimeError``":

- CUDA and Intel GPUs (PyTorch >= 2.5): ``torch.OutOfMemoryError`` (``torch.cuda.OutOfMemoryError``
  is the same class);
- Intel GPUs through an old Intel Extension for PyTorch: ``RuntimeError("XPU out of memory...")``;
- Apple GPUs: ``RuntimeError("MPS backend out of memory ...")``.

Any other error, including other ``RuntimeError``s, is not a memory error and must propagate.
"""

from __future__ import annotations

import gc

import torch

_OOM_MESSAGE_PREFIXES = ("MPS backend out of memory", "XPU out of memory")


def is_out_of_memory(error: BaseException) -> bool:
    """Whether ``error`` is a device running out of memory (see the module docstring)."""
    if isinstance(error, torch.OutOfMemoryError):
        return True
    if type(error) is RuntimeError and error.args and isinstance(error.args[0], str):
        return error.args[0].startswith(_OOM_MESSAGE_PREFIXES)
    return False


def free_device_memory(device: str) -> None:
    """Drop unreachable tensors and return the device's cached blocks, so a retry starts clean."""
    gc.collect()
    module = getattr(torch, device, None)
    if device in ("cuda", "xpu", "mps") and module is not None and hasattr(module, "empty_cache"):
        module.empty_cache()


class BatchTooLargeError(RuntimeError):
    """Even one sample per step does not fit in the device's memory; the message says what to
    change."""


__all__ = ["BatchTooLargeError", "free_device_memory", "is_out_of_memory"]
