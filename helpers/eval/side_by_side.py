"""Two (or more) captioning models fine-tuned on the same split with the same budget, side by side.

``fine_tune_and_score(cfg, data, device, scorer)`` trains ``cfg.model_name`` in its own run folder
(``load_config(profile, model=...)`` gives each model one; a finished run is reused, as a rerun of
notebook 03 resumes it), then captions the test split with its best checkpoint and scores it.
``side_by_side(rows)`` is the table notebook 08 shows: the scores with their 95% intervals,
distinct captions, image reliance, and what the training cost (trainable parameters, seconds per
epoch, peak memory).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from helpers.config import CaptionConfig, profile_model_name, shareable_name
from helpers.data.prepare import PreparedData
from helpers.device import DeviceChoice
from helpers.eval.results import Results
from helpers.eval.scoring import caption_and_score
from helpers.model.loading import load_captioner
from helpers.training.checkpoints import read_history
from helpers.training.runs import load_finetuned, train_on_splits

STAGE = "side_by_side"  # results_side_by_side.csv / metrics_side_by_side.json per model
SCORES = {  # column -> (summary block, key)
    "BERTScore F1": ("intervals", "bertscore_f1"),
    "CIDEr-D": ("intervals", "cider"),
    "deformation balanced acc.": ("intervals", "deformation_balanced_accuracy"),
    "activity type right": ("intervals", "activity_accuracy"),
}


# what notebook 08 compares with the profile's BLIP: Florence-2 as published, or offline a
# random-init stand-in (of about random:small's size in the demo)
FLORENCE_FOR_PROFILE = {
    "full": "florence-community/Florence-2-base",
    "demo": "random:florence-small",
    "smoke": "random:florence-tiny",
}


def comparison_models(cfg: CaptionConfig) -> tuple[str, str]:
    """The profile's BLIP and the Florence-2 notebook 08 compares it with."""
    return profile_model_name(cfg.profile), FLORENCE_FOR_PROFILE[cfg.profile]


@dataclass
class ModelRun:
    """One model's fine-tune and its test scores."""

    cfg: CaptionConfig
    results: Results

    @property
    def training(self) -> dict[str, Any]:
        """The run's ``summary.json``."""
        return json.loads((Path(self.cfg.run_dir) / "summary.json").read_text())

    @property
    def history(self) -> list[dict[str, Any]]:
        return read_history(Path(self.cfg.run_dir) / "history.csv")


def fine_tune_and_score(
    cfg: CaptionConfig, data: PreparedData, device: DeviceChoice, scorer: Any = None
) -> ModelRun:
    """Fine-tune ``cfg.model_name`` on ``data`` (or reuse its finished run), score its best
    checkpoint on the test split; results go to ``cfg.output_dir`` as stage ``side_by_side``."""
    captioner = load_captioner(cfg)
    train_on_splits(cfg, captioner.model, captioner.processor, data)
    best = load_finetuned(cfg)
    results = caption_and_score(
        best.model,
        best.processor,
        data.test,
        cfg,
        device,
        stage=STAGE,
        data_synthetic=data.synthetic,
        scorer=scorer,
        model_label=f"{cfg.model_name} fine-tuned",
    )
    return ModelRun(cfg, results)


def _with_interval(block: dict[str, float] | None) -> str:
    if not block:
        return "-"
    return f"{block['value']:.3f} [{block['low']:.3f}, {block['high']:.3f}]"


def side_by_side(runs: dict[str, ModelRun]) -> pd.DataFrame:
    """One row per model (label -> run): scores with 95% intervals, distinct captions, image
    reliance, trainable parameters, seconds per epoch and peak memory."""
    rows = {}
    for label, run in runs.items():
        summary, training, history = run.results.summary, run.training, run.history
        row = {
            name: _with_interval(summary.get(block, {}).get(key))
            for name, (block, key) in SCORES.items()
        }
        diversity = summary["diversity"]
        reliance = (summary.get("diagnostics") or {}).get("image_reliance") or {}
        row |= {
            "distinct captions": f"{diversity['distinct_captions']} of {diversity['num_captions']}",
            "image reliance": round(reliance["reliance"], 2) if reliance else "-",
            "trainable parameters": f"{training['trainable_parameters']:,}",
            "seconds per epoch": _mean(row_["seconds"] for row_ in history),
            "peak memory MB": max((row_["peak_memory_mb"] for row_ in history), default="-"),
        }
        rows[shareable_name(label)] = row  # a local folder never by its absolute path
    return pd.DataFrame.from_dict(rows, orient="index")


def _mean(values) -> float | str:
    values = list(values)
    return round(sum(values) / len(values), 1) if values else "-"


__all__ = [
    "FLORENCE_FOR_PROFILE",
    "STAGE",
    "ModelRun",
    "comparison_models",
    "fine_tune_and_score",
    "side_by_side",
]
