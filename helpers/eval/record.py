"""Keep a run's evaluation with the run: its files, its model cards and its curves.

Notebooks 04 and 05 call :func:`record_evaluation` after comparing the fine-tuned model with the
zero-shot model and the baselines. It writes ``<run_dir>/evaluation/``::

    comparison.csv        the helpers.eval.comparison.compare table, with the provenance line
    comparison.md         the same as the markdown table the model cards show
    model_index.json      the evaluated run's headline scores (the cards' model-index)
    metrics_<run>.json    the results summary of every run in the comparison

then rewrites the model cards of ``best/`` and ``final/`` (helpers.training.model_card) and logs the
headline scores to the run's trackers (``eval/<metric>``, helpers.training.tracking) when the run
trained with ``log_with`` (or ``cfg.log_with`` names a tracker). ``helpers.sharing.share_run``
uploads this folder with the model.
"""

from __future__ import annotations

import json
import logging
import math
import re
from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from helpers.config import CaptionConfig
from helpers.eval.comparison import comparison_view, metric_names, save_comparison
from helpers.eval.reliance import diagnostics_markdown
from helpers.eval.results import Results
from helpers.eval.scoring import DOMAIN_METRICS, headline_metrics
from helpers.files import write_text_atomic
from helpers.training.model_card import (
    COMPARISON_TABLE_FILE,
    EVALUATION_DIR,
    MODEL_INDEX_FILE,
    card_facts,
    markdown_table,
    write_export_cards,
)
from helpers.training.tracking import log_once

log = logging.getLogger(__name__)

EXPORTS = ("best", "final")


def record_evaluation(
    cfg: CaptionConfig, runs: Mapping[str, Results], comparison: pd.DataFrame, target: str
) -> Path:
    """Record the evaluation of ``cfg.run_dir``'s model, the run called ``target`` in ``runs``
    and ``comparison`` (see the module docstring); returns the ``evaluation/`` folder."""
    run_dir = Path(cfg.run_dir)
    if not (run_dir / "summary.json").is_file():
        raise FileNotFoundError(
            f"{run_dir} holds no finished training run (summary.json is missing): train it first."
        )
    if target not in runs:
        raise KeyError(f"target={target!r} is not one of the runs: {', '.join(runs)}")
    folder = run_dir / EVALUATION_DIR
    folder.mkdir(parents=True, exist_ok=True)
    evaluated = runs[target].summary
    save_comparison(comparison, folder / "comparison.csv", evaluated["note"])
    tables = comparison_markdown(comparison, evaluated) + diagnostics_markdown(runs)
    write_text_atomic(folder / COMPARISON_TABLE_FILE, tables)
    index = model_index(evaluated, target)
    write_text_atomic(folder / MODEL_INDEX_FILE, json.dumps(index, indent=1) + "\n")
    for name, run in runs.items():
        path = folder / f"metrics_{slug(name)}.json"
        write_text_atomic(path, json.dumps(run.summary, indent=1) + "\n")

    facts = card_facts(run_dir)
    for export in EXPORTS:
        if (run_dir / export / "config.json").is_file():
            write_export_cards(run_dir / export, facts)
    steps = facts.training["optimizer_steps"]
    scores = {
        f"eval/{key}": metric["value"]
        for key, metric in index["metrics"].items()
        if metric["value"] is not None and math.isfinite(metric["value"])
    }
    # the trackers the run trained with, unless cfg names others
    log_once(cfg.log_with or facts.cfg.log_with, run_dir, scores, step=steps + 1)
    log.info(f"Recorded the evaluation in {folder} and updated the model cards.")
    return folder


def model_index(summary: Mapping, run: str) -> dict:
    """The headline scores of one results summary, for a card's model-index."""
    names = metric_names(summary)
    metrics = {key: summary["metrics"].get(key) for key in headline_metrics(dict(summary))}
    metrics.update({key: summary["domain"].get(key) for key in DOMAIN_METRICS})
    return {
        "run": run,
        "test_images": summary["num_samples"],
        "metrics": {key: {"name": names[key], "value": value} for key, value in metrics.items()},
    }


def comparison_markdown(comparison: pd.DataFrame, summary: Mapping) -> str:
    """The comparison as a markdown table, with a line saying how to read it."""
    view = comparison_view(comparison, metric_names(summary))
    rows = [(metric, *row) for metric, row in zip(view.index, view.values.tolist(), strict=True)]
    table = markdown_table(["metric", *view.columns], rows)
    return (
        f"{summary['num_samples']} test images. Cells: score [95% bootstrap interval over test "
        "images]; the last column is the paired difference (an interval containing 0 means the "
        f"test set cannot tell the two apart).\n\n{table}\n"
    )


def slug(name: str) -> str:
    """A file-name-safe form of a run label ("nearest neighbour" -> "nearest_neighbour")."""
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


__all__ = ["comparison_markdown", "model_index", "record_evaluation", "slug"]
