"""Bootstrap 95% intervals over test images, for one run and for a paired difference of two.

A resample draws N test images with replacement (N = the test set size); it is represented by
how often each image is drawn (a row of ``weights``), so every statistic is a weighted sum and
1,000 resamples cost a few matrix products. The interval is the percentile interval
(2.5th..97.5th percentile of the resampled values); the seed makes it reproducible. A paired
difference (after minus before on the same images) uses the same resamples for both runs, so
two identical runs differ by exactly 0 with a zero-width interval.

What is resampled for each headline metric (:func:`headline_statistics`):

- BERTScore F1, ROUGE-L, the domain accuracies: the mean of the per-image values (images a
  score does not judge, e.g. activity type without deformation, are left out of the mean);
- balanced accuracies: recomputed per resample from the per-image verdicts and classes;
- BLEU-1 and BLEU-4: corpus BLEU recomputed per resample from per-image n-gram counts
  (``metrics.bleu_statistics``), exactly as pycocoevalcap pools them;
- CIDEr-D: the **per-image mean with the idf held fixed** at the whole test set's (CIDEr-D's
  corpus value is that mean); the interval leaves out the idf's own sampling variability;
- METEOR: no interval (its corpus value pools the Java scorer's statistics).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from helpers.eval.domain_scores import atmospheric_classes, balanced_accuracy
from helpers.eval.metrics import INTEL_BERTSCORE_COLUMN, bleu_statistics, corpus_bleu

Statistic = Callable[[np.ndarray], np.ndarray]  # weights (k, N) -> one value per row
LEVEL = 0.95
CIDER_METHOD = "per-image mean, idf fixed on the whole test set"


@dataclass(frozen=True)
class Interval:
    """A point estimate and its bootstrap interval (None where undefined)."""

    value: float | None
    low: float | None
    high: float | None

    def to_dict(self) -> dict[str, float | None]:
        return {"value": self.value, "low": self.low, "high": self.high}


def resample_weights(n: int, resamples: int, seed: int) -> np.ndarray:
    """How often each of ``n`` images is drawn, one row per resample (seeded)."""
    if n < 1 or resamples < 1:
        raise ValueError(f"need at least one image and one resample (got {n}, {resamples})")
    rng = np.random.default_rng(seed)
    return rng.multinomial(n, np.full(n, 1.0 / n), size=resamples).astype(float)


def mean_of(values: pd.Series | np.ndarray) -> Statistic:
    """The mean of per-image values, NaN/NA left out."""
    array = pd.to_numeric(pd.Series(values), errors="coerce").to_numpy(dtype=float)
    judged = ~np.isnan(array)
    filled = np.where(judged, array, 0.0)

    def statistic(weights: np.ndarray) -> np.ndarray:
        count = weights @ judged
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(count > 0, (weights @ filled) / count, np.nan)

    return statistic


def interval(statistic: Statistic, weights: np.ndarray, level: float = LEVEL) -> Interval:
    """Point estimate (every image once) and percentile interval over the rows of ``weights``."""
    point = float(statistic(np.ones((1, weights.shape[1])))[0])
    if np.isnan(point):
        return Interval(None, None, None)
    values = statistic(weights)
    values = values[~np.isnan(values)]
    tail = 100 * (1 - level) / 2
    low, high = np.percentile(values, [tail, 100 - tail])
    return Interval(point, float(low), float(high))


def difference(after: Statistic, before: Statistic) -> Statistic:
    """The paired difference ``after - before`` on the same resamples."""
    return lambda weights: after(weights) - before(weights)


def headline_statistics(table: pd.DataFrame) -> dict[str, Statistic]:
    """The resampled statistic of each headline metric of a results table (metric key ->
    statistic; see the module docstring)."""
    bleu = bleu_statistics(list(table["reference"]), list(table["generated"].fillna("")))
    statistics: dict[str, Statistic] = {
        "bertscore_f1": mean_of(table["bertscore_f1"]),
        "bleu_1": lambda w: corpus_bleu(bleu, w)[:, 0],
        "bleu_4": lambda w: corpus_bleu(bleu, w)[:, 3],
        "rouge_l": mean_of(table["rouge_l"]),
        "cider": mean_of(table["cider"]),
    }
    if INTEL_BERTSCORE_COLUMN in table.columns:  # the Intel sample's scorer, in full
        statistics[INTEL_BERTSCORE_COLUMN] = mean_of(table[INTEL_BERTSCORE_COLUMN])
    for name in ("deformation", "activity", "atmospheric"):
        statistics[f"{name}_accuracy"] = mean_of(table[f"{name}_correct"].astype("Float64"))
    for name, classes in (
        ("deformation", table["deformation_annotated"].astype(str).to_numpy()),
        ("atmospheric", atmospheric_classes(table)),
    ):
        correct = table[f"{name}_correct"].astype(bool).to_numpy()
        statistics[f"{name}_balanced_accuracy"] = _balanced(correct, classes)
    return statistics


def _balanced(correct: np.ndarray, classes: np.ndarray) -> Statistic:
    return lambda weights: balanced_accuracy(correct, classes, weights)


def headline_intervals(
    table: pd.DataFrame, resamples: int, seed: int, level: float = LEVEL
) -> dict[str, dict[str, float | None]]:
    """Bootstrap intervals of every headline metric of one results table."""
    weights = resample_weights(len(table), resamples, seed)
    return {
        key: interval(statistic, weights, level).to_dict()
        for key, statistic in headline_statistics(table).items()
    }


def paired_intervals(
    after: pd.DataFrame, before: pd.DataFrame, resamples: int, seed: int, level: float = LEVEL
) -> dict[str, dict[str, float | None]]:
    """Intervals of ``after - before`` per headline metric; the tables hold the same images in
    the same order (``helpers.eval.comparison.aligned`` makes sure)."""
    if list(after["image_id"]) != list(before["image_id"]):
        raise ValueError("paired intervals need the same images in the same order")
    weights = resample_weights(len(after), resamples, seed)
    new, old = headline_statistics(after), headline_statistics(before)
    return {key: interval(difference(new[key], old[key]), weights, level).to_dict() for key in new}


def bootstrap_settings(resamples: int, seed: int, level: float = LEVEL) -> Mapping[str, object]:
    """What a summary records about its intervals."""
    return {
        "resamples": resamples,
        "seed": seed,
        "level": level,
        "method": "percentile bootstrap over test images",
        "cider": CIDER_METHOD,
        "meteor": "no interval",
    }


__all__ = [
    "CIDER_METHOD",
    "Interval",
    "bootstrap_settings",
    "difference",
    "headline_intervals",
    "headline_statistics",
    "interval",
    "mean_of",
    "paired_intervals",
    "resample_weights",
]
