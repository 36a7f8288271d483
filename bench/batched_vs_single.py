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

    def best_rate(size: int) -> tuple[float, list[str]]:
        return best_images_per_s(
            lambda: caption_images(
                model, processor, images, cfg, device, batch_size=size, progress=False
            ),
            len(images),
            repeats,
        )

    caption_images(model, processor, images[:1], cfg, device, batch_size=1, progress=False)
    single, single_captions = best_rate(1)
    batched, batched_captions = best_rate(batch_size)
    return {
        "one_at_a_time_images_per_s": single,
        "batched_images_per_s": batched,
        "speedup": batched / single,
        "same_captions": single_captions == batched_captions,
    }
