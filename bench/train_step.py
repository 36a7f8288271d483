"""Benchmark: one BLIP training step with each speed/memory lever, side by side in one run.

    uv run python bench/train_step.py                       # BLIP-large architecture, 384 px
    uv run python bench/train_step.py --model random:florence-base --image-size 768  # Florence-2
    uv run python bench/train_step.py --image-size 224 --batch-size 1 --steps 2
    uv run python bench/train_step.py --quick               # random:tiny, 32 px: seconds
    uv run python bench/train_step.py --caption-tokens 64,128 --rows baseline,lora  # lengths
    uv run python bench/train_step.py --profile demo --model random:small --image-size 128 \
        --batch-size 8 --rows old-defaults,defaults,old-defaults,defaults  # the product's step


Rows: the baseline (the seeds' recipe: fp32, eager attention, full fine-tune with AdamW) and the
levers alone and combined: SDPA attention (helpers.model.attention), bf16 autocast, gradient
checkpointing, a frozen vision encoder, LoRA, and reusing the frozen encoder's image features
(helpers.model.feature_cache; the untimed warm-up step fills the cache, so "cache" rows time the
steps of epochs 2 and later, and report the filling step as ``first_step_s``). Every row trains a
freshly built model (random weights, same seed) on the same synthetic batch for the same number
of steps, so rows that differ only by exact levers (sdpa, ckpt, cache) must end at the same loss
(checked against the row without them, e.g. lora+cache against lora). Each row
runs in its own forked process, so peak memory (device memory on GPUs, the process's peak
resident memory on the CPU) does not leak between rows. Two captioning rows compare
``caption_images`` batched vs one at a time. Speed does not depend on the weights, so random
weights are fine for timing; compare ratios within a run, not absolute figures across runs.
With several ``--caption-tokens`` (captions padded to each length), every row runs at each
length, lengths alternating row by row, and each row is compared with itself at the shortest
length ("x time", "x memory" vs the first length). ``--caption-images 0`` skips captioning.
Rows named after a recipe of ``product_step.RECIPES`` (``defaults``, ``old-defaults``,
``defaults+compile``, ``defaults+fused``, ``defaults+foreach``) time what a user's run does
instead: ``--profile``'s config and collator, the product's own training step
(``product_step.product_row``); each is compared with the ``old-defaults`` row ("x old
defaults": the median over its runs when a row is named more than once, rows alternating).
Prints a table and writes JSON and a markdown table to ``results/`` next to this script.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import statistics
import sys
import time
from contextlib import nullcontext
from dataclasses import dataclass

import torch
from batched_vs_single import batched_vs_single
from bench_cli import add_quick_mode, fill_defaults, write_json_report
from fresh_process import in_fresh_process
from PIL import Image
from product_rows import product_table, run_product_rows
from product_step import RECIPES

from helpers.config import CaptionConfig
from helpers.data.batching import TaskPromptCollator
from helpers.data.synthetic import generate_samples
from helpers.device import (
    DeviceChoice,
    choose_device,
    cpu_supports_bf16,
    peak_memory_mb,
    synchronize,
)
from helpers.messages import show_messages
from helpers.model.feature_cache import cache_image_features
from helpers.model.florence import DEFAULT_TASK, prompt_ids
from helpers.model.florence_stand_in import FLORENCE_STAND_INS, build_offline_florence_processor
from helpers.model.loading import (
    build_offline_processor,
    count_parameters,
    enable_gradient_checkpointing,
    freeze_vision_encoder,
    load_captioner,
    vision_encoder,
)
from helpers.model.lora import apply_lora
from helpers.training.optimizer import parameter_groups

# row name -> levers; "sdpa", "bf16", "ckpt" (gradient checkpointing), "frozen", "lora",
# "cache" (reuse the frozen encoder's image features)
ROWS: dict[str, tuple[str, ...]] = {
    "baseline": (),
    "sdpa": ("sdpa",),
    "bf16": ("bf16",),
    "ckpt": ("ckpt",),
    "frozen": ("frozen",),
    "lora": ("lora",),
    "sdpa+bf16": ("sdpa", "bf16"),
    "frozen+sdpa+bf16": ("frozen", "sdpa", "bf16"),
    "lora+bf16+ckpt+sdpa": ("lora", "bf16", "ckpt", "sdpa"),
    "frozen+cache": ("frozen", "cache"),
    "lora+cache": ("lora", "cache"),
}
# levers that change neither the numbers (beyond rounding) nor what trains: a row with them
# must end at the loss of the row without them
EXACT_LEVERS = {"sdpa", "ckpt", "cache"}
LOSS_RTOL = 1e-3
DEFAULTS = {"model": "random:blip-large", "image_size": 384, "batch_size": 2, "steps": 3}
QUICK = {"model": "random:tiny", "image_size": 32, "batch_size": 2, "steps": 2}


def make_batch(args: argparse.Namespace, device: DeviceChoice) -> dict[str, torch.Tensor]:
    """The same synthetic batch in every row: images and captions padded to ``caption_tokens``
    (Florence-2: its task prompt for the encoder, the caption labels padded with -100)."""
    samples = list(generate_samples(args.batch_size, seed=0, image_size=args.image_size))
    if args.model in FLORENCE_STAND_INS:
        return florence_batch(args, samples, device)
    encoded = build_offline_processor(args.image_size)(
        images=[Image.fromarray(sample.image) for sample in samples],
        text=[sample.annotation["caption"] for sample in samples],
        padding="max_length",
        max_length=args.caption_tokens,
        truncation=True,
        return_tensors="pt",
    )
    labels = encoded["input_ids"].masked_fill(encoded["attention_mask"] == 0, -100)
    return {k: v.to(device.torch_device) for k, v in {**encoded, "labels": labels}.items()}


def florence_batch(args: argparse.Namespace, samples: list, device: DeviceChoice) -> dict:
    processor = build_offline_florence_processor(args.image_size)
    collate = TaskPromptCollator(
        processor, args.caption_tokens, prompt_ids(processor, DEFAULT_TASK)
    )
    items = [
        {"image": Image.fromarray(s.image), "caption": s.annotation["caption"]} for s in samples
    ]
    batch = collate(items)
    labels = batch["labels"]
    pad = torch.full((len(items), args.caption_tokens - labels.shape[1]), -100)
    batch["labels"] = torch.cat([labels, pad], dim=1)
    return {k: v.to(device.torch_device) for k, v in batch.items()}


def build_row_model(
    args: argparse.Namespace, levers: tuple[str, ...]
) -> tuple[CaptionConfig, DeviceChoice, torch.nn.Module]:
    """The row's config, device and freshly built model with ``levers`` applied, on the device."""
    cfg = CaptionConfig(
        model_name=args.model,
        image_size=args.image_size,
        attn_implementation="sdpa" if "sdpa" in levers else "eager",
        batch_size=args.batch_size,
        max_caption_tokens=args.caption_tokens,
        gradient_checkpointing="ckpt" in levers,
    )
    device = choose_device(args.device, "bf16" if "bf16" in levers else "fp32")
    model = load_captioner(cfg).model
    if "frozen" in levers:
        freeze_vision_encoder(model)
    if "lora" in levers:
        model = apply_lora(model, cfg)
    if "ckpt" in levers:
        enable_gradient_checkpointing(model)
    model.to(device.torch_device).train()
    return cfg, device, model


@dataclass
class TimedSteps:
    """Seconds and losses of each training step (warm-up steps first), and, in "cache" rows,
    how often the encoder ran on an image and how often its features were reused."""

    seconds: list[float]
    losses: list[float]
    cache_counts: dict[str, int]

    def median_step_s(self, warmup: int) -> float:
        return statistics.median(self.seconds[warmup:])


def time_training_steps(
    model: torch.nn.Module,
    batch: dict[str, torch.Tensor],
    cfg: CaptionConfig,
    device: DeviceChoice,
    levers: tuple[str, ...],
    steps: int,
    *,
    cached_encoder: torch.nn.Module | None = None,
) -> TimedSteps:
    """``steps`` identical AdamW steps of ``model`` on ``batch`` with ``levers``, each timed to
    the device's end of work. ``cached_encoder``: the model whose encoder a "cache" row memoises
    (``model`` itself unless ``model`` is a compiled wrapper)."""
    optimizer = torch.optim.AdamW(parameter_groups(model, cfg.weight_decay), lr=cfg.learning_rate)
    trainable = [p for p in model.parameters() if p.requires_grad]
    torch.manual_seed(cfg.seed)  # LoRA dropout draws the same masks in every LoRA row
    seconds, losses = [], []
    caching = cache_image_features(cached_encoder or model) if "cache" in levers else None
    with caching or nullcontext() as cache:
        for _ in range(steps):
            start = time.perf_counter()
            with torch.autocast(device.device, dtype=torch.bfloat16, enabled="bf16" in levers):
                loss = model(**batch).loss
            loss.backward()
            torch.nn.utils.clip_grad_norm_(trainable, cfg.max_grad_norm)
            optimizer.step()
            optimizer.zero_grad()
            losses.append(loss.item())
            synchronize(device.device)
            seconds.append(time.perf_counter() - start)
    counts = (
        {}
        if cache is None
        else {"images_encoded": cache.images_encoded, "images_reused": cache.images_reused}
    )
    return TimedSteps(seconds, losses, counts)


def train_row(args: argparse.Namespace, levers: tuple[str, ...]) -> dict:
    """Build the model with ``levers``, train ``warmup + steps`` identical steps, measure."""
    cfg, device, model = build_row_model(args, levers)
    batch = make_batch(args, device)
    encoder_seconds = time_forward_calls(vision_encoder(model))
    timed = time_training_steps(model, batch, cfg, device, levers, args.warmup + args.steps)
    step_s = timed.median_step_s(args.warmup)
    return {
        "samples_per_s": args.batch_size / step_s,
        "step_s": step_s,
        "first_step_s": timed.seconds[0],
        "encoder_forward_s": statistics.median(encoder_seconds[args.warmup :]),
        "peak_memory_mb": peak_memory_mb(device.device),
        "final_loss": timed.losses[-1],
        "trainable_parameters": count_parameters(model)[0],
        "device": device.summary(),
        "torch_threads": torch.get_num_threads(),
        **timed.cache_counts,
    }


def time_forward_calls(module: torch.nn.Module) -> list[float]:
    """A list that receives the seconds of each later call of ``module`` (its forward pass,
    or a cache lookup when the features are cached)."""
    seconds: list[float] = []
    module.register_forward_pre_hook(lambda *_: seconds.append(-time.perf_counter()))

    def stop(*_) -> None:
        seconds[-1] += time.perf_counter()

    module.register_forward_hook(stop)
    return seconds


def caption_row(args: argparse.Namespace) -> dict:
    """images/s of ``caption_images`` one at a time vs batched (fp32, eager, cfg decoding)."""
    cfg = CaptionConfig(model_name=args.model, image_size=args.image_size)
    device = choose_device(args.device, "fp32")
    captioner = load_captioner(cfg)
    images = [
        Image.fromarray(sample.image)
        for sample in generate_samples(args.caption_images, seed=1, image_size=args.image_size)
    ]

    rates = batched_vs_single(
        captioner.model, captioner.processor, images, cfg, device, args.caption_batch
    )
    return {**rates, "decoding": {"num_beams": cfg.num_beams, "max_new_tokens": cfg.max_new_tokens}}


def reference_row(name: str) -> str | None:
    """The row with ``name``'s levers minus the exact ones (None if there is no such row)."""
    inexact = set(ROWS[name]) - EXACT_LEVERS
    return next((row for row, levers in ROWS.items() if set(levers) == inexact), None)


def row_key(name: str, tokens: int, lengths: list[int]) -> str:
    """A row's key in the report: its name, plus ``@<tokens>`` when several lengths ran."""
    return name if len(lengths) == 1 else f"{name}@{tokens}"


def compare(rows: dict[str, dict], tokens: int, lengths: list[int]) -> None:
    """Add ratios to the baseline and whether each row ends at its reference row's loss, among
    the rows of one caption length (keys as ``row_key`` makes them)."""

    def key(name: str) -> str:
        return row_key(name, tokens, lengths)

    base = rows.get(key("baseline"), {})
    for name in ROWS:
        row = rows.get(key(name))
        if row is None or "error" in row or "error" in base:
            continue
        row["speedup"] = row["samples_per_s"] / base["samples_per_s"]
        row["memory_ratio"] = row["peak_memory_mb"] / base["peak_memory_mb"]
        reference = rows.get(key(reference_row(name) or ""), {})
        if "final_loss" in reference:
            row["same_loss_as"] = reference_row(name)
            row["loss_matches"] = math.isclose(
                row["final_loss"], reference["final_loss"], rel_tol=LOSS_RTOL
            )


def compare_lengths(rows: dict[str, dict], names: list[str], lengths: list[int]) -> None:
    """Each row's step time and peak memory against the same row at the first length."""
    for name in names:
        first = rows[row_key(name, lengths[0], lengths)]
        for tokens in lengths:
            row = rows[row_key(name, tokens, lengths)]
            if "error" not in row and "error" not in first:
                row["step_vs_first_length"] = row["step_s"] / first["step_s"]
                row["memory_vs_first_length"] = row["peak_memory_mb"] / first["peak_memory_mb"]


def markdown_table(rows: dict[str, dict]) -> str:
    by_length = any("step_vs_first_length" in row for row in rows.values())
    extra = " x time vs first length | x memory vs first length |" if by_length else ""
    lines = [
        "| row | samples/s | x baseline | s/step | encoder forward s | peak MiB | % of "
        "baseline | trainable | loss after all steps | same loss as |" + extra,
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |"
        + (" ---: | ---: |" if by_length else ""),
    ]
    for name, row in rows.items():
        if "error" in row:
            lines.append(f"| {name} | {row['error']} |" + " |" * (10 if by_length else 8))
            continue
        match = {True: "yes", False: "NO"}.get(row.get("loss_matches"), "n/a")
        if match != "n/a":
            match = f"{row['same_loss_as']}: {match}"
        lines.append(
            f"| {name} | {row['samples_per_s']:.3f} | {row.get('speedup', math.nan):.2f} | "
            f"{row['step_s']:.2f} | {row['encoder_forward_s']:.2f} | "
            f"{row['peak_memory_mb']:,.0f} | {100 * row.get('memory_ratio', math.nan):.0f}% | "
            f"{row['trainable_parameters']:,} | {row['final_loss']:.5f} | {match} |"
            + (
                f" {row.get('step_vs_first_length', math.nan):.2f} | "
                f"{row.get('memory_vs_first_length', math.nan):.2f} |"
                if by_length
                else ""
            )
        )
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", help=f"default {DEFAULTS['model']} ({QUICK['model']} quick)")
    parser.add_argument("--image-size", type=int)
    parser.add_argument("--batch-size", type=int)
    parser.add_argument("--steps", type=int, help="timed steps per row (median reported)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed steps before them")
    parser.add_argument(
        "--caption-tokens",
        type=lambda text: [int(part) for part in text.split(",")],
        default=[32],
        help="caption length(s) the batch is padded to, e.g. 64,128",
    )
    parser.add_argument("--caption-images", type=int, default=4, help="0: no captioning row")
    parser.add_argument("--caption-batch", type=int, default=4)
    parser.add_argument("--rows", default=",".join(ROWS), help="comma-separated subset of rows")
    parser.add_argument("--profile", default="full", help="the config of the product rows")
    parser.add_argument("--repeats", type=int, default=1, help="runs of each product row")
    parser.add_argument("--compile-backend", help="product rows' torch.compile backend")
    add_quick_mode(parser, "random:tiny, 32 px, 2 steps")
    args = fill_defaults(parser.parse_args(argv), DEFAULTS, QUICK)
    names = args.rows.split(",")
    unknown = set(names) - set(ROWS) - set(RECIPES)
    if unknown or (set(names) & set(ROWS) and "baseline" not in names):
        parser.error(
            f"--rows names lever rows ({', '.join(ROWS)}; with them baseline) or product rows "
            f"({', '.join(RECIPES)})"
        )
    return args


def main(argv: list[str] | None = None) -> dict:
    """Run every row in its own process and write the report. The parent runs no torch ops
    before forking (a forked child must not inherit a started thread pool)."""
    show_messages()  # what helpers reports, as in the notebooks
    args = parse_args(argv)
    lengths, names = args.caption_tokens, args.rows.split(",")
    products = [name for name in dict.fromkeys(names) if name in RECIPES]
    names = [name for name in names if name in ROWS]
    rows = {}
    for name in names:
        for tokens in lengths:  # alternate lengths so that load drift hits both alike
            key = row_key(name, tokens, lengths)
            print(f"row {key} ...", flush=True)
            row_args = argparse.Namespace(**{**vars(args), "caption_tokens": tokens})
            rows[key] = {"caption_tokens": tokens} | in_fresh_process(
                train_row, row_args, ROWS[name]
            )
            print(json.dumps(rows[key]), flush=True)
    for tokens in lengths:
        compare(rows, tokens, lengths)
    if len(lengths) > 1:
        compare_lengths(rows, names, lengths)
    product = run_product_rows(args, products, args.repeats) if products else {}
    captioning = in_fresh_process(caption_row, args) if args.caption_images else {"skipped": 1}
    runs = [run for row in product.values() for run in row["runs"]]
    report = {
        "benchmark": "train_step",
        "command": " ".join(["uv run python bench/train_step.py", *(argv or sys.argv[1:])]),
        "model": args.model,
        "note": "random-init weights and synthetic images: a speed and memory measurement only",
        "device": next(
            (r["device"] for r in [*rows.values(), *runs] if "device" in r), args.device
        ),
        "machine": f"{platform.machine()}, {platform.processor() or 'cpu'}",
        "cpu_has_native_bf16": cpu_supports_bf16(),
        "torch": torch.__version__,
        "image_size": args.image_size,
        "batch_size": args.batch_size,
        "caption_tokens": lengths,
        "warmup_steps": args.warmup,
        "timed_steps": args.steps,
        "peak_memory": "device max_memory_allocated on GPUs; peak RSS of the row's process on CPU",
        "rows": {
            key: {"levers": list(ROWS[key.split("@")[0]]), **row} for key, row in rows.items()
        },
        "product_profile": args.profile if product else None,
        "product_rows": product,
        "captioning": {"images": args.caption_images, "batch_size": args.caption_batch}
        | captioning,
    }
    tables = [markdown_table(rows)] if rows else []
    tables += (
        [f"Product rows (profile {args.profile}):\n\n{product_table(product)}"] if product else []
    )
    table = "\n\n".join(tables)
    print(table)
    if "one_at_a_time_images_per_s" in captioning:
        print(
            f"captioning: one at a time {captioning['one_at_a_time_images_per_s']:.3f} images/s, "
            f"batched ({args.caption_batch}) {captioning['batched_images_per_s']:.3f} images/s: "
            f"{captioning['speedup']:.2f}x; identical captions: {captioning['same_captions']}"
        )
    stem = f"train_step_{args.model.replace(':', '-')}_{args.image_size}px"
    if len(lengths) > 1:
        stem += f"_{'-'.join(map(str, lengths))}tokens"
    if not names:
        stem += "_defaults"
    write_json_report(args.out, stem, report)
    heading = f"{report['note']}\n\n`{report['command']}`\n\n{report['device']}"
    (args.out / f"{stem}.md").write_text(f"{heading}\n\n{table}\n")
    return report


if __name__ == "__main__":
    main()
