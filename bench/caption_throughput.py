"""Benchmark: batched vs one-at-a-time captioning, side by side in one run.

    uv run python bench/caption_throughput.py --profile demo --images 64 --batch-size 32

Both modes caption the same synthetic images with the same model and decoding settings; the
ratio of their images/s is measured in this one run (machines are noisy: compare ratios, not
absolute figures across runs). Prints a table and writes it as JSON next to this script's
``results/`` folder. The model is the profile's (``random:small`` in ``demo``): speed does not
depend on the weights, so random weights are fine for timing.
"""

from __future__ import annotations

import argparse
import platform
from pathlib import Path

import torch
from batched_vs_single import batched_vs_single
from bench_cli import RESULTS_DIR, write_json_report
from PIL import Image

from helpers.config import load_config
from helpers.device import choose_device
from helpers.modeling import load_captioner
from helpers.synthetic import generate_samples


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--profile", default="demo")
    parser.add_argument("--images", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--out", type=Path, default=RESULTS_DIR, help="folder for the report")
    args = parser.parse_args(argv)

    cfg = load_config(args.profile, device=args.device)
    device = choose_device(cfg.device, cfg.precision)
    captioner = load_captioner(cfg)
    images = [
        Image.fromarray(sample.image)
        for sample in generate_samples(args.images, seed=0, image_size=cfg.image_size)
    ]

    rates = batched_vs_single(
        captioner.model, captioner.processor, images, cfg, device, args.batch_size, args.repeats
    )
    report = {
        "benchmark": "caption_throughput",
        "profile": cfg.profile,
        "model": cfg.model_name,
        "note": "random-init model and synthetic images: a speed measurement only",
        "device": device.summary(),
        "machine": f"{platform.machine()}, {torch.get_num_threads()} torch threads",
        "torch": torch.__version__,
        "images": args.images,
        "batch_size": args.batch_size,
        "image_size": cfg.image_size,
        "decoding": {"num_beams": cfg.num_beams, "max_new_tokens": cfg.max_new_tokens},
        **rates,
    }
    print(f"{'mode':<16}{'images/s':>10}")
    print(f"{'one at a time':<16}{report['one_at_a_time_images_per_s']:>10.2f}")
    print(f"{'batched':<16}{report['batched_images_per_s']:>10.2f}")
    same = rates["same_captions"]
    print(f"speed-up (same run): {report['speedup']:.2f}x; identical captions: {same}")
    write_json_report(args.out, f"caption_throughput_{cfg.profile}", report)
    return report


if __name__ == "__main__":
    main()
