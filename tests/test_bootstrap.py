"""Bootstrap intervals: seeded, around the estimate, narrower with more images, exact pairing."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from evaluation_fixtures import fake_scorer, make_record

from helpers.config import load_config
from helpers.eval import metrics
from helpers.eval.bootstrap import (
    headline_intervals,
    interval,
    mean_of,
    paired_intervals,
    resample_weights,
)
from helpers.eval.results import build_results


@pytest.fixture(autouse=True)
def no_java(monkeypatch):
    monkeypatch.setattr(metrics.shutil, "which", lambda name: None)


def _scores(n, seed=0):
    return np.random.default_rng(seed).uniform(0, 1, n)


def test_interval_holds_the_estimate_and_is_seeded():
    values = _scores(60)
    weights = resample_weights(60, 1000, seed=7)
    result = interval(mean_of(values), weights)
    assert result.value == pytest.approx(values.mean())
    assert result.low < result.value < result.high
    assert interval(mean_of(values), resample_weights(60, 1000, seed=7)) == result
    assert interval(mean_of(values), resample_weights(60, 1000, seed=8)) != result
    assert (resample_weights(60, 1000, seed=7).sum(axis=1) == 60).all()  # N draws each


def test_interval_narrows_as_the_test_set_grows():
    widths = []
    for n in (30, 300, 3000):
        result = interval(mean_of(_scores(n)), resample_weights(n, 1000, seed=0))
        widths.append(result.high - result.low)
    assert widths[0] > widths[1] > widths[2]
    assert widths[0] / widths[2] == pytest.approx(10, rel=0.3)  # about 1 / sqrt(N)


def test_mean_leaves_out_unjudged_images():
    values = pd.Series([1.0, None, 0.0, None], dtype="Float64")
    assert interval(mean_of(values), resample_weights(4, 200, 0)).value == 0.5
    assert interval(mean_of([np.nan, np.nan]), resample_weights(2, 10, 0)).value is None


def _results(captions, n=None, seed=42):
    references = [
        f"ground deformation caused by a dyke number {i} can be detected" for i in range(8)
    ]
    records = [
        make_record(
            i,
            references[i],
            types=("Dyke",) if i % 4 else (),
            label="Deformation" if i % 4 else "Non_Deformation",
        )
        for i in range(len(captions))
    ]
    cfg = load_config("smoke", bootstrap_seed=seed)
    return build_results(records, captions, cfg, fake_scorer(), data_synthetic=True)


CAPTIONS = [
    "ground deformation caused by a dyke can be detected",
    "no deformation can be detected",
    "a sill deforms the area",
    "ground deformation caused by a dyke number 3 can be detected",
    "turbulent atmosphere",
    "ground deformation caused by a dyke",
    "ground deformation can be detected",
    "deformation",
]


def test_identical_runs_differ_by_exactly_zero():
    run = _results(CAPTIONS).table
    changes = paired_intervals(run, run.copy(), resamples=500, seed=1)
    for key, change in changes.items():
        assert change == {"value": 0.0, "low": 0.0, "high": 0.0}, key


def test_paired_difference_uses_the_same_resamples():
    before = _results(["deformation"] * 8).table
    after = _results(CAPTIONS).table
    changes = paired_intervals(after, before, resamples=1000, seed=3)
    alone = headline_intervals(after, 1000, 3)
    bert = changes["bertscore_f1"]
    # before scores 0.5 on every image, so the difference is after's interval shifted by 0.5
    assert bert["value"] == pytest.approx(alone["bertscore_f1"]["value"] - 0.5)
    assert bert["low"] == pytest.approx(alone["bertscore_f1"]["low"] - 0.5)
    assert bert["high"] == pytest.approx(alone["bertscore_f1"]["high"] - 0.5)
    with pytest.raises(ValueError, match="same images in the same order"):
        paired_intervals(after, before.iloc[::-1], resamples=10, seed=0)


def test_every_headline_interval_holds_its_value():
    summary = _results(CAPTIONS).summary
    for key, bounds in summary["intervals"].items():
        if bounds["value"] is not None:
            assert bounds["low"] <= bounds["value"] <= bounds["high"], key
    assert summary["intervals"]["bleu_4"]["value"] == pytest.approx(summary["metrics"]["bleu_4"])
    balanced = summary["intervals"]["deformation_balanced_accuracy"]
    assert balanced["value"] == pytest.approx(summary["domain"]["deformation_balanced_accuracy"])
