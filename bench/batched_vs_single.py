"""Shared by the benchmarks: captioning images/s one at a time vs batched, in one run."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

import torch
from PIL import Image

from helpers.config import CaptionConfig
from helpers.device import DeviceChoice
from helpers.eval.inference import caption_images

T = TypeVar("T")


def best_images_per_s(run: Callable[[], T], images: int, repeats: int) -> tuple[float, T]:
    """Best-of-``repeats`` images/s of ``run()`` (which handles ``images`` images), and what the
    last call returned."""
    best, result = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        result = run()
        best = min(best, time.perf_counter() - start)
    return images / best, result


def images_per_s_at(
    model: torch.nn.Module,
    processor: Any,
    images: list[Image.Image],
    cfg: CaptionConfig,
    device: DeviceChoice,
    batch_size: int,
    repeats: int = 1,
) -> tuple[float, list[str]]:
    """Best-of-``repeats`` images/s of ``caption_images`` on ``images`` at ``batch_size``, and
    the captions."""
    return best_images_per_s(
        lambda: caption_images(
            model, processor, images, cfg, device, batch_size=batch_size, progress=False
        ),
        len(images),
        repeats,
    )


def batched_vs_single(
    model: torch.nn.Module,
    processor: Any,
    images: list[Image.Image],
    cfg: CaptionConfig,
    device: DeviceChoice,
    batch_size: int,
    repeats: int = 1,
) -> dict[str, Any]:
    """Best-of-``repeats`` images/s of both modes on the same images, after one warm-up call,
    their ratio, and whether both gave the same captions."""
    inputs = (model, processor)
    images_per_s_at(*inputs, images[:1], cfg, device, 1)
    single, single_captions = images_per_s_at(*inputs, images, cfg, device, 1, repeats)
    batched, batched_captions = images_per_s_at(*inputs, images, cfg, device, batch_size, repeats)
    return {
        "one_at_a_time_images_per_s": single,
        "batched_images_per_s": batched,
        "speedup": batched / single,
        "same_captions": single_captions == batched_captions,
    }
