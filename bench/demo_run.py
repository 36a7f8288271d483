"""Run notebooks 01 -> 05 headless in the demo profile and report the wall time and what was learnt.

    uv run python bench/demo_run.py                     # fresh scratch workspace
    uv run python bench/demo_run.py --workspace .       # write into this project's assets/demo

The demo profile is a small BLIP trained from scratch on synthetic InSAR-like data: the figures
this prints describe the pipeline on a laptop-sized stand-in, not BLIP on real Hephaestus data.
Writes ``bench/results/demo_run.json``: seconds per notebook, the scores before and after
fine-tuning (decoding chosen on validation, and the fine-tuned defaults), distinct captions,
the decoding choice, and the LoRA run's scores.
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
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = [
    "01_dataset_tour",
    "02_zero_shot_baseline",
    "03_finetune",
    "04_compare_before_after",
    "05_lora_finetune",
]


def run(name: str) -> float:
    notebook = nbformat.read(ROOT / "notebooks" / f"{name}.ipynb", as_version=4)
    start = time.perf_counter()
    NotebookClient(
        notebook, timeout=3600, kernel_name="python3", resources={"metadata": {"path": str(ROOT)}}
    ).execute()
    return time.perf_counter() - start


def scores(assets: Path, stage: str) -> dict:
    """Metrics, domain accuracies, decoding and distinct captions of one results stage."""
    summary = json.loads((assets / f"metrics_{stage}.json").read_text())
    table = pd.read_csv(assets / f"results_{stage}.csv", keep_default_na=False)
    return {
        "metrics": summary["metrics"],
        "domain": summary["domain"],
        "decoding": summary["decoding"],
        "distinct_captions": int(table["generated"].nunique()),
        "distinct_references": int(table["reference"].nunique()),
    }


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
    after = json.loads((assets / "metrics_after_training.json").read_text())
    history = (workspace / "runs" / "demo" / "history.csv").read_text().splitlines()
    training = json.loads((workspace / "runs" / "demo" / "summary.json").read_text())
    report = {
        "what": "demo profile, notebooks 01-04; small BLIP trained from random init on SYNTHETIC "
        "stand-in data: not a Hephaestus result",
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, torch threads "
        f"{torch.get_num_threads()}",
        "load": f"1-minute load average at the end: {os.getloadavg()[0]:.1f}",
        "seconds_per_notebook": seconds,
        "total_minutes": round(sum(seconds.values()) / 60, 2),
        "test_images": after["num_samples"],
        "before": scores(assets, "before_training"),
        "after": scores(assets, "after_training"),
        "after_with_default_decoding": scores(assets, "after_training_defaults"),
        "after_lora": scores(assets, "after_lora"),
        "decoding_choice": json.loads((workspace / "runs" / "demo" / "decoding.json").read_text()),
        "val_loss_before_training": training["initial_val_loss"],
        "best_val_loss": training["best_val_loss"],
        "history_csv": history,
        "workspace": "temporary" if args.workspace is None else "given",
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))
    return report


if __name__ == "__main__":
    main()
