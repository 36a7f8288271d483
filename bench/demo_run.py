"""Run notebooks 01 -> 05 headless in the demo profile and report the wall time and what was learnt.

    uv run python bench/demo_run.py                     # fresh scratch workspace
    uv run python bench/demo_run.py --workspace .       # write into this project's assets/demo

The demo profile is a small BLIP trained from scratch on synthetic InSAR-like data: the figures
this prints describe the pipeline on a laptop-sized stand-in, not BLIP on real Hephaestus data.
Writes ``bench/results/demo_run.json`` (every run of notebook 04: zero-shot, the majority and
nearest-neighbour baselines, fine-tuned; their scores with 95% intervals, distinct captions, and
the paired fine-tuned minus zero-shot difference; also the fine-tuned model with the default
decoding, the decoding chosen on validation, and the LoRA run of notebook 05) and
``demo_run.md`` (that table, for reading).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import nbformat
import pandas as pd
import torch
from bench_cli import without_folder
from nbclient import NotebookClient

from helpers.eval.comparison import comparison_view, metric_names
from helpers.eval.reliance import diagnostics_markdown
from helpers.eval.scoring import read_results

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = [
    "01_dataset_tour",
    "02_zero_shot_baseline",
    "03_finetune",
    "04_compare_before_after",
    "05_lora_finetune",
]
STAGES = {  # the runs notebook 04 compares, in its order
    "zero-shot": "before_training",
    "majority caption": "baseline_majority",
    "nearest neighbour": "baseline_nearest",
    "fine-tuned": "after_training",
}
EXTRA_STAGES = {  # reported beside the comparison: the default decoding (04) and LoRA (05)
    "fine-tuned, default decoding": "after_training_defaults",
    "LoRA": "after_lora",
}
RUN_KEYS = ("model_name", "decoding", "metrics", "domain", "diversity", "intervals", "notes")


def run(name: str) -> float:
    notebook = nbformat.read(ROOT / "notebooks" / f"{name}.ipynb", as_version=4)
    start = time.perf_counter()
    NotebookClient(
        notebook, timeout=3600, kernel_name="python3", resources={"metadata": {"path": str(ROOT)}}
    ).execute()
    return time.perf_counter() - start


def run_summary(assets: Path, stage: str) -> dict:
    """The ``RUN_KEYS`` of one run's ``metrics_<stage>.json``, and its diagnostics if any."""
    summary = json.loads((assets / f"metrics_{stage}.json").read_text())
    return {key: summary[key] for key in RUN_KEYS} | {"diagnostics": summary.get("diagnostics")}


def stage_results(assets: Path) -> dict:
    """The ``Results`` of the runs notebook 04 compares."""
    return {label: read_results(assets, stage) for label, stage in STAGES.items()}


def evaluation_report(assets: Path) -> dict:
    """What notebook 04 wrote to ``assets``: per run its scores, intervals and diversity, and
    the comparison table (one row per run and metric, plus the paired difference)."""
    runs = {label: run_summary(assets, stage) for label, stage in STAGES.items()}
    comparison = pd.read_csv(assets / "comparison.csv").drop(columns="provenance")
    return {
        "test_images": runs["fine-tuned"]["domain"]["num_samples"],
        "runs": runs,
        "comparison": json.loads(comparison.to_json(orient="records")),
        "comparison_table": markdown_table(comparison, metric_names(runs["fine-tuned"])),
    }


def markdown_table(comparison: pd.DataFrame, names: dict[str, str]) -> str:
    """The comparison as a Markdown table: metrics by rows, runs by columns, "value [low, high]"."""
    view = comparison_view(comparison, names)
    lines = ["| metric | " + " | ".join(view.columns) + " |"]
    lines.append("| --- " * (len(view.columns) + 1) + "|")
    lines += [f"| {name} | " + " | ".join(row) + " |" for name, row in view.iterrows()]
    return "\n".join(lines) + "\n"


def main() -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workspace", type=Path, help="default: a new temporary folder")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "demo_run.json")
    args = parser.parse_args()
    workspace = (args.workspace or Path(tempfile.mkdtemp(prefix="demo-run-"))).resolve()
    if (workspace / "runs" / "demo").exists():
        parser.error(
            f"{workspace / 'runs' / 'demo'} exists: training would resume, not start fresh"
        )
    os.environ.update(CAPTION_PROFILE="demo", CAPTION_WORKSPACE=str(workspace))

    seconds = {}
    for name in NOTEBOOKS:
        seconds[name] = round(run(name), 1)
        print(f"{name}: {seconds[name]:.0f} s", flush=True)
    assets = workspace / "assets" / "demo"
    history = (workspace / "runs" / "demo" / "history.csv").read_text().splitlines()
    training = json.loads((workspace / "runs" / "demo" / "summary.json").read_text())
    report = {
        "what": "demo profile, notebooks 01-05; small BLIP trained from random init on SYNTHETIC "
        "stand-in data: not a Hephaestus result",
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, torch threads "
        f"{torch.get_num_threads()}",
        "load": f"1-minute load average at the end: {os.getloadavg()[0]:.1f}",
        "seconds_per_notebook": seconds,
        "total_minutes": round(sum(seconds.values()) / 60, 2),
        **evaluation_report(assets),
        "other_runs": {label: run_summary(assets, stage) for label, stage in EXTRA_STAGES.items()},
        "decoding_choice": json.loads((workspace / "runs" / "demo" / "decoding.json").read_text()),
        "val_loss_before_training": training["initial_val_loss"],
        "best_val_loss": training["best_val_loss"],
        "history_csv": history,
        "workspace": "temporary" if args.workspace is None else "given",
    }
    report = without_folder(report, workspace)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    args.out.with_suffix(".md").write_text(
        f"# Demo run: {report['what']}\n\n{report['comparison_table']}\n"
        f"{diagnostics_markdown(stage_results(assets))}"
    )
    print(json.dumps(report, indent=2))
    return report


if __name__ == "__main__":
    main()
