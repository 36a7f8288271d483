"""Benchmark: batched vs one-at-a-time captioning, side by side in one run.

    uv run python bench/caption_throughput.py --profile demo --images 64 --batch-size 32
    uv run python bench/caption_throughput.py --profile demo --quick --explain

``--explain`` adds a third row: the batched grounding maps of ``helpers.eval.grounding``
(``explain_captions``: the same captioning plus one teacher-forced pass that returns the
decoder's attention), on the same images in the same run, and its cost against plain batched
captioning. ``--quick`` checks the script in seconds (8 images, batches of 4, one repeat).

Both modes caption the same synthetic images with the same model and decoding settings; the
ratio of their images/s is measured in this one run (machines are noisy: compare ratios, not
absolute figures across runs). Prints a table and writes it as JSON next to this script's
``results/`` folder. The model is the profile's (``random:small`` in ``demo``): speed does not
depend on the weights, so random weights are fine for timing.
"""

from __future__ import annotations

import argparse
import platform

import torch
from batched_vs_single import batched_vs_single, best_images_per_s
from bench_cli import add_quick_mode, fill_defaults, write_json_report
from PIL import Image

from helpers.config import CaptionConfig, load_config
from helpers.data.synthetic import generate_samples
from helpers.device import DeviceChoice, choose_device
from helpers.eval.grounding import explain_captions
from helpers.eval.inference import caption_images
from helpers.messages import show_messages
from helpers.model.loading import Captioner, load_captioner


def main(argv: list[str] | None = None) -> dict:
    show_messages()  # what helpers reports, as in the notebooks
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--profile", default="demo")
    parser.add_argument("--images", type=int)
    parser.add_argument("--batch-size", type=int)
    parser.add_argument("--repeats", type=int)
    parser.add_argument("--explain", action="store_true", help="also time grounding maps")
    add_quick_mode(parser, "8 images, batches of 4, one repeat")
    args = fill_defaults(
        parser.parse_args(argv),
        {"images": 64, "batch_size": 32, "repeats": 2},
        {"images": 8, "batch_size": 4, "repeats": 1},
    )

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
        "repeats": args.repeats,
        "image_size": cfg.image_size,
        "decoding": {"num_beams": cfg.num_beams, "max_new_tokens": cfg.max_new_tokens},
        **rates,
    }
    if args.explain:
        row = explain_row(captioner, images, cfg, device, args.batch_size, args.repeats)
        row["explain_cost"] = report["batched_images_per_s"] / row["explain_images_per_s"]
        report.update(row)
    print(f"{'mode':<24}{'images/s':>10}")
    print(f"{'one at a time':<24}{report['one_at_a_time_images_per_s']:>10.2f}")
    print(f"{'batched':<24}{report['batched_images_per_s']:>10.2f}")
    same = rates["same_captions"]
    print(f"speed-up (same run): {report['speedup']:.2f}x; identical captions: {same}")
    if args.explain:
        print(f"{'batched + grounding maps':<24}{report['explain_images_per_s']:>10.2f}")
        print(
            f"grounding maps cost {report['explain_cost']:.2f}x the time of batched captioning; "
            f"identical captions: {report['explain_same_captions']}"
        )
    stem = f"caption_throughput_{cfg.profile}" + ("_explain" if args.explain else "")
    write_json_report(args.out, stem, report)
    return report


def explain_row(
    captioner: Captioner,
    images: list[Image.Image],
    cfg: CaptionConfig,
    device: DeviceChoice,
    batch_size: int,
    repeats: int,
) -> dict:
    """images/s of batched ``explain_captions`` on the same images (after a warm-up call), and
    whether its captions are plain batched captioning's."""
    inputs = (captioner.model, captioner.processor, images, cfg, device)
    options = {"batch_size": batch_size, "progress": False}
    explain_captions(*inputs, **options)
    rate, explanations = best_images_per_s(
        lambda: explain_captions(*inputs, **options), len(images), repeats
    )
    captions = caption_images(*inputs, **options)
    return {
        "explain_images_per_s": rate,
        "explain_same_captions": [e.caption for e in explanations] == captions,
    }


if __name__ == "__main__":
    main()
