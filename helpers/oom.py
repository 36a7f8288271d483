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
import logging
from collections.abc import Callable, Sequence
from typing import TypeVar

import torch
from tqdm.auto import tqdm

from helpers.device import is_available

log = logging.getLogger(__name__)

Item = TypeVar("Item")
Result = TypeVar("Result")

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
    if device in ("cuda", "xpu", "mps") and is_available(device):
        getattr(torch, device).empty_cache()


class BatchTooLargeError(RuntimeError):
    """Even one sample per step does not fit in the device's memory; the message says what to
    change."""


def map_in_halving_batches(
    fn: Callable[[Sequence[Item]], list[Result]],
    items: Sequence[Item],
    batch_size: int,
    device: str,
    *,
    desc: str,
    progress: bool = True,
    unit: str = "it",
) -> list[Result]:
    """``fn`` over ``items``, ``batch_size`` at a time, in order; one result per item.

    When a batch runs out of device memory, the memory is freed, the batch size halved (and
    said so) and the same items tried again; the smaller size is kept for the rest. Results are
    those of the same ``fn`` on the same items, so they do not depend on where it halved. Below
    one item per batch, ``BatchTooLargeError``; errors that are not out-of-memory propagate.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    results: list[Result] = []
    size = batch_size
    with tqdm(total=len(items), desc=desc, unit=unit, disable=not progress) as bar:
        while len(results) < len(items):
            chunk = items[len(results) : len(results) + size]
            try:
                out = fn(chunk)
            except Exception as error:
                if not is_out_of_memory(error):
                    raise
                if size == 1:
                    raise BatchTooLargeError(
                        f"{desc}: one item at a time does not fit in the {device} device's "
                        "memory. Free memory (other programs, notebooks holding models) or use "
                        "a smaller image_size or model."
                    ) from error
                out = None  # leave the except block first: its traceback holds the tensors
            if out is None:
                free_device_memory(device)
                size //= 2
                log.info(f"{desc}: out of {device} memory; continuing with batches of {size}.")
                continue
            if len(out) != len(chunk):
                raise ValueError(f"{desc}: got {len(out)} results for {len(chunk)} items")
            results.extend(out)
            bar.update(len(chunk))
    return results


__all__ = [
    "BatchTooLargeError",
    "free_device_memory",
    "is_out_of_memory",
    "map_in_halving_batches",
]
