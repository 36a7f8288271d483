"""The GPU table in one command: training-step levers, memory, MFU, captioning and auto batch size.

    uv run python bench/gpu_suite.py                    # BLIP-large, 384 px, 128 tokens, <= 8 min
    uv run python bench/gpu_suite.py --budget-s 900 --peak-tflops bf16=989,fp32=67
    uv run python bench/gpu_suite.py --quick            # CPU, random:tiny, 32 px: checks the script

One unattended run on one CUDA or Intel (XPU) GPU, on the true BLIP-large architecture with random
weights (speed and memory do not depend on them) and synthetic images, writes
``results/gpu_suite_<device>.{json,md}`` next to this script:

- what users run (``product_step``): ``defaults@<profile batch>`` is the ``full`` profile's
  recipe (attribute heads and prompt, its collator's own padding, SDPA, the AdamW kernel
  ``make_optimizer`` picks, the device's precision) timed through ``helpers.training``'s own
  training step; ``defaults+fused@32`` and ``defaults+foreach@32`` the two AdamW kernels at
  batch 32; ``defaults+compile@32`` the same through ``torch.compile`` (compile time in its
  first step, graphs compiled counted);
- training steps (AdamW, captions padded to ``--caption-tokens``): Intel's recipe (fp32, eager,
  batch 4) as the baseline, then bf16; bf16 + SDPA; bf16 + gradient checkpointing; bf16 with a
  frozen image encoder; bf16 + LoRA; bf16 + LoRA + cached image features; each at batch 8 and 16
  (a batch that does not fit reports its out-of-memory error). For each: samples/s and its
  ratio to the baseline of the same run, peak allocated and reserved memory, model FLOPs per
  step (``blip_flops``) and MFU against the device's peak (``peak_tflops``, or ``--peak-tflops``),
  and ``helpers.training.memory``'s estimates beside the measured peak;
- whether a full fine-tune at batch 8 fits 24 / 16 / 12 / 8 GB cards, with and without gradient
  checkpointing, and LoRA, from the measured peaks (reserved memory within 90% of the card);
- captioning: batched ``caption_images`` at batch 16 and 64 against one image at a time,
  ``--new-tokens`` new tokens (a random-weight model never stops early), greedy and 3 beams, in
  the device's precision; and the share of captions that batching leaves identical, in fp32 and
  in bf16 (near-tied logits flip a few captions in bf16; a batching bug shows in fp32 too);
- the auto batch size path (``helpers.training.auto_batch``) forced once under a per-process
  memory cap between the measured peaks of batch 8 and 16: it must halve and finish.

Rows run in order of importance (baseline, defaults, ...), each in its own process; ``--budget-s``
(default 480) bounds the
whole run: a row that would not finish in what is left is skipped and listed, and a running row
is stopped at the deadline. ``--quick`` runs everything on the CPU with tiny sizes in about a
minute (``torch.compile`` with the ``eager`` backend there: it checks the path, not the speed).
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import tempfile
import time
from pathlib import Path

from bench_cli import add_quick_mode, fill_defaults, write_json_report
from fresh_process import TIMEOUT_KEY, in_fresh_process
from memory_estimate import CARDS_GB, USABLE_SHARE
from peak_tflops import model_flops_utilisation, parse_peak_tflops, peak_tflops
from product_step import DISTINCT_BATCHES, RECIPES, product_row, write_synthetic_records
from suite_report import markdown_report
from suite_rows import auto_batch_row, captioning_row, device_info, training_row
from transformers.utils.logging import disable_progress_bar

from helpers.config import load_config
from helpers.messages import show_messages
from helpers.model.loading import build_offline_processor, build_stand_in

BASELINE = "baseline"
# row name -> levers (as in train_step.py); the baseline runs at --baseline-batch only
TRAINING_ROWS: dict[str, tuple[str, ...]] = {
    BASELINE: (),
    "bf16": ("bf16",),
    "bf16+sdpa": ("bf16", "sdpa"),
    "bf16+ckpt": ("bf16", "ckpt"),
    "bf16+frozen": ("bf16", "frozen"),
    "bf16+lora": ("bf16", "lora"),
    "bf16+lora+cache": ("bf16", "lora", "cache"),
}
# "does it fit" answers at batch 8: question -> row
FIT_QUESTIONS = {
    "full fine-tune, no checkpointing": "bf16",
    "full fine-tune, gradient checkpointing": "bf16+ckpt",
    "LoRA": "bf16+lora",
}
FIT_BATCH = 8
PROFILE = "full"
PROFILE_BATCH = load_config(PROFILE).batch_size  # the defaults row's batch
LARGE_BATCH = 32  # the AdamW kernels and torch.compile at a batch that fills a large GPU
DEFAULTS = {
    "model": "random:blip-large",
    "image_size": 384,
    "caption_tokens": 128,
    "new_tokens": 128,
    "steps": 10,
    "warmup": 3,
    "caption_batches": "16,64",
    "single_images": 8,
    "budget_s": 480.0,
    "compile_backend": "inductor",
}
QUICK = {
    "model": "random:tiny",
    "image_size": 32,
    "caption_tokens": 16,
    "new_tokens": 8,
    "steps": 2,
    "warmup": 1,
    "caption_batches": "4,8",
    "single_images": 2,
    "budget_s": 300.0,
    "compile_backend": "eager",
}


class Budget:
    """Runs rows in fresh processes until ``seconds`` have passed since it was made; a row
    whose kind took longer before than what is left is skipped, and listed."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.deadline = time.monotonic() + seconds
        self.longest: dict[str, float] = {}  # kind of row -> its longest run so far, s
        self.skipped: list[dict[str, str]] = []

    def left(self) -> float:
        return self.deadline - time.monotonic()

    def run(self, name: str, kind: str, fn, *fn_args, expected_s: float = 0.0) -> dict | None:
        """``fn(*fn_args)`` in a fresh process, or None (skipped or stopped: listed)."""
        left, needs = self.left(), max(expected_s, self.longest.get(kind, 0.0))
        if left <= 0 or left < needs:
            reason = f"{max(left, 0):.0f} s of the budget left; this row needs about {needs:.0f} s"
            self.skipped.append({"row": name, "reason": reason})
            print(f"skipped {name}: {reason}", flush=True)
            return None
        print(f"{name} ...", flush=True)
        start = time.monotonic()
        result = in_fresh_process(fn, *fn_args, timeout_s=left)
        took = time.monotonic() - start
        if TIMEOUT_KEY in result:
            self.skipped.append(
                {"row": name, "reason": f"stopped at the deadline after {took:.0f} s"}
            )
            return None
        self.longest[kind] = max(self.longest.get(kind, 0.0), took)
        print(json.dumps(result), flush=True)
        return result | {"wall_s": round(took, 2)}


def save_random_weights(args: argparse.Namespace, folder: Path) -> dict:
    """Build the stand-in once and save it with its processor: every row loads it in a second
    instead of drawing BLIP-large's 470 M random weights again (half a minute on a CPU core).
    Also write the synthetic records the product rows batch."""
    build_stand_in(args.model, args.image_size).save_pretrained(folder)
    build_offline_processor(args.image_size).save_pretrained(folder)
    count = DISTINCT_BATCHES * max(PROFILE_BATCH, LARGE_BATCH)
    records = write_synthetic_records(folder / "records", count, args.image_size)
    return {"folder": str(folder), "records": str(records)}


def with_(args: argparse.Namespace, **changes) -> argparse.Namespace:
    return argparse.Namespace(**{**vars(args), **changes})


Plan = list[tuple[str, int]]


def training_plan(args: argparse.Namespace) -> tuple[Plan, Plan]:
    """(row, batch) pairs in order of importance, as (first, later): first the baseline, bf16
    at every size (the auto batch row's cap needs them) and every lever at the first size;
    later (after captioning and the auto batch row) the levers at the other sizes."""
    first_size, *other_sizes = args.batch_sizes
    first = [(BASELINE, args.baseline_batch), *[("bf16", size) for size in args.batch_sizes]]
    first += [(name, first_size) for name in TRAINING_ROWS if name not in (BASELINE, "bf16")]
    later = [(name, size) for size in other_sizes for name in TRAINING_ROWS if name != BASELINE]
    return first, [row for row in later if row not in first]


def captioning_plan(done: dict[str, dict]):
    """(row, beams, precision) of each captioning row, in order: greedy and 3 beams in the
    device's precision, then greedy in whichever of fp32 and bf16 that was not (read from
    ``done`` as the rows finish), so that both report how many captions batching changes."""
    yield "greedy", 1, "auto"
    yield "3 beams", 3, "auto"
    measured = {row["precision"] for key, row in done.items() if key.startswith("greedy")}
    for precision in ("fp32", "bf16"):
        if precision not in measured:
            yield f"greedy, {precision}", 1, precision


def row_key(name: str, batch: int) -> str:
    return f"{name}@{batch}"


def add_ratios(rows: dict[str, dict], baseline_key: str, peaks: dict) -> None:
    """Each measured row's samples/s against the baseline of this run, achieved TFLOP/s and MFU,
    and how far each memory estimate is from the measured peak."""
    base = rows.get(baseline_key, {})
    for row in rows.values():
        if "samples_per_s" not in row:
            continue
        if "samples_per_s" in base:
            row["x_baseline"] = row["samples_per_s"] / base["samples_per_s"]
            row["baseline_row"] = baseline_key
        row["achieved_tflops"], row["mfu"] = model_flops_utilisation(
            row["flops_per_step"], row["step_s"], row["precision"], peaks
        )
        peak = row["peak_reserved_mb"] or row["peak_allocated_mb"]
        for method in ("analytic", "probe"):
            if f"estimate_{method}_mb" in row:
                row[f"estimate_{method}_error"] = row[f"estimate_{method}_mb"] / peak - 1


def fit_answers(rows: dict[str, dict], on_gpu: bool) -> dict[str, dict]:
    """For each question of ``FIT_QUESTIONS``: which cards of ``CARDS_GB`` hold the measured
    peak (reserved on GPUs, resident memory on the CPU) within ``USABLE_SHARE`` of their memory."""
    answers = {}
    for question, name in FIT_QUESTIONS.items():
        key = row_key(name, FIT_BATCH)
        row = rows.get(key)
        if row is None or "samples_per_s" not in row:
            why = "not run" if row is None else row.get("error", "no result")
            answers[question] = {"row": key, "answer": f"unknown: {why}"}
            continue
        peak_mb = row["peak_reserved_mb"] if on_gpu else row["peak_allocated_mb"]
        fits = {f"{gb} GB": peak_mb * 2**20 <= USABLE_SHARE * gb * 1e9 for gb in CARDS_GB}
        answers[question] = {"row": key, "peak_mb": peak_mb, "fits": fits}
    return answers


def auto_batch_cap_mb(rows: dict[str, dict], sizes: list[int]) -> float | None:
    """A memory cap (MiB) under which bf16 at the larger of the first two batch sizes cannot run
    (below its peak *allocated* memory: under a cap the allocator first returns its cached
    blocks, so only what is really allocated counts) and the smaller one can (above its peak
    reserved memory, where the room allows). None without both rows measured."""
    small, large = (rows.get(row_key("bf16", size), {}) for size in sizes[:2])
    if small.get("peak_reserved_mb") is None or "peak_allocated_mb" not in large:
        return None
    floor = small["peak_reserved_mb"]
    if floor >= large["peak_allocated_mb"]:
        floor = small["peak_allocated_mb"]
    return (floor + large["peak_allocated_mb"]) / 2


def device_slug(device: dict, quick: bool) -> str:
    if device["kind"] == "cpu":
        return "cpu-quick" if quick else "cpu"
    return re.sub(r"[^a-z0-9]+", "-", device["name"].lower()).strip("-")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", help=f"default {DEFAULTS['model']}")
    parser.add_argument("--image-size", type=int)
    parser.add_argument("--caption-tokens", type=int, help="training captions padded to this")
    parser.add_argument("--new-tokens", type=int, help="captioning: new tokens per caption")
    parser.add_argument("--steps", type=int, help="timed training steps per row (median)")
    parser.add_argument("--warmup", type=int, help="untimed steps before them")
    parser.add_argument("--baseline-batch", type=int, default=4)
    parser.add_argument("--batch-sizes", default="8,16", help="of every other training row")
    parser.add_argument("--caption-batches", help="batched captioning sizes, default 16,64")
    parser.add_argument("--single-images", type=int, help="images captioned one at a time")
    parser.add_argument("--budget-s", type=float, help="the whole run's time limit, seconds")
    parser.add_argument("--peak-tflops", help='"989" (bf16) or "bf16=989,fp32=67"')
    parser.add_argument("--compile-backend", help="torch.compile backend, default inductor")
    add_quick_mode(parser, "CPU, random:tiny, 32 px, 2 steps: about a minute")
    args = fill_defaults(parser.parse_args(argv), DEFAULTS, QUICK)
    if args.quick and args.device == "auto":
        args.device = "cpu"
    try:
        args.batch_sizes = [int(part) for part in args.batch_sizes.split(",")]
        args.caption_batches = [int(part) for part in args.caption_batches.split(",")]
        if args.peak_tflops:
            parse_peak_tflops(args.peak_tflops)
    except ValueError as error:
        parser.error(str(error))
    if FIT_BATCH not in args.batch_sizes and not args.quick:
        parser.error(f"--batch-sizes must include {FIT_BATCH} (the fit answers read it)")
    return args


def main(argv: list[str] | None = None) -> dict:
    """Run the suite (see the module docstring) and write its report. The parent runs no torch
    ops: every measurement runs in a forked child (``fresh_process``)."""
    show_messages()
    disable_progress_bar()  # transformers' bars while each row loads the saved weights
    args = parse_args(argv)
    started = time.monotonic()
    budget = Budget(args.budget_s)
    device = in_fresh_process(device_info, args)
    if "error" in device:
        raise SystemExit(
            f"bench/gpu_suite.py: cannot use device {args.device!r}: {device['error']}"
        )
    peaks = peak_tflops(device["name"], args.peak_tflops)
    scratch = Path(tempfile.mkdtemp(prefix="gpu_suite_"))
    try:
        saved = budget.run("random weights", "weights", save_random_weights, args, scratch)
        row_args = None
        if saved and "folder" in saved:
            row_args = with_(args, model=saved["folder"], records=saved["records"], profile=PROFILE)
        rows: dict[str, dict] = {}
        captioning: dict[str, dict] = {}
        auto_batch: dict | None = None

        def measure(name: str, batch: int) -> None:
            """A lever row (``TRAINING_ROWS``) or a product row (``RECIPES``) at ``batch``."""
            key = row_key(name, batch)
            if row_args is None:
                why = (saved or {}).get("error", "no time left to save them")
                budget.skipped.append({"row": key, "reason": f"no saved weights: {why}"})
                return
            row = with_(row_args, batch_size=batch)
            if name in RECIPES:
                compiles = RECIPES[name].compile is True
                kind, levers = ("compile" if compiles else "product"), [f"recipe:{name}"]
                expected_s = 2 * budget.longest.get("product", 0.0) if compiles else 0.0
                result = budget.run(key, kind, product_row, row, name, expected_s=expected_s)
            else:
                levers = list(TRAINING_ROWS[name])
                result = budget.run(key, "training", training_row, row, TRAINING_ROWS[name])
            if result is not None:
                rows[key] = {"levers": levers, **result}

        first, later = training_plan(args)
        measure(*first[0])  # the baseline, then what users run
        measure("defaults", PROFILE_BATCH)
        for name, batch in first[1:]:
            measure(name, batch)
        for name in ("defaults+fused", "defaults+foreach"):
            measure(name, LARGE_BATCH)
        for key, beams, precision in captioning_plan(captioning):
            result = budget.run(
                f"captioning, {key}",
                "captioning",
                captioning_row,
                row_args or args,
                beams,
                precision,
            )
            if result is not None:
                captioning[key] = result
        cap_mb = auto_batch_cap_mb(rows, args.batch_sizes)
        if device["kind"] != "cpu" and cap_mb is None:
            budget.skipped.append({"row": "auto batch size", "reason": "needs bf16 at both sizes"})
        elif row_args is not None:
            auto_args = with_(row_args, batch_size=max(args.batch_sizes))
            auto_batch = budget.run("auto batch size", "auto", auto_batch_row, auto_args, cap_mb)
        measure("defaults+compile", LARGE_BATCH)
        compiled = row_key("defaults+compile", LARGE_BATCH)
        if compiled in rows:
            rows[compiled]["compile_backend"] = args.compile_backend
        for name, batch in later:
            measure(name, batch)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    add_ratios(rows, row_key(BASELINE, args.baseline_batch), peaks)
    report = {
        "benchmark": "gpu_suite",
        "note": "random-init weights and synthetic images: a speed and memory measurement only"
        + ("; --quick: a CPU check of the script, not a GPU result" if args.quick else ""),
        "command": "uv run python bench/gpu_suite.py" + (" --quick" if args.quick else ""),
        "device": device,
        "model": args.model,
        "image_size": args.image_size,
        "caption_tokens": args.caption_tokens,
        "warmup_steps": args.warmup,
        "timed_steps": args.steps,
        "peak_tflops": peaks,
        "budget_s": args.budget_s,
        "elapsed_s": round(time.monotonic() - started, 1),
        "training": rows,
        "fits_at_batch_8": fit_answers(rows, device["kind"] != "cpu"),
        "fit_rule": f"measured peak (reserved on GPUs) within {USABLE_SHARE:.0%} of the card's "
        "memory, the rest for the CUDA/XPU context and fragmentation",
        "captioning": captioning,
        "auto_batch": auto_batch,
        "skipped": budget.skipped,
    }
    stem = f"gpu_suite_{device_slug(device, args.quick)}"
    write_json_report(args.out, stem, report)
    table = markdown_report(report)
    (args.out / f"{stem}.md").write_text(table)
    print(table)
    return report


if __name__ == "__main__":
    main()
