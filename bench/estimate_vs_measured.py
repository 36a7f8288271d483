"""Benchmark report: today's memory estimate beside the peaks a GPU suite run measured.

    uv run python bench/estimate_vs_measured.py        # bench/results/gpu_suite_nvidia-h200.json
    uv run python bench/estimate_vs_measured.py --suite bench/results/gpu_suite_<device>.json

For each training row of a ``bench/gpu_suite.py`` report that carries an estimate (not the
``torch.compile`` rows), ``helpers.training.memory``'s analytic estimate for the row's batch,
precision and levers, computed on the CPU from the row's architecture on the meta device (shapes
only: seconds), beside the row's measured peak reserved and allocated memory, and beside the
estimate the suite printed when it ran. Writes ``estimate_vs_measured_<device>.{json,md}`` to
``bench/results/``. tests/test_memory_h200.py asserts every row of the H200 report: never under
the measured peak, at most 15% over.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch
from bench_cli import RESULTS_DIR, write_json_report
from transformers import BlipForConditionalGeneration

from helpers.config import CaptionConfig
from helpers.model.loading import stand_in_config
from helpers.model.lora import apply_lora
from helpers.training.memory import MemoryEstimate, estimate_training_memory

MIB = 2**20
H200_SUITE = RESULTS_DIR / "gpu_suite_nvidia-h200.json"


def estimated_rows(suite: dict) -> dict[str, dict]:
    """The suite's training rows that carry an estimate (``torch.compile`` rows carry none)."""
    return {name: row for name, row in suite["training"].items() if "estimate_analytic_mb" in row}


def row_config(suite: dict, levers: tuple[str, ...], batch_size: int) -> CaptionConfig:
    """The config ``bench/train_step.py``'s ``build_row_model`` builds for a row; a frozen
    encoder by the knob (the estimate counts it as frozen either way: tests/test_memory.py)."""
    return CaptionConfig(
        model_name=suite["model"],
        image_size=suite["image_size"],
        attn_implementation="sdpa" if "sdpa" in levers else "eager",
        batch_size=batch_size,
        max_caption_tokens=suite["caption_tokens"],
        gradient_checkpointing="ckpt" in levers,
        freeze_vision_encoder="frozen" in levers,
    )


def meta_model(suite: dict, lora: bool) -> torch.nn.Module:
    """The suite's BLIP architecture on the meta device (no memory), with LoRA if asked."""
    with torch.device("meta"):
        model = BlipForConditionalGeneration(stand_in_config(suite["model"], suite["image_size"]))
    return apply_lora(model, row_config(suite, ("lora",), 1)) if lora else model


def row_estimate(suite: dict, row: dict, models: dict[bool, torch.nn.Module]) -> MemoryEstimate:
    """The analytic estimate for ``row`` (``models``: without and with LoRA, by ``meta_model``)."""
    levers = tuple(row["levers"])
    cfg = row_config(suite, levers, row["batch_size"])
    model = models["lora" in levers]
    return estimate_training_memory(model, cfg, suite["device"]["kind"], row["precision"])


def compare(suite: dict) -> dict[str, dict]:
    """Per row: measured peaks, today's estimate and the suite's own, with their errors."""
    models = {lora: meta_model(suite, lora) for lora in (False, True)}
    out = {}
    for name, row in estimated_rows(suite).items():
        estimate = row_estimate(suite, row, models)
        reserved = row["peak_reserved_mb"]
        out[name] = {
            "peak_reserved_mb": reserved,
            "peak_allocated_mb": row["peak_allocated_mb"],
            "estimate_mb": estimate.total / MIB,
            "error": estimate.total / MIB / reserved - 1,
            "estimate_allocated_mb": max(estimate.backward_peak, estimate.step_peak) / MIB,
            "peak_at": "backward" if estimate.backward_peak >= estimate.step_peak else "step",
            "suite_estimate_mb": row["estimate_analytic_mb"],
            "suite_error": row["estimate_analytic_mb"] / reserved - 1,
            "suite_probe_mb": row.get("estimate_probe_mb"),
        }
    return out


def markdown(rows: dict[str, dict]) -> str:
    lines = [
        "| row | peak reserved MiB | peak allocated MiB | estimate MiB (error) | peak at | "
        "estimate when the suite ran, MiB (error) |",
        "| --- | ---: | ---: | ---: | --- | ---: |",
    ]
    for name, r in rows.items():
        lines.append(
            f"| {name} | {r['peak_reserved_mb']:,.0f} | {r['peak_allocated_mb']:,.0f} | "
            f"{r['estimate_mb']:,.0f} ({r['error']:+.1%}) | {r['peak_at']} | "
            f"{r['suite_estimate_mb']:,.0f} ({r['suite_error']:+.1%}) |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--suite", type=Path, default=H200_SUITE, help="a gpu_suite JSON report")
    parser.add_argument("--out", type=Path, default=RESULTS_DIR, help="folder for the report")
    args = parser.parse_args(argv)
    suite = json.loads(args.suite.read_text(encoding="utf-8"))
    rows = compare(suite)
    table = markdown(rows)
    print(table)
    device = suite["device"]["name"].lower().replace(" ", "-")
    report = {
        "benchmark": "estimate_vs_measured",
        "suite": args.suite.name,
        "note": "random-init weights and synthetic images: a memory measurement only",
        "rows": rows,
    }
    write_json_report(args.out, f"estimate_vs_measured_{device}", report)
    (args.out / f"estimate_vs_measured_{device}.md").write_text(
        f"# Memory estimate vs measured peaks ({suite['device']['name']})\n\n"
        f"{report['note']}.\n\n{__doc__.split(chr(10) * 2)[2]}\n\n{table}\n"
    )
    return report


if __name__ == "__main__":
    main()
