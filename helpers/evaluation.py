"""Caption a set of records and score the captions: the step notebooks 02, 04 and 05 share."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd
import torch

from helpers.config import CaptionConfig
from helpers.device import DeviceChoice
from helpers.inference import caption_images
from helpers.metrics import BertScoreModel
from helpers.records import Record
from helpers.results import Results, build_results, load_summary, save_results

# corpus metrics shown side by side, with their display names
HEADLINE_METRICS = {
    "bertscore_f1": "BERTScore F1",
    "bleu_1": "BLEU-1",
    "bleu_4": "BLEU-4",
    "meteor": "METEOR",
    "rouge_l": "ROUGE-L",
    "cider": "CIDEr-D",
}
DOMAIN_METRICS = {
    "deformation_accuracy": "deformation stated right",
    "activity_accuracy": "activity type right",
    "atmospheric_accuracy": "atmosphere stated right",
}


def caption_and_score(
    model: torch.nn.Module,
    processor: object,
    records: Sequence[Record],
    cfg: CaptionConfig,
    device: DeviceChoice,
    *,
    stage: str,
    data_synthetic: bool,
    scorer: BertScoreModel | None = None,
    model_label: str | None = None,
) -> Results:
    """Caption ``records`` in batches, score against their captions, write
    ``results_<stage>.csv`` + ``metrics_<stage>.json`` to ``cfg.output_dir``, return the results."""
    if not records:
        raise ValueError("no records to caption: the split is empty")
    captions = caption_images(model, processor, [r.image_path for r in records], cfg, device)
    results = build_results(
        [r.unique_id for r in records],
        [r.caption for r in records],
        captions,
        [r.annotation for r in records],
        cfg,
        scorer=scorer,
        data_synthetic=data_synthetic,
        model=model_label,
    )
    csv_path, json_path = save_results(results, stage)
    print(f"wrote {csv_path} and {json_path}")
    return results


def headline(summary: dict) -> dict[str, float | None]:
    """The corpus metrics and domain accuracies of a results summary, by display name."""
    values = {label: summary["metrics"].get(key) for key, label in HEADLINE_METRICS.items()}
    values.update({label: summary["domain"].get(key) for key, label in DOMAIN_METRICS.items()})
    return values


def compare(before: dict, after: dict) -> pd.DataFrame:
    """A before / after / change table of two results summaries (None = unavailable)."""
    old, new = headline(before), headline(after)
    table = pd.DataFrame({"before": old, "after": new}, dtype=float)
    table["change"] = table["after"] - table["before"]
    return table.round(3)


def read_summary(output_dir: Path, stage: str) -> dict:
    """The summary a previous notebook wrote, with a clear hint when it is missing."""
    path = Path(output_dir) / f"metrics_{stage}.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: run the notebook that writes it first")
    return load_summary(path)
