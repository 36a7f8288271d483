"""Caption a set of records and score the captions: the step notebooks 02, 04 and 05 share;
the trivial baselines scored by the same code; reading earlier results back."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import torch

from helpers.config import CaptionConfig
from helpers.data.records import Record
from helpers.device import DeviceChoice
from helpers.eval.baselines import MAJORITY, NEAREST, STAGES, majority_caption, nearest_neighbours
from helpers.eval.bertscore import INTEL_BERTSCORE_COLUMN, scorer_label
from helpers.eval.inference import caption_images
from helpers.eval.metrics import BertScoreModel, load_bertscorer
from helpers.eval.reliance import diagnose
from helpers.eval.results import Results, build_results, load_results, load_summary, save_results
from helpers.model.loading import load_captioner
from helpers.training.runs import pick_checkpoint

log = logging.getLogger(__name__)

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
    "deformation_balanced_accuracy": "deformation, balanced accuracy",
    "activity_accuracy": "activity type right",
    "atmospheric_accuracy": "atmosphere stated right",
    "atmospheric_balanced_accuracy": "atmosphere, balanced accuracy",
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
    diagnostics: bool = True,
) -> Results:
    """Caption ``records`` in batches, score against their captions, write
    ``results_<stage>.csv`` + ``metrics_<stage>.json`` to ``cfg.output_dir``, return the results.

    ``diagnostics`` adds ``summary["diagnostics"]`` (``helpers.eval.reliance.diagnose``: image
    reliance, the blank-image caption, the attribute heads' scores); it captions the records once
    more, shuffled."""
    if not records:
        raise ValueError("no records to caption: the split is empty")
    captions = caption_images(model, processor, [r.image_path for r in records], cfg, device)
    results = build_results(
        records, captions, cfg, scorer=scorer, data_synthetic=data_synthetic, model=model_label
    )
    if diagnostics and len(records) > 1:
        results.summary["diagnostics"] = diagnose(model, processor, records, captions, cfg, device)
    _save(results, stage)
    return results


def score_baselines(
    train: Sequence[Record],
    test: Sequence[Record],
    cfg: CaptionConfig,
    device: DeviceChoice,
    *,
    data_synthetic: bool,
    scorer: BertScoreModel | None = None,
    model: torch.nn.Module | None = None,
    processor: object | None = None,
    encoder_label: str = "given model's",
) -> dict[str, Results]:
    """Score the majority and nearest-neighbour baselines (``helpers.eval.baselines``) on ``test``
    like a model's captions; write ``results_baseline_<name>.csv`` + ``metrics_...json``.

    The nearest neighbour uses the image encoder of ``model`` (with its ``processor``;
    ``encoder_label`` says which model it is, e.g. "fine-tuned"); without one, that of the
    fine-tuned model of ``cfg`` when notebook 03 has made it, else that of the zero-shot model
    (``helpers.training.runs.pick_checkpoint``). Returns {"majority": ..., "nearest": ...}.
    """
    if model is None:
        checkpoint = pick_checkpoint(cfg)
        loaded = load_captioner(cfg.with_overrides(model_name=checkpoint))
        model, processor = loaded.model, loaded.processor
        encoder_label = "zero-shot" if checkpoint == cfg.model_name else "fine-tuned"
    nearest = nearest_neighbours(model, processor, train, test, device, cfg.eval_batch_size)
    scorer = scorer or load_bertscorer(cfg)  # loaded once for both
    candidates = {
        MAJORITY: (
            [majority_caption(train)] * len(test),
            "baseline: most frequent training caption",
        ),
        NEAREST: (
            nearest.captions,
            f"baseline: caption of the nearest training image ({encoder_label} image encoder)",
        ),
    }
    scored = {}
    for name, (captions, label) in candidates.items():
        scored[name] = build_results(
            test,
            captions,
            cfg,
            scorer=scorer,
            data_synthetic=data_synthetic,
            model=label,
            baseline=name,
        )
        _save(scored[name], STAGES[name])
    return scored


def _save(results: Results, stage: str) -> None:
    csv_path, json_path = save_results(results, stage)
    log.info(f"wrote {csv_path} and {json_path}")


def headline_metrics(summary: dict) -> dict[str, str]:
    """``HEADLINE_METRICS`` of a results summary: with the F1 of the Intel sample's scorer
    after BERTScore F1 when the summary has it (``full``), labelled with that scorer."""
    intel = summary.get("bertscore_intel_model")
    if not intel:
        return dict(HEADLINE_METRICS)
    label = f"BERTScore F1, {scorer_label(intel)}"
    first, *rest = HEADLINE_METRICS.items()
    return dict([first, (INTEL_BERTSCORE_COLUMN, label), *rest])


def headline(summary: dict) -> dict[str, float | None]:
    """The corpus metrics and domain scores of a results summary, by display name."""
    names = headline_metrics(summary)
    values = {label: summary["metrics"].get(key) for key, label in names.items()}
    values.update({label: summary["domain"].get(key) for key, label in DOMAIN_METRICS.items()})
    return values


def read_results(output_dir: Path, stage: str) -> Results:
    """The results (table and summary) a previous notebook wrote for ``stage``, with a clear
    hint when they are missing."""
    folder = Path(output_dir)
    paths = [folder / f"results_{stage}.csv", folder / f"metrics_{stage}.json"]
    for path in paths:
        if not path.is_file():
            raise FileNotFoundError(f"{path} is missing: run the notebook that writes it first")
    return Results(load_results(paths[0]), load_summary(paths[1]), folder)


def read_available(output_dir: Path, stages: dict[str, str]) -> dict[str, Results]:
    """The results of those ``stages`` ({label: stage}) that earlier notebooks have written."""
    folder = Path(output_dir)
    return {
        label: read_results(folder, stage)
        for label, stage in stages.items()
        if (folder / f"metrics_{stage}.json").is_file()
    }
