"""Scores of the domain check (``helpers.eval.domain_facts``): plain and class-balanced.

Plain accuracy flatters a captioner that always says the same thing: 93% of Intel's real test
images have deformation, so "deformation can be detected" on every image is 93% "accurate".
:func:`summarize_facts` therefore reports, next to each plain accuracy, its **majority rate**
(the accuracy of the best constant answer on the same images) and class-balanced scores:

- deformation: recall per annotated class (present / absent) and their mean, the balanced
  accuracy (0.5 for any constant answer, whatever the class balance);
- activity types (images with deformation or naming a type): per type, precision (of the
  captions naming it, the share annotated with it), recall (of the images annotated with it, the
  share whose caption names it) and support (images annotated with it); a caption naming several
  types counts for each. The activity majority rate is the best of "always name type T" and
  "never name a type" (see ``domain_facts`` for when that is right);
- atmospheric fringes: recall per class (annotated level > 0 = present, 0 = absent) and the
  balanced accuracy.

Classes that do not occur in the data are left out of the balanced mean (and their recall is
None). :func:`confusion_counts` gives the tables behind ``domain_confusion.png``. Every
function takes the per-image table of :func:`helpers.eval.domain_facts.check_captions`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np
import pandas as pd

from helpers.eval.domain_facts import (
    ABSENT,
    ACTIVITY_TYPES,
    CONTRADICTORY,
    NOT_STATED,
    PRESENT,
    TYPE_SEPARATOR,
)

CLASSES = (PRESENT, ABSENT)


def atmospheric_classes(table: pd.DataFrame) -> np.ndarray:
    """The annotated atmosphere class per image: "present" (level > 0) or "absent"."""
    levels = pd.to_numeric(table["atmospheric_annotated"]).to_numpy()
    return np.where(levels > 0, PRESENT, ABSENT)


def class_recalls(
    correct: Sequence[bool], classes: Sequence[str], weights: np.ndarray | None = None
) -> np.ndarray:
    """Recall of each of ``CLASSES`` (columns) per row of ``weights`` (how often each image
    counts; None = once). NaN where a class has no image."""
    correct = np.asarray(correct, dtype=float)
    classes = np.asarray(classes)
    weights = np.ones((1, len(correct))) if weights is None else np.atleast_2d(weights)
    recalls = []
    for name in CLASSES:
        members = (classes == name).astype(float)
        support = weights @ members
        with np.errstate(invalid="ignore", divide="ignore"):
            recalls.append(np.where(support > 0, (weights @ (members * correct)) / support, np.nan))
    return np.stack(recalls, axis=1)


def balanced_accuracy(
    correct: Sequence[bool], classes: Sequence[str], weights: np.ndarray | None = None
) -> np.ndarray:
    """Mean recall over the classes present, per row of ``weights`` (see :func:`class_recalls`)."""
    recalls = class_recalls(correct, classes, weights)
    present = ~np.isnan(recalls)
    return np.where(present.any(axis=1), np.nansum(recalls, axis=1) / present.sum(axis=1), np.nan)


def _class_scores(name: str, correct: pd.Series, classes: np.ndarray) -> dict[str, object]:
    recalls = class_recalls(correct.astype(bool).to_numpy(), classes)[0]
    support = {c: int((classes == c).sum()) for c in CLASSES}
    return {
        f"{name}_accuracy": _mean(correct),
        f"{name}_majority_rate": max(support.values()) / len(classes) if len(classes) else None,
        f"{name}_balanced_accuracy": _none_if_nan(balanced_accuracy(correct, classes)[0]),
        f"{name}_recall": {c: _none_if_nan(r) for c, r in zip(CLASSES, recalls, strict=True)},
        f"{name}_support": support,
    }


def _types(cells: pd.Series) -> list[set[str]]:
    return [set(filter(None, str(cell).split(TYPE_SEPARATOR))) for cell in cells.fillna("")]


def activity_scores(table: pd.DataFrame) -> dict[str, dict[str, float | int | None]]:
    """Per activity type: precision, recall, support (annotated) and named (captions naming it).

    Only images with annotated deformation carry annotated types; naming a type on an image
    without deformation is a false positive."""
    deformed = (table["deformation_annotated"] == PRESENT).to_numpy()
    annotated = [
        t if d else set()
        for t, d in zip(_types(table["activity_annotated"]), deformed, strict=True)
    ]
    named = _types(table["activity_read"])
    types = list(ACTIVITY_TYPES) + sorted(set().union(*annotated, *named) - set(ACTIVITY_TYPES))
    scores = {}
    for kind in types:
        truth = np.array([kind in t for t in annotated])
        said = np.array([kind in n for n in named])
        hits = int((truth & said).sum())
        scores[kind] = {
            "precision": hits / said.sum() if said.any() else None,
            "recall": hits / truth.sum() if truth.any() else None,
            "support": int(truth.sum()),
            "named": int(said.sum()),
        }
    return scores


def activity_majority_rate(table: pd.DataFrame) -> float | None:
    """The activity accuracy of the best constant answer: always name one type, or never name
    any (right where only "Unidentified" or no type is annotated)."""
    judged = table["activity_correct"].notna().to_numpy()
    cells = _types(table["activity_annotated"])
    annotated = [t for t, j in zip(cells, judged, strict=True) if j]
    if not annotated:
        return None
    rates = [sum(kind in t for t in annotated) for kind in ACTIVITY_TYPES]
    rates.append(sum(t <= {"Unidentified"} for t in annotated))
    return max(rates) / len(annotated)


def confusion_counts(table: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Image counts of what captions state against what is annotated (rows: annotated).

    Deformation: columns present / absent / not stated / contradictory. Activity: rows are the
    annotated types plus "no deformation", columns the named types plus "none named"; an image
    counts once per (annotated type, named type) pair (a deformation image without an annotated
    type counts as Unidentified)."""
    deformation = pd.crosstab(table["deformation_annotated"], table["deformation_read"])
    deformation = deformation.reindex(
        index=list(CLASSES), columns=[*CLASSES, NOT_STATED, CONTRADICTORY], fill_value=0
    )
    pairs: Counter[tuple[str, str]] = Counter()
    deformed = table["deformation_annotated"] == PRESENT
    annotated_types, named_types = (
        _types(table["activity_annotated"]),
        _types(table["activity_read"]),
    )
    for annotated, named, has_deformation in zip(
        annotated_types, named_types, deformed, strict=True
    ):
        truths = (annotated or {"Unidentified"}) if has_deformation else {"no deformation"}
        pairs.update((truth, said) for truth in truths for said in named or {"none named"})
    extra = sorted(
        {t for pair in pairs for t in pair} - {*ACTIVITY_TYPES, "none named", "no deformation"}
    )
    rows = [*ACTIVITY_TYPES, *extra, "no deformation"]
    columns = [*ACTIVITY_TYPES, *extra, "none named"]
    activity = pd.DataFrame(
        [[pairs[(truth, said)] for said in columns] for truth in rows], index=rows, columns=columns
    )
    deformation.index.name, activity.index.name = "annotated", "annotated"
    return deformation, activity


def summarize_facts(table: pd.DataFrame) -> dict[str, object]:
    """Plain accuracies with their majority rates, class-balanced scores and per-type scores
    of a :func:`~helpers.eval.domain_facts.check_captions` table (None = undefined)."""
    deformation_classes = table["deformation_annotated"].astype(str).to_numpy()
    return {
        **_class_scores("deformation", table["deformation_correct"], deformation_classes),
        "activity_accuracy": _mean(table["activity_correct"]),
        "activity_majority_rate": activity_majority_rate(table),
        "activity_types": activity_scores(table),
        **_class_scores("atmospheric", table["atmospheric_correct"], atmospheric_classes(table)),
        "num_samples": len(table),
        "num_with_deformation": int(table["activity_correct"].notna().sum()),
    }


def _mean(column: pd.Series) -> float | None:
    judged = column.dropna()
    return float(judged.astype(float).mean()) if len(judged) else None


def _none_if_nan(value: float) -> float | None:
    return None if np.isnan(value) else float(value)


__all__ = [
    "CLASSES",
    "activity_majority_rate",
    "activity_scores",
    "atmospheric_classes",
    "balanced_accuracy",
    "class_recalls",
    "confusion_counts",
    "summarize_facts",
]
