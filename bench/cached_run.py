"""Benchmark: a whole LoRA training run with and without cached image features, side by side.

    uv run python bench/cached_run.py                   # BLIP-large architecture, 384 px
    uv run python bench/cached_run.py --quick           # random:tiny, 32 px: seconds

Both runs go through ``helpers.training.loop.train`` (validation before training and after every
epoch, checkpoints, exports) with the same LoRA model (random weights, same seed), the same
synthetic images and the same settings; the only difference is ``cache_image_features``. Each
run has its own forked process (fair peak memory) and scratch run folder. Reported: each
epoch's training seconds (``history.csv``), the whole call's wall time, peak memory, and whether
the two runs' losses are identical. Speed does not depend on the weights; compare the ratios
within one run. Prints a table and writes JSON next to this script in ``results/``.
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path

import torch
from bench_cli import add_quick_mode, fill_defaults, write_json_report
from fresh_process import in_fresh_process
from PIL import Image

from helpers.config import CaptionConfig
from helpers.data.batching import CaptionCollator
from helpers.data.synthetic import generate_samples
from helpers.device import peak_memory_mb
from helpers.messages import show_messages
from helpers.model.loading import decoder_start_token_id, load_captioner
from helpers.model.lora import apply_lora
from helpers.training.loop import train

DEFAULTS = {"model": "random:blip-large", "image_size": 384, "train_images": 16, "epochs": 3}
QUICK = {"model": "random:tiny", "image_size": 32, "train_images": 8, "epochs": 2}


def synthetic_items(count: int, seed: int, image_size: int) -> list[dict]:
    """``{"image", "caption"}`` items, as ``CaptionCollator`` takes them."""
    return [
        {"image": Image.fromarray(sample.image), "caption": sample.annotation["caption"]}
        for sample in generate_samples(count, seed=seed, image_size=image_size)
    ]


def train_run(args: argparse.Namespace, cached: bool) -> dict:
    """One LoRA training run through ``helpers.training.loop.train``; its timings and losses."""
    with tempfile.TemporaryDirectory() as scratch:
        cfg = CaptionConfig(
            model_name=args.model,
            image_size=args.image_size,
            epochs=args.epochs,
            batch_size=args.batch_size,
            eval_batch_size=args.batch_size,
            early_stopping_patience=0,
            device=args.device,
            cache_image_features=cached,
            run_dir=Path(scratch) / "run",
        )
        captioner = load_captioner(cfg)
        model = apply_lora(captioner.model, cfg)
        collate = CaptionCollator(
            captioner.processor, cfg.max_caption_tokens, decoder_start_token_id(model)
        )
        train_set = synthetic_items(args.train_images, 0, args.image_size)
        val_set = synthetic_items(args.val_images, 1, args.image_size)
        start = time.perf_counter()
        result = train(cfg, model, captioner.processor, train_set, val_set, collate)
        wall_s = time.perf_counter() - start
        summary = json.loads((result.run_dir / "summary.json").read_text())
    return {
        "epoch_train_s": [row["seconds"] for row in result.history],
        "train_losses": [row["train_loss"] for row in result.history],
        "val_losses": [row["val_loss"] for row in result.history],
        "initial_val_loss": summary["initial_val_loss"],
        "run_wall_s": wall_s,
        "peak_memory_mb": peak_memory_mb(summary["device"]),
        "device": summary["device"],
        "precision": summary["precision"],
    }


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", help=f"default {DEFAULTS['model']} ({QUICK['model']} quick)")
    parser.add_argument("--image-size", type=int)
    parser.add_argument("--train-images", type=int)
    parser.add_argument("--val-images", type=int, default=4)
    parser.add_argument("--epochs", type=int)
    parser.add_argument("--batch-size", type=int, default=4)
    add_quick_mode(parser, "random:tiny, 32 px, 2 epochs")
    return fill_defaults(parser.parse_args(argv), DEFAULTS, QUICK)


def main(argv: list[str] | None = None) -> dict:
    """Run both trainings (each in its own process, the parent runs no torch ops) and report."""
    show_messages()  # what helpers reports, as in the notebooks
    args = parse_args(argv)
    runs = {}
    for name, cached in (("uncached", False), ("cached", True)):
        print(f"run {name} ...", flush=True)
        runs[name] = in_fresh_process(train_run, args, cached)
        print(json.dumps(runs[name]), flush=True)
    plain, cached = runs["uncached"], runs["cached"]
    report = {
        "benchmark": "cached_run",
        "model": args.model,
        "note": "random-init weights and synthetic images: a speed and memory measurement only",
        "machine": f"{platform.machine()}, {platform.processor() or 'cpu'}",
        "torch": torch.__version__,
        "image_size": args.image_size,
        "train_images": args.train_images,
        "val_images": args.val_images,
        "batch_size": args.batch_size,
        "epochs": args.epochs,
        "runs": runs,
    }
    if "error" not in plain and "error" not in cached:
        report["same_losses"] = all(
            plain[key] == cached[key] for key in ("train_losses", "val_losses", "initial_val_loss")
        )
        report["train_speedup"] = sum(plain["epoch_train_s"]) / sum(cached["epoch_train_s"])
        report["run_speedup"] = plain["run_wall_s"] / cached["run_wall_s"]
        epochs = " | ".join(f"epoch {i + 1} s" for i in range(args.epochs))
        lines = [f"| run | {epochs} | whole train() call s | peak MiB |"]
        lines.append("| --- |" + " ---: |" * (args.epochs + 2))
        for name, run in runs.items():
            seconds = " | ".join(f"{s:.1f}" for s in run["epoch_train_s"])
            lines.append(
                f"| {name} | {seconds} | {run['run_wall_s']:.1f} | {run['peak_memory_mb']:,.0f} |"
            )
        print("\n".join(lines))
        print(
            f"training epochs {report['train_speedup']:.2f}x, whole run "
            f"{report['run_speedup']:.2f}x faster with the cache; identical losses: "
            f"{report['same_losses']}"
        )
    stem = f"cached_run_{args.model.replace(':', '-')}_{args.image_size}px"
    write_json_report(args.out, stem, report)
    return report


if __name__ == "__main__":
    main()
