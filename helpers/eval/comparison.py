"""Compare evaluations side by side, with intervals, and refuse apples and oranges.

:func:`compare` takes several results (zero-shot, baselines, fine-tuned, ...) made on the
**same test images with the same BERTScore model** (it raises otherwise, and warns when the
decoding settings differ) and returns one long table: each run's headline metrics with their
bootstrap 95% intervals, the distinct-caption counts, and the paired difference of one run
against another (default: last minus first) with its interval. :func:`comparison_view` formats
it for reading; :func:`paired_rows` joins two per-image tables and never drops a row.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from helpers.eval.bootstrap import paired_intervals
from helpers.eval.results import Results
from helpers.eval.scoring import DOMAIN_METRICS, headline_metrics
from helpers.files import write_text_atomic

DIVERSITY_METRICS = {"distinct_captions": "distinct captions", "distinct_share": "distinct share"}
PLAIN_ACCURACIES = {  # plain accuracy -> its majority rate in the domain summary
    "deformation_accuracy": "deformation_majority_rate",
    "activity_accuracy": "activity_majority_rate",
    "atmospheric_accuracy": "atmospheric_majority_rate",
}
COLUMNS = ("run", "kind", "metric", "value", "low", "high")


def check_comparable(runs: Mapping[str, Results]) -> None:
    """Raise unless every run holds all its rows, on the same image ids, scored by the same
    BERTScore model; warn when their decoding settings differ (baselines do not decode)."""
    if len(runs) < 2:
        raise ValueError("compare needs at least two runs")
    (first, reference), *others = runs.items()
    for name, run in runs.items():
        ids = list(run.table["image_id"].astype(str))
        if ids != [str(i) for i in run.summary["image_ids"]] or len(set(ids)) != len(ids):
            raise ValueError(f"{name}: its table does not hold exactly the images of its summary")
    expected = set(reference.summary["image_ids"])
    for name, run in others:
        ids = set(run.summary["image_ids"])
        if ids != expected:
            raise ValueError(
                f"{name} and {first} were evaluated on different images: {len(ids - expected)} "
                f"only in {name} (e.g. {sorted(ids - expected)[:3]}), {len(expected - ids)} only "
                f"in {first} (e.g. {sorted(expected - ids)[:3]}). Score both on the same split."
            )
        for key in ("bertscore_model", "bertscore_intel_model"):
            if run.summary.get(key) != reference.summary.get(key):
                raise ValueError(
                    f"{name} and {first} were scored by different BERTScore models ({key}: "
                    f"{run.summary.get(key)} vs {reference.summary.get(key)}); "
                    "their scores are not comparable."
                )
    decodings = {n: r.summary["decoding"] for n, r in runs.items() if r.summary["decoding"]}
    if len({repr(sorted(d.items())) for d in decodings.values()}) > 1:
        details = "; ".join(f"{n}: {d}" for n, d in decodings.items())
        warnings.warn(f"The runs were decoded with different settings: {details}", stacklevel=2)


def aligned(table: pd.DataFrame, order: pd.Series) -> pd.DataFrame:
    """``table``'s rows in the image order ``order`` (same ids, each once; raises otherwise)."""
    ids = pd.DataFrame({"image_id": list(order)})
    joined = ids.merge(table, on="image_id", how="left", validate="one_to_one", indicator=True)
    if len(joined) != len(table) or (joined.pop("_merge") != "both").any():
        raise ValueError("the tables hold different images")
    return joined


def paired_rows(
    before: pd.DataFrame, after: pd.DataFrame, suffixes: tuple[str, str] = ("_before", "_after")
) -> pd.DataFrame:
    """Join two per-image tables on ``image_id``, one row per image, in ``before``'s order;
    raises when an image is in only one of them or twice in one (no row is ever dropped)."""
    after = aligned(after, before["image_id"])
    return before.merge(after, on="image_id", suffixes=suffixes, validate="one_to_one")


def _value(summary: Mapping, key: str) -> float | None:
    for section in ("metrics", "domain", "diversity"):
        if key in summary[section]:
            return summary[section][key]
    return None


def compare(
    runs: Mapping[str, Results], reference: str | None = None, target: str | None = None
) -> pd.DataFrame:
    """Long table (``COLUMNS``) of every run's headline metrics with bootstrap intervals and of
    ``target - reference`` (default: last run minus first) with its paired interval.

    Raises on runs made on different images or with different BERTScore models (see
    :func:`check_comparable`). Unavailable metrics are kept as rows with a missing value.
    """
    check_comparable(runs)
    names = list(runs)
    reference, target = reference or names[0], target or names[-1]
    keys = [*headline_metrics(runs[reference].summary), *DOMAIN_METRICS, *DIVERSITY_METRICS]
    rows = []
    for name, run in runs.items():
        for key in keys:
            bounds = run.summary["intervals"].get(key) or {}
            rows.append(
                (name, "run", key, _value(run.summary, key), bounds.get("low"), bounds.get("high"))
            )
    before, after = runs[reference], runs[target]
    order = before.table["image_id"]
    settings = after.summary["bootstrap"]
    changes = paired_intervals(
        aligned(after.table, order), before.table, settings["resamples"], settings["seed"]
    )
    for key in keys:
        old, new = _value(before.summary, key), _value(after.summary, key)
        change = changes.get(key) or {}
        value = None if old is None or new is None else new - old
        rows.append(
            (
                f"{target} - {reference}",
                "difference",
                key,
                value,
                change.get("low"),
                change.get("high"),
            )
        )
    return pd.DataFrame(rows, columns=list(COLUMNS)).astype(
        {"value": float, "low": float, "high": float}
    )


def save_comparison(table: pd.DataFrame, path: Path, provenance: str) -> Path:
    """Write a :func:`compare` table as CSV (atomically), each row with the provenance line."""
    path = Path(path)
    write_text_atomic(path, table.assign(provenance=provenance).to_csv(index=False))
    return path


def metric_names(summary: Mapping) -> dict[str, str]:
    """Display name per metric key; plain accuracies carry the majority rate of the images of
    ``summary`` (any run's summary: compared runs share their images)."""
    domain = summary["domain"]
    names = {**headline_metrics(dict(summary)), **DOMAIN_METRICS, **DIVERSITY_METRICS}
    for key, rate_key in PLAIN_ACCURACIES.items():
        rate = domain.get(rate_key)
        if rate is not None:
            names[key] = f"{names[key]} (majority rate {rate:.2f})"
    return names


def comparison_view(table: pd.DataFrame, names: Mapping[str, str] | None = None) -> pd.DataFrame:
    """The :func:`compare` table for reading: one row per metric, one column per run and for
    the difference, cells "value [low, high]" ("n/a" when unavailable)."""

    def cell(row: pd.Series) -> str:
        if pd.isna(row["value"]):
            return "n/a"
        if row["metric"] == "distinct_captions":
            return f"{row['value']:+.0f}" if row["kind"] == "difference" else f"{row['value']:.0f}"
        bounds = "" if pd.isna(row["low"]) else f" [{row['low']:.3f}, {row['high']:.3f}]"
        return f"{row['value']:.3f}{bounds}"

    view = table.assign(cell=table.apply(cell, axis=1)).pivot(
        index="metric", columns="run", values="cell"
    )
    view = view.loc[list(dict.fromkeys(table["metric"])), list(dict.fromkeys(table["run"]))]
    view.index = [(names or {}).get(key, key) for key in view.index]
    view.columns.name = None
    return view


def diversity_table(runs: Mapping[str, Results]) -> pd.DataFrame:
    """One row per run: distinct captions and 4-grams, vocabulary, mean lengths."""
    rows = {name: run.summary["diversity"] for name, run in runs.items()}
    return pd.DataFrame.from_dict(rows, orient="index")


def domain_table(runs: Mapping[str, Results]) -> pd.DataFrame:
    """One row per run: recall per class, balanced accuracy and majority rate of the
    deformation and atmosphere statements."""
    rows = {}
    for name, run in runs.items():
        domain = run.summary["domain"]
        row = {}
        for fact in ("deformation", "atmospheric"):
            for kind, recall in domain[f"{fact}_recall"].items():
                row[f"{fact} recall ({kind})"] = recall
            row[f"{fact} balanced accuracy"] = domain[f"{fact}_balanced_accuracy"]
            row[f"{fact} accuracy"] = domain[f"{fact}_accuracy"]
            row[f"{fact} majority rate"] = domain[f"{fact}_majority_rate"]
        rows[name] = row
    return pd.DataFrame(rows).T.astype(float)


def activity_table(results: Results) -> pd.DataFrame:
    """Per activity type: precision, recall, support (images annotated with it), named."""
    return pd.DataFrame.from_dict(results.summary["domain"]["activity_types"], orient="index")


def collapse_warnings(runs: Mapping[str, Results]) -> list[str]:
    """Warn (``warnings.warn``, shown in notebooks) for every run whose summary notes a collapse;
    the majority baseline is collapsed by design and left out. Returns the messages."""
    messages = [
        f"{name}: {note}"
        for name, run in runs.items()
        if run.summary.get("baseline") != "majority"
        for note in run.summary["notes"]
        if note.startswith("COLLAPSED")
    ]
    for message in messages:
        warnings.warn(message, stacklevel=2)
    return messages


__all__ = [
    "COLUMNS",
    "DIVERSITY_METRICS",
    "activity_table",
    "aligned",
    "check_comparable",
    "collapse_warnings",
    "compare",
    "comparison_view",
    "diversity_table",
    "domain_table",
    "metric_names",
    "paired_rows",
    "save_comparison",
]
