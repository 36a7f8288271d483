"""Benchmark: helpers.training.memory's estimate beside the measured peak of real training steps.

    uv run python bench/memory_estimate.py                 # BLIP-large, 384 px, 128 tokens
    uv run python bench/memory_estimate.py --quick         # random:tiny: seconds, checks the script
    uv run python bench/memory_estimate.py --table-only    # the estimate grid alone, no training

Part 1, measured: for each row (levers as in ``train_step.py``) and batch size, a freshly built
model (random weights) trains two identical AdamW steps in its own forked process (the second
step's backward pass holds weights, gradients, AdamW state and activations at once). Measured =
the row's peak memory minus what the process held before the model was built (on the CPU: the
highest resident memory sampled every 5 ms, minus the resident memory at the start of the row,
i.e. Python, torch and transformers; on GPUs: the device's peak allocated memory). Estimated =
``estimate_training_memory`` for the same model and settings, analytic on every device, so the
estimate's error is visible.

Part 2, estimated only: the grid docs/PERFORMANCE.md tabulates (full / frozen vision / LoRA x
fp32 / bf16 x eager / SDPA attention x checkpointing off / on x batch 1-8), and which cards of 8,
12, 16 and 24 GB each row fits (with 10% of the card kept free for the device's context and other
programs; the estimate itself includes the allocator's overhead).
"""

from __future__ import annotations

import argparse
import platform
import threading
import time
from dataclasses import replace
from itertools import product

import psutil
import torch
from bench_cli import add_quick_mode, fill_defaults, write_json_report
from fresh_process import in_fresh_process
from train_step import build_row_model, make_batch

from helpers.device import peak_memory_mb
from helpers.messages import show_messages
from helpers.model.loading import vision_encoder
from helpers.training.loop import parameter_groups
from helpers.training.memory import (
    FP32,
    GIB,
    blip_activation_bytes,
    current_plan,
    estimate_training_memory,
    parameter_bytes,
    plan_estimate,
)
from helpers.training.memory_advice import lora_parameter_count

MEASURED_ROWS = {"baseline": (), "frozen": ("frozen",), "lora": ("lora",), "ckpt": ("ckpt",)}
CARDS_GB = (8, 12, 16, 24)
USABLE_SHARE = 0.9  # of a card's memory, the rest for the device context and other programs
DEFAULTS = {"model": "random:blip-large", "image_size": 384, "caption_tokens": 128}
QUICK = {"model": "random:tiny", "image_size": 32, "caption_tokens": 16}
MIB = 1024**2


def _with(args: argparse.Namespace, **changes) -> argparse.Namespace:
    return argparse.Namespace(**{**vars(args), **changes})


class PeakResidentMemory:
    """Samples this process's resident memory every ``interval`` seconds in a thread; ``peak_mb``
    is the highest reading (portable, unlike the kernel's high-water mark after a fork)."""

    def __init__(self, interval: float = 0.005) -> None:
        self.interval, self.peak_mb = interval, 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        process = psutil.Process()
        while not self._stop.is_set():
            self.peak_mb = max(self.peak_mb, process.memory_info().rss / MIB)
            time.sleep(self.interval)

    def __enter__(self) -> PeakResidentMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def measure_row(args: argparse.Namespace, levers: tuple[str, ...]) -> dict:
    """Two training steps of a fresh model with ``levers``; measured and estimated MiB."""
    before_mb = psutil.Process().memory_info().rss / MIB  # Python, torch, transformers
    with PeakResidentMemory() as resident:
        cfg, device, model = build_row_model(args, levers)
        estimate = estimate_training_memory(model, cfg, device.device, device.precision)
        batch = make_batch(args, device)
        optimizer = torch.optim.AdamW(
            parameter_groups(model, cfg.weight_decay), lr=cfg.learning_rate
        )
        for _ in range(2):
            with torch.autocast(device.device, dtype=torch.bfloat16, enabled="bf16" in levers):
                loss = model(**batch).loss
            loss.backward()
            optimizer.step()
            optimizer.zero_grad()
    if device.device == "cpu":
        measured = resident.peak_mb - before_mb
    else:  # the device's own peak counter; nothing of the process is on it before the model
        measured, before_mb = peak_memory_mb(device.device), 0.0
    return {
        "batch_size": args.batch_size,
        "measured_mb": round(measured, 1),
        "estimated_mb": round(estimate.total / MIB, 1),
        "estimated_fixed_mb": round(estimate.fixed / MIB, 1),
        "estimated_activations_mb": round(estimate.activations / MIB, 1),
        "measured_activations_mb": round(measured - estimate.fixed / MIB, 1),
        "error": round(estimate.total / MIB / measured - 1, 4),
        "process_before_model_mb": round(before_mb, 1),
        "device": device.summary(),
    }


def estimate_grid(args: argparse.Namespace) -> list[dict]:
    """Estimated totals for every combination, from one model (no training)."""
    cfg, _, model = build_row_model(_with(args, device="cpu", batch_size=1), ())
    weights, _, _ = parameter_bytes(model)
    full = current_plan(model, cfg, "fp32")
    vision = sum(p.numel() for p in vision_encoder(model).parameters())
    trainable = {
        "full": (full.trainable_parameters, True),
        "frozen vision": (full.trainable_parameters - vision, False),
        "LoRA": (lora_parameter_count(model, cfg), False),
    }
    rows = []
    for name, (params, vision_trains) in trainable.items():
        for precision, sdpa, ckpt in product(("fp32", "bf16"), (False, True), (False, True)):
            plan = replace(
                full,
                precision=precision,
                sdpa=sdpa,
                gradient_checkpointing=ckpt,
                vision_trains=vision_trains,
                trainable_parameters=params,
                lora=name == "LoRA",
            )
            row = {
                "training": name,
                "precision": precision,
                "attention": "sdpa" if sdpa else "eager",
                "checkpointing": ckpt,
            }
            for batch in (1, 2, 4, 8):
                at_batch = replace(plan, batch_size=batch)
                per_sample = blip_activation_bytes(model.config, at_batch)
                estimate = plan_estimate(
                    model, at_batch, weights, FP32 * params, per_sample, "analytic"
                )
                row[f"batch_{batch}_gib"] = round(estimate.total / GIB, 2)
                row[f"batch_{batch}_fits_gb"] = [
                    gb for gb in CARDS_GB if estimate.total <= USABLE_SHARE * gb * 1e9
                ]
            rows.append(row)
    return rows


def grid_markdown(rows: list[dict]) -> str:
    lines = [
        "| training | precision | attention | checkpointing | batch 1 | batch 2 | batch 4 | "
        "batch 8 | smallest card at batch 8 |",
        "| --- | --- | --- | --- | ---: | ---: | ---: | ---: | --- |",
    ]
    for row in rows:
        cards = row["batch_8_fits_gb"]
        lines.append(
            f"| {row['training']} | {row['precision']} | {row['attention']} | "
            f"{'on' if row['checkpointing'] else 'off'}"
            + "".join(f" | {row[f'batch_{b}_gib']:.1f} GiB" for b in (1, 2, 4, 8))
            + f" | {f'{cards[0]} GB' if cards else 'none of 8-24 GB'} |"
        )
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model")
    parser.add_argument("--image-size", type=int)
    parser.add_argument("--caption-tokens", type=int)
    parser.add_argument("--batch-sizes", default="1,2")
    parser.add_argument("--rows", default=",".join(MEASURED_ROWS))
    parser.add_argument("--table-only", action="store_true", help="the estimate grid alone")
    add_quick_mode(parser, "random:tiny, 32 px, 16 tokens")
    return fill_defaults(parser.parse_args(argv), DEFAULTS, QUICK)


def main(argv: list[str] | None = None) -> dict:
    show_messages()  # what helpers reports, as in the notebooks
    args = parse_args(argv)
    measured = {}
    for name in [] if args.table_only else args.rows.split(","):
        for batch in map(int, args.batch_sizes.split(",")):
            row_args = _with(args, batch_size=batch)
            key = f"{name} @ batch {batch}"
            print(f"row {key} ...", flush=True)
            measured[key] = in_fresh_process(measure_row, row_args, MEASURED_ROWS[name])
            print(measured[key], flush=True)
    grid = in_fresh_process(estimate_grid, args)
    print(grid_markdown(grid))
    report = {
        "benchmark": "memory_estimate",
        "model": args.model,
        "image_size": args.image_size,
        "caption_tokens": args.caption_tokens,
        "note": "random-init weights and synthetic images: a memory measurement only",
        "machine": f"{platform.machine()}, {platform.processor() or 'cpu'}",
        "torch": torch.__version__,
        "measured": measured,
        "grid": grid,
        "grid_usable_share_of_card": USABLE_SHARE,
    }
    stem = f"memory_estimate_{args.model.replace(':', '-')}_{args.image_size}px"
    write_json_report(args.out, stem, report)
    return report


if __name__ == "__main__":
    main()
