"""Shared by the benchmarks: captioning images/s one at a time vs batched, in one run."""

from __future__ import annotations

import time
from typing import Any

import torch
from PIL import Image

from helpers.config import CaptionConfig
from helpers.device import DeviceChoice
from helpers.inference import caption_images


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
        best, captions = float("inf"), []
        for _ in range(repeats):
            start = time.perf_counter()
            captions = caption_images(
                model, processor, images, cfg, device, batch_size=size, progress=False
            )
            best = min(best, time.perf_counter() - start)
        return len(images) / best, captions

    caption_images(model, processor, images[:1], cfg, device, batch_size=1, progress=False)
    single, single_captions = best_rate(1)
    batched, batched_captions = best_rate(batch_size)
    return {
        "one_at_a_time_images_per_s": single,
        "batched_images_per_s": batched,
        "speedup": batched / single,
        "same_captions": single_captions == batched_captions,
    }
