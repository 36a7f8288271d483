"""Which levers stop the fine-tuned captioner from ignoring its image? One run, rows side by side.

    uv run python bench/collapse_ablation.py                  # demo profile, every lever
    uv run python bench/collapse_ablation.py --profile smoke  # seconds: checks the script

Every row trains the demo model (a small BLIP from random init, SYNTHETIC stand-in data: not a
Hephaestus result) with the demo defaults plus one set of overrides, on the same split, then
captions the test split with the demo's greedy decoding and reports: distinct captions, image
reliance (``helpers.eval.reliance``), the deformation balanced accuracy with its 95% interval,
the activity-type accuracy, CIDEr-D, BERTScore, what the attribute heads know, and the training
seconds. The nearest-neighbour baseline (the fine-tuned encoder of the first row picks the
neighbour) is scored on the same images. Writes ``bench/results/collapse_ablation.{json,md}``.
Timings are comparable only within one run on an otherwise idle machine (the report records the
load average).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
from bench_cli import RESULTS_DIR, without_folder

ROWS: dict[str, dict[str, Any]] = {
    "caption loss only (demo before this change)": {},
    "+ attribute heads (weight 3)": {"attribute_heads": True},
    "+ attribute prompt (heads weight 3)": {"attribute_prompt": True},
    "caption loss only, batch 8, 10 epochs": {"batch_size": 8, "epochs": 10},
    "+ attribute prompt, batch 8, 10 epochs": {
        "attribute_prompt": True,
        "batch_size": 8,
        "epochs": 10,
    },
    "+ attribute prompt, batch 8, 10 epochs, heads weight 10": {
        "attribute_prompt": True,
        "batch_size": 8,
        "epochs": 10,
        "attribute_loss_weight": 10.0,
    },
}
# the demo's settings before this change, so that every row starts from them
BEFORE = {
    "attribute_heads": False,
    "attribute_prompt": False,
    "label_smoothing": 0.0,
    "batch_size": 16,
    "epochs": 6,
}


def base_config(profile: str, workspace: Path, name: str, overrides: dict[str, Any]):
    from helpers.config import load_config

    os.environ["CAPTION_WORKSPACE"] = str(workspace)
    # every lever off unless the row asks for it, whatever the profile's defaults are
    before = BEFORE if profile == "demo" else {k: v for k, v in BEFORE.items() if "attr" in k}
    cfg = load_config(profile, **{**before, **overrides})
    return cfg.with_overrides(
        run_dir=workspace / "runs" / name, output_dir=workspace / "assets" / name
    )


def run_row(cfg, data, scorer, device) -> tuple[dict[str, Any], Any]:
    """Train ``cfg``'s model, caption and score the test split; (the row, the captioner)."""
    from helpers.data.batching import CaptionDataset
    from helpers.eval.scoring import caption_and_score
    from helpers.model.collators import caption_collator
    from helpers.model.loading import load_captioner
    from helpers.training.loop import train

    captioner = load_captioner(cfg)
    model, processor = captioner.model, captioner.processor
    start = time.perf_counter()
    train(
        cfg,
        model,
        processor,
        CaptionDataset(data.train, processor),
        CaptionDataset(data.val, processor),
        caption_collator(model, processor, cfg.max_caption_tokens),
        resume=False,
    )
    seconds = time.perf_counter() - start
    results = caption_and_score(
        model,
        processor,
        data.test,
        cfg,
        device,
        stage="ablation",
        data_synthetic=data.synthetic,
        scorer=scorer,
        model_label=cfg.model_name,
    )
    return row_of(results.summary, seconds), captioner


def row_of(summary: dict[str, Any], train_seconds: float | None) -> dict[str, Any]:
    """The ablation table's figures of one results summary."""
    domain, metrics, intervals = summary["domain"], summary["metrics"], summary["intervals"]
    diagnostics = summary.get("diagnostics") or {}
    heads = diagnostics.get("heads") or {}
    reliance = diagnostics.get("image_reliance") or {}
    return {
        "distinct_captions": summary["diversity"]["distinct_captions"],
        "test_images": summary["num_samples"],
        "image_reliance": reliance.get("reliance"),
        "caption_changed_with_image": reliance.get("caption_changed"),
        "deformation_balanced_accuracy": intervals["deformation_balanced_accuracy"],
        "activity_accuracy": domain["activity_accuracy"],
        "atmospheric_balanced_accuracy": domain["atmospheric_balanced_accuracy"],
        "cider": metrics["cider"],
        "bertscore_f1": metrics["bertscore_f1"],
        "heads_deformation_balanced_accuracy": heads.get("deformation_balanced_accuracy"),
        "heads_activity_accuracy": heads.get("activity_accuracy"),
        "heads_sector_accuracy": heads.get("sector_accuracy"),
        "blank_image_share": (diagnostics.get("blank_image") or {}).get("share_of_test_captions"),
        "train_seconds": None if train_seconds is None else round(train_seconds, 1),
    }


def markdown(report: dict[str, Any]) -> str:
    """The rows as one Markdown table."""

    def number(value: Any) -> str:
        if value is None:
            return "-"
        if isinstance(value, dict):
            return f"{value['value']:.2f} [{value['low']:.2f}, {value['high']:.2f}]"
        return f"{value:.2f}" if isinstance(value, float) else str(value)

    columns = {
        "distinct_captions": "distinct",
        "image_reliance": "image reliance",
        "deformation_balanced_accuracy": "deformation bal. acc. [95%]",
        "activity_accuracy": "activity acc.",
        "cider": "CIDEr-D",
        "bertscore_f1": "BERTScore",
        "heads_deformation_balanced_accuracy": "heads: deformation bal. acc.",
        "heads_activity_accuracy": "heads: activity acc.",
        "heads_sector_accuracy": "heads: sector acc.",
        "train_seconds": "train s",
    }
    images = next(iter(report["rows"].values()))["test_images"]
    lines = [
        f"# Collapse ablation: {report['what']}",
        "",
        f"{images} test images, {report['machine']}, {report['load']}.",
        "",
        "| row | " + " | ".join(columns.values()) + " |",
        "| --- " * (len(columns) + 1) + "|",
    ]
    for name, row in report["rows"].items():
        lines.append(f"| {name} | " + " | ".join(number(row[key]) for key in columns) + " |")
    return "\n".join(lines) + "\n"


def main() -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--profile", default="demo", choices=("demo", "smoke"))
    parser.add_argument("--rows", nargs="*", help="row names to run (default: all)")
    parser.add_argument("--out", type=Path, default=RESULTS_DIR)
    args = parser.parse_args()

    from helpers.data.prepare import prepare_dataset
    from helpers.device import choose_device
    from helpers.eval.metrics import load_bertscorer
    from helpers.eval.scoring import score_baselines

    workspace = Path(tempfile.mkdtemp(prefix="ablation-")).resolve()
    rows = {name: ROWS[name] for name in (args.rows or ROWS)}
    first = base_config(args.profile, workspace, "data", {})
    data = prepare_dataset(first)  # one split for every row
    device = choose_device(first.device, first.precision)
    scorer = load_bertscorer(first)
    report_rows, first_captioner = {}, None
    for index, (name, overrides) in enumerate(rows.items()):
        cfg = base_config(args.profile, workspace, f"row{index}", overrides)
        report_rows[name], captioner = run_row(cfg, data, scorer, device)
        first_captioner = first_captioner or captioner
        print(f"{name}: {json.dumps(report_rows[name])}", flush=True)
    baselines = score_baselines(
        data.train,
        data.test,
        first,
        device,
        data_synthetic=data.synthetic,
        scorer=scorer,
        model=first_captioner.model,
        processor=first_captioner.processor,
        encoder_label="first row's fine-tuned",
    )
    report_rows["nearest-neighbour baseline"] = row_of(baselines["nearest"].summary, None)
    report = {
        "what": f"{args.profile} profile; small BLIP trained from random init on SYNTHETIC "
        "stand-in data: not a Hephaestus result",
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, torch threads "
        f"{torch.get_num_threads()}",
        "load": f"1-minute load average at the end {os.getloadavg()[0]:.1f}",
        "overrides": rows,
        "rows": report_rows,
    }
    report = without_folder(report, workspace)
    stem = "collapse_ablation" if args.profile == "demo" else f"collapse_ablation_{args.profile}"
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{stem}.json").write_text(json.dumps(report, indent=2) + "\n")
    (args.out / f"{stem}.md").write_text(markdown(report))
    print(markdown(report))
    return report


if __name__ == "__main__":
    main()
