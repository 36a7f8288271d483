"""Run notebook 08 headless in the demo profile: BLIP and Florence-2 stand-ins side by side.

    uv run python bench/side_by_side_demo.py        # a fresh scratch workspace

Both models are random-init stand-ins (``random:small`` and ``random:florence-small``, about the
same size) fine-tuned on the demo's synthetic InSAR-like set with the same budget: the table
compares the two pipelines on this data, not the pretrained models, and is not a Hephaestus
result. Writes ``bench/results/side_by_side_demo.json`` and ``.md`` (the notebook's table, the
wall time, the machine).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
from pathlib import Path

import pandas as pd
import torch
from bench_cli import without_folder
from demo_run import ROOT, run

from helpers.training.model_card import markdown_table

NOTEBOOK = "08_choose_a_model"
MEMORY_NOTE = (
    "On the CPU, peak memory is the notebook process's peak resident memory so far: the "
    "second model trains in the same process, so its row cannot read below the first's."
)


def main() -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    args = parser.parse_args()
    workspace = Path(tempfile.mkdtemp(prefix="side-by-side-")).resolve()
    os.environ.update(CAPTION_PROFILE="demo", CAPTION_WORKSPACE=str(workspace))
    os.environ.pop("CAPTION_MODEL", None)
    seconds = round(run(NOTEBOOK), 1)
    assets = workspace / "assets" / "demo"
    table = pd.read_csv(assets / "model_comparison.csv", index_col=0)
    report = {
        "what": "demo profile, notebook 08: BLIP (random:small) and Florence-2 "
        "(random:florence-small) trained from random init on SYNTHETIC stand-in data with the "
        "same budget: compares pipelines, not pretrained models; not a Hephaestus result",
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, torch threads "
        f"{torch.get_num_threads()}",
        "load": f"1-minute load average at the end: {os.getloadavg()[0]:.1f}",
        "notebook_seconds": seconds,
        "table": table.reset_index(names="model").to_dict(orient="records"),
    }
    report = without_folder(report, workspace)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "side_by_side_demo.json").write_text(json.dumps(report, indent=2) + "\n")
    rows = [(name, *map(str, values)) for name, values in table.iterrows()]
    (args.out / "side_by_side_demo.md").write_text(
        f"# Side by side: {report['what']}\n\n{markdown_table(['model', *table], rows)}\n\n"
        f"Notebook 08 took {seconds / 60:.1f} min ({report['machine']}; {report['load']}). "
        f"{MEMORY_NOTE}\n"
    )
    print(json.dumps(report, indent=2))
    return report


if __name__ == "__main__":
    main()
