"""Training runs: train on a prepared dataset's splits; pick a finished run's checkpoint, load
it, compare runs side by side."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

import pandas as pd
import torch

from helpers.config import CaptionConfig
from helpers.data.batching import CaptionDataset
from helpers.data.prepare import PreparedData
from helpers.model.collators import caption_collator
from helpers.model.loading import Captioner, load_captioner
from helpers.training.checkpoints import read_history
from helpers.training.loop import train
from helpers.training.outputs import TrainResult


def train_on_splits(
    cfg: CaptionConfig,
    model: torch.nn.Module,
    processor: object,
    data: PreparedData,
    *,
    resume: bool = True,
) -> TrainResult:
    """``train`` on ``data``'s train and validation splits with the collator ``model`` needs
    (what the command line and notebook 08 run; notebooks 03 and 05 spell it out)."""
    return train(
        cfg,
        model,
        processor,
        CaptionDataset(data.train, processor),
        CaptionDataset(data.val, processor),
        caption_collator(model, processor, cfg.max_caption_tokens),
        resume=resume,
    )


def load_finetuned(
    cfg: CaptionConfig, which: str = "best", run_dir: Path | None = None
) -> Captioner:
    """Load ``<run_dir>/<which>`` ("best" or "final") of a run made with ``cfg``; a clear error
    says which notebook or command makes it when it is missing."""
    folder = Path(run_dir or cfg.run_dir) / which
    if not (folder / "config.json").is_file():
        raise FileNotFoundError(
            f"No fine-tuned model in {folder}: run notebook 03_finetune (or "
            f"`uv run python -m helpers.training --profile {cfg.profile}`) first."
        )
    return load_captioner(cfg.with_overrides(model_name=str(folder)))


def pick_checkpoint(cfg: CaptionConfig, requested: str | Path | None = None) -> str:
    """What to caption with: ``requested`` if given, else the best fine-tuned model of ``cfg``'s
    run when there is one, else ``cfg.model_name`` (the pretrained model or stand-in)."""
    if requested:
        return str(requested)
    best = Path(cfg.run_dir) / "best"
    return str(best) if (best / "config.json").is_file() else cfg.model_name


def compare_runs(runs: Mapping[str, Path]) -> pd.DataFrame:
    """One row per finished run (label -> run_dir): parameters trained, seconds per epoch,
    peak memory, best validation loss. Runs not made yet are listed as such."""
    rows = {}
    for label, run_dir in runs.items():
        summary_path = Path(run_dir) / "summary.json"
        if not summary_path.is_file():
            rows[label] = {"status": f"not run yet ({run_dir})"}
            continue
        summary = json.loads(summary_path.read_text())
        history = pd.DataFrame(read_history(Path(run_dir) / "history.csv"))
        rows[label] = {
            "status": "done",
            "trainable_parameters": summary["trainable_parameters"],
            "trainable_share_%": round(
                100 * summary["trainable_parameters"] / summary["total_parameters"], 3
            ),
            "seconds_per_epoch": round(history["seconds"].mean(), 1),
            "peak_memory_mb": history["peak_memory_mb"].max(),
            "best_val_loss": round(summary["best_val_loss"], 4),
            "device": f"{summary['device']} ({summary['precision']})",
        }
    return pd.DataFrame.from_dict(rows, orient="index")
