"""BLIP's image preprocessing: the PIL backend against the torchvision backend of transformers.

    uv run --with torchvision python bench/image_backend.py    # torchvision is not a dependency

transformers 5 has two backends for ``BlipImageProcessor``: PIL (``BlipImageProcessorPil``) and
torchvision (``BlipImageProcessor``, the default when torchvision is installed; without it
transformers falls back to PIL and prints a warning). This script preprocesses batches of 8
synthetic interferograms (224 px PNGs, as Hephaestus ships them) to BLIP-large's 384 px, bicubic,
CLIP mean/std, with both backends, on the CPU: the median seconds per batch over ``--repeats``
batches, and how far the pixel tensors of the two backends differ (max and mean absolute
difference, in normalised units, and in 8-bit steps of the unnormalised image).
Writes ``image_backend.json`` to ``bench/results/`` (``--out``).
"""

from __future__ import annotations

import argparse
import io
import platform
import statistics
import time
from importlib import metadata
from pathlib import Path

import torch
from bench_cli import RESULTS_DIR, write_json_report
from PIL import Image

from helpers.data.synthetic.dataset import generate_samples, png_bytes
from helpers.model.blip_stand_in import BLIP_IMAGE_MEAN, BLIP_IMAGE_STD

BATCH = 8
SIZE = 384
PACKAGES = ("transformers", "torch", "torchvision", "pillow")


def images(count: int, source_size: int, seed: int = 0) -> list[Image.Image]:
    """``count`` synthetic interferograms, decoded from PNG as a dataset would read them."""
    samples = generate_samples(count, seed=seed, image_size=source_size)
    return [Image.open(io.BytesIO(png_bytes(s.image))).convert("RGB") for s in samples]


def processors() -> dict[str, object]:
    """Both backends, set up as BLIP-large's preprocessor_config.json says."""
    from transformers.models.blip.image_processing_blip import BlipImageProcessor
    from transformers.models.blip.image_processing_pil_blip import BlipImageProcessorPil

    settings = dict(
        size={"height": SIZE, "width": SIZE},
        resample=3,
        image_mean=list(BLIP_IMAGE_MEAN),
        image_std=list(BLIP_IMAGE_STD),
    )
    return {"pil": BlipImageProcessorPil(**settings), "torchvision": BlipImageProcessor(**settings)}


def seconds_per_batch(processor, batches: list[list[Image.Image]]) -> float:
    """Median seconds to turn one batch into ``pixel_values`` (one untimed warm-up first)."""
    processor(images=batches[0], return_tensors="pt")
    times = []
    for batch in batches:
        start = time.perf_counter()
        processor(images=batch, return_tensors="pt")
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def pixel_difference(pil: torch.Tensor, tv: torch.Tensor) -> dict[str, float]:
    """How far the two backends' tensors are apart, normalised and in 8-bit steps."""
    diff = (pil - tv).abs()
    std = torch.tensor(BLIP_IMAGE_STD).view(1, 3, 1, 1)
    steps = diff * std * 255  # back to the 0-255 scale of the resized image
    return {
        "max_abs": round(float(diff.max()), 5),
        "mean_abs": round(float(diff.mean()), 6),
        "max_8bit_steps": round(float(steps.max()), 2),
        "mean_8bit_steps": round(float(steps.mean()), 4),
        "share_of_values_off_by_more_than_1_step": round(float((steps > 1.0).float().mean()), 5),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20, help="timed batches per backend")
    parser.add_argument("--source-size", type=int, default=224, help="px of the source PNGs")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--out", type=Path, default=RESULTS_DIR)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    pool = images(BATCH * args.repeats, args.source_size)
    batches = [pool[i : i + BATCH] for i in range(0, len(pool), BATCH)]
    backends = processors()
    timing = {name: seconds_per_batch(p, batches) for name, p in backends.items()}
    pixels = {
        name: p(images=pool, return_tensors="pt")["pixel_values"] for name, p in backends.items()
    }
    report = {
        "what": f"BLIP image preprocessing, batch of {BATCH}, "
        f"{args.source_size} px PNG -> {SIZE} px",
        "versions": {name: metadata.version(name) for name in PACKAGES},
        "cpu": platform.processor() or platform.machine(),
        "torch_threads": args.threads,
        "timed_batches": len(batches),
        "seconds_per_batch": {name: round(value, 4) for name, value in timing.items()},
        "torchvision_speedup": round(timing["pil"] / timing["torchvision"], 2),
        "shape": list(pixels["pil"].shape),
        "pixels_identical": bool(torch.equal(pixels["pil"], pixels["torchvision"])),
        "pixel_difference": pixel_difference(pixels["pil"], pixels["torchvision"]),
        "note": "synthetic interferograms: a preprocessing measurement, not a Hephaestus result",
    }
    print(report)
    write_json_report(args.out, "image_backend", report)


if __name__ == "__main__":
    main()
