"""Result files: one CSV row per test image and a JSON summary of a whole evaluation.

:func:`build_results` scores captions (``helpers.eval.metrics``), checks their facts
(``helpers.eval.domain_facts``, scored by ``helpers.eval.domain_scores``), measures their diversity
(``helpers.eval.diversity``) and puts bootstrap intervals on the headline metrics
(``helpers.eval.bootstrap``); the summary also lists the image ids, so comparisons can refuse
results made on other images. :func:`save_results` writes ``results_<stage>.csv`` and
``metrics_<stage>.json`` (e.g. stage ``before_training``) into ``cfg.output_dir``, atomically.
Both files say which profile produced them and whether the data or the model was a stand-in, so
a demo result is never mistaken for a Hephaestus one. :func:`load_results` and
:func:`load_summary` read them back and check them.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from helpers.config import CaptionConfig, shareable_name
from helpers.data.records import Record
from helpers.eval.bootstrap import bootstrap_settings, headline_intervals
from helpers.eval.diversity import caption_diversity, diversity_notes
from helpers.eval.domain_facts import DOMAIN_COLUMNS, check_captions
from helpers.eval.domain_scores import summarize_facts
from helpers.eval.metrics import (
    INTEL_BERTSCORE_COLUMN,
    METRIC_COLUMNS,
    BertScoreModel,
    evaluate_captions,
    load_bertscorer,
)
from helpers.files import write_text_atomic

TEXT_COLUMNS = ("image_id", "reference", "generated")
RUN_COLUMNS = ("profile", "stand_in")
RESULT_COLUMNS = TEXT_COLUMNS + METRIC_COLUMNS + DOMAIN_COLUMNS + RUN_COLUMNS
# written when present: F1 by the Intel sample's scorer (full profile, helpers.eval.bertscore)
OPTIONAL_COLUMNS = (INTEL_BERTSCORE_COLUMN,)
DECODING_FIELDS = (
    "num_beams",
    "max_new_tokens",
    "repetition_penalty",
    "no_repeat_ngram_size",
    "length_penalty",
    "decoding_source",  # what chose them (helpers.eval.decoding): defaults, zero-shot or validation
)
SUMMARY_KEYS = (
    "profile",
    "stand_in",
    "config_stand_in",
    "data_synthetic",
    "note",
    "model_name",
    "baseline",
    "num_samples",
    "image_ids",
    "decoding",
    "bertscore_model",
    "metrics",
    "domain",
    "diversity",
    "intervals",
    "bootstrap",
    "notes",
)
_STR_COLUMNS = (
    *TEXT_COLUMNS,
    "deformation_read",
    "deformation_annotated",
    "activity_read",
    "activity_annotated",
    "atmospheric_read",
    "profile",
)
_BOOL_COLUMNS = ("deformation_correct", "activity_correct", "atmospheric_correct", "stand_in")


@dataclass(frozen=True)
class Results:
    """The per-image table (``RESULT_COLUMNS``) and the summary of one evaluation."""

    table: pd.DataFrame
    summary: dict[str, Any]
    output_dir: Path  # where save_results writes by default (cfg.output_dir)


def build_results(
    records: Sequence[Record],
    candidates: Sequence[str],
    cfg: CaptionConfig,
    scorer: BertScoreModel | None = None,
    data_synthetic: bool = False,
    model: str | None = None,
    baseline: str | None = None,
) -> Results:
    """Score, fact-check and measure the diversity of captions of ``records``; one table row
    per record (its ``caption`` is the reference).

    ``scorer`` is a loaded BERTScore model (reuse it across runs) or None to load the one of
    ``cfg``. ``data_synthetic`` says the images are synthetic stand-ins. ``model`` names what
    generated the captions (default ``cfg.model_name``; a local folder is recorded by its name
    only). ``baseline`` names a trivial baseline that made them without decoding ("majority",
    "nearest"): the summary then records no decoding settings. Intervals use
    ``cfg.bootstrap_resamples`` and ``cfg.bootstrap_seed``.
    """
    if len(records) != len(candidates):
        raise ValueError(
            f"records ({len(records)}) and candidates ({len(candidates)}) differ in length."
        )
    references = [r.caption for r in records]
    evaluation = evaluate_captions(references, candidates, scorer or load_bertscorer(cfg))
    facts = check_captions(candidates, records)
    diversity = caption_diversity(candidates, references)
    stand_in = cfg.is_stand_in or data_synthetic
    model = model or cfg.model_name
    texts = pd.DataFrame(
        {
            "image_id": [r.unique_id for r in records],
            "reference": references,
            "generated": list(candidates),
        }
    )
    table = pd.concat([texts, evaluation.per_sample, facts], axis=1)
    table["profile"] = cfg.profile
    table["stand_in"] = stand_in
    summary = {
        "profile": cfg.profile,
        "stand_in": stand_in,
        "config_stand_in": cfg.is_stand_in,
        "data_synthetic": data_synthetic,
        "note": cfg.provenance(data_synthetic),
        "model_name": shareable_name(model),
        "baseline": baseline,
        "num_samples": len(table),
        "image_ids": list(texts["image_id"]),
        "decoding": None if baseline else {name: getattr(cfg, name) for name in DECODING_FIELDS},
        "bertscore_model": evaluation.scorer.to_dict(),
        "bertscore_intel_model": evaluation.intel_scorer and evaluation.intel_scorer.to_dict(),
        "metrics": evaluation.corpus,
        "domain": summarize_facts(facts),
        "diversity": diversity,
        "intervals": headline_intervals(table, cfg.bootstrap_resamples, cfg.bootstrap_seed),
        "bootstrap": bootstrap_settings(cfg.bootstrap_resamples, cfg.bootstrap_seed),
        "notes": list(evaluation.notes) + diversity_notes(diversity),
    }
    return Results(table[result_columns(table)], summary, Path(cfg.output_dir))


def save_results(
    results: Results, stage: str, output_dir: str | Path | None = None
) -> tuple[Path, Path]:
    """Write ``results_<stage>.csv`` and ``metrics_<stage>.json``; return both paths.

    ``stage`` names the run, e.g. "before_training"; ``output_dir`` defaults to the
    ``cfg.output_dir`` the results were built with.
    """
    if not re.fullmatch(r"[a-z0-9_]+", stage):
        raise ValueError(f"Stage {stage!r}: use lowercase letters, digits and '_' only.")
    folder = Path(output_dir) if output_dir is not None else results.output_dir
    summary = {"stage": stage, **results.summary}
    csv_path = write_results(results.table, folder / f"results_{stage}.csv")
    json_path = write_summary(summary, folder / f"metrics_{stage}.json")
    return csv_path, json_path


def write_results(table: pd.DataFrame, path: str | Path) -> Path:
    """Write a results table as CSV (atomically); it must have every ``RESULT_COLUMNS`` column."""
    path = Path(path)
    _require(path, "column", RESULT_COLUMNS, table.columns)
    write_text_atomic(path, table[result_columns(table)].to_csv(index=False))
    return path


def result_columns(table: pd.DataFrame) -> list[str]:
    """``RESULT_COLUMNS`` plus those ``OPTIONAL_COLUMNS`` that ``table`` has."""
    return [*RESULT_COLUMNS, *(c for c in OPTIONAL_COLUMNS if c in table.columns)]


def write_summary(summary: Mapping[str, Any], path: str | Path) -> Path:
    """Write a summary as JSON (atomically); NaN becomes null."""
    path = Path(path)
    _require(path, "key", SUMMARY_KEYS, summary.keys())
    write_text_atomic(path, json.dumps(_finite(summary), indent=2) + "\n")
    return path


def load_results(path: str | Path) -> pd.DataFrame:
    """Read a results CSV and check its columns; empty text stays "" and scores stay floats."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"No results file at {path}.")
    try:
        header = pd.read_csv(path, nrows=0).columns
    except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError) as err:
        raise ValueError(f"{path}: not a results CSV ({err}).") from None
    _require(path, "column", RESULT_COLUMNS, header)
    numeric = [c for c in header if c not in _STR_COLUMNS]
    return pd.read_csv(
        path,
        keep_default_na=False,  # a caption "NA" or "" stays text
        na_values={c: [""] for c in numeric},
        dtype={**dict.fromkeys(_STR_COLUMNS, str), **dict.fromkeys(_BOOL_COLUMNS, "boolean")},
    )


def load_summary(path: str | Path) -> dict[str, Any]:
    """Read a metrics summary JSON and check its keys."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"No metrics summary at {path}.")
    try:
        summary = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: not valid JSON ({err}).") from None
    if not isinstance(summary, dict):
        raise ValueError(f"{path}: expected a JSON object, got {type(summary).__name__}.")
    _require(path, "key", SUMMARY_KEYS, summary.keys())
    return summary


def _require(path: Path, what: str, required: Sequence[str], present: Any) -> None:
    present = set(present)
    missing = [name for name in required if name not in present]
    if missing:
        raise ValueError(f"{path}: missing {what}(s): {', '.join(missing)}.")


def _finite(value: Any) -> Any:
    """JSON-safe copy: NaN/inf -> None, numpy scalars -> Python, tuples -> lists."""
    if isinstance(value, Mapping):
        return {str(k): _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    if hasattr(value, "item"):  # numpy scalar
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


__all__ = [
    "DECODING_FIELDS",
    "OPTIONAL_COLUMNS",
    "RESULT_COLUMNS",
    "SUMMARY_KEYS",
    "Results",
    "build_results",
    "load_results",
    "load_summary",
    "result_columns",
    "save_results",
    "write_results",
    "write_summary",
]
