"""Side-by-side comparisons: intervals, a collapsed captioner exposed, mismatches refused."""

from __future__ import annotations

import warnings

import pandas as pd
import pytest
from evaluation_fixtures import fake_scorer, make_record

from helpers.config import load_config
from helpers.eval import metrics
from helpers.eval.comparison import (
    collapse_warnings,
    compare,
    comparison_view,
    diversity_table,
    metric_names,
    paired_rows,
)
from helpers.eval.results import build_results

DYKE = "Ground deformation caused by a dyke can be detected."
NONE = "No deformation activity can be detected."


@pytest.fixture(autouse=True)
def no_java(monkeypatch):
    monkeypatch.setattr(metrics.shutil, "which", lambda name: None)


def _records(n=10):
    """90% deformation: nine dyke images, one without deformation."""
    records = [
        make_record(i, f"A dyke deforms the flank at site {i}.", types=("Dyke",))
        for i in range(n - 1)
    ]
    return records + [make_record(n - 1, NONE, "Non_Deformation")]


def _run(captions, records=None, scorer=None, **overrides):
    cfg = load_config("smoke", bootstrap_resamples=300, **overrides)
    records = records or _records()
    return build_results(records, captions, cfg, scorer or fake_scorer(), data_synthetic=True)


def test_a_collapsed_captioner_is_exposed():
    collapsed = _run([DYKE] * 10)
    summary = collapsed.summary
    assert summary["diversity"]["distinct_share"] == pytest.approx(1 / 10)
    assert summary["domain"]["deformation_accuracy"] == pytest.approx(0.9)
    assert summary["domain"]["deformation_balanced_accuracy"] == pytest.approx(0.5)
    assert any(n.startswith("COLLAPSED CAPTIONER: only 1 distinct") for n in summary["notes"])

    honest = _run([f"A dyke deforms the flank at site {i}." for i in range(9)] + [NONE])
    runs = {"collapsed": collapsed, "honest": honest}
    view = comparison_view(compare(runs), metric_names(collapsed.summary))
    plain = "deformation stated right (majority rate 0.90)"
    assert view.loc[plain, "collapsed"].startswith("0.900 [")
    assert view.loc["deformation, balanced accuracy", "collapsed"].startswith("0.500 [")
    assert view.loc["distinct captions", "collapsed"] == "1"
    assert view.loc["distinct captions", "honest"] == "10"
    with pytest.warns(UserWarning, match="collapsed: COLLAPSED CAPTIONER"):
        assert len(collapse_warnings(runs)) == 1
    assert diversity_table(runs).loc["collapsed", "distinct_captions"] == 1


def test_compare_gives_intervals_and_the_paired_difference():
    before = _run([NONE] * 10)
    after = _run([f"A dyke deforms the flank at site {i}." for i in range(9)] + [NONE])
    table = compare({"zero-shot": before, "fine-tuned": after})
    rows = table.set_index(["run", "metric"])
    bert = rows.loc[("fine-tuned", "bertscore_f1")]
    assert bert["value"] == pytest.approx(1.0) and bert["low"] == bert["high"] == 1.0
    change = rows.loc[("fine-tuned - zero-shot", "bertscore_f1")]
    assert change["value"] == pytest.approx(0.45)  # 0.5 -> 1.0 on 9 images of 10
    assert change["low"] <= 0.45 <= change["high"] and change["low"] > 0
    assert set(table["kind"]) == {"run", "difference"}
    assert pd.isna(rows.loc[("zero-shot", "meteor"), "value"])  # kept, not dropped
    view = comparison_view(table)
    assert list(view.columns) == ["zero-shot", "fine-tuned", "fine-tuned - zero-shot"]
    assert view.loc["meteor", "zero-shot"] == "n/a"


def test_identical_runs_differ_by_zero_with_a_zero_width_interval():
    run = _run([DYKE] * 5 + [NONE] * 5)
    table = compare({"a": run, "b": _run([DYKE] * 5 + [NONE] * 5)})
    changes = table[table["kind"] == "difference"].dropna(subset=["low"])
    assert len(changes) >= 8
    assert (changes[["value", "low", "high"]] == 0).all().all()


def test_compare_aligns_runs_listed_in_another_order():
    records = _records()
    captions = [f"A dyke deforms the flank at site {i}." for i in range(9)] + [NONE]
    forward = _run(captions, records)
    backward = _run(captions[::-1], records[::-1])
    changes = compare({"f": forward, "b": backward})
    assert (changes[changes["kind"] == "difference"]["value"].dropna() == 0).all()


def test_compare_refuses_other_images():
    records = _records()
    other = _run([DYKE] * 10, records[:9] + [make_record(99, NONE, "Non_Deformation")])
    with pytest.raises(ValueError, match="different images: 1 only in b .*'99'.*1 only in a"):
        compare({"a": _run([DYKE] * 10, records), "b": other})
    with pytest.raises(ValueError, match="different images"):
        compare({"a": _run([DYKE] * 10), "b": _run([DYKE] * 9, records[:9])})


def test_compare_refuses_other_bertscore_models():
    with pytest.raises(ValueError, match="different BERTScore models"):
        compare({"a": _run([DYKE] * 10), "b": _run([DYKE] * 10, scorer=fake_scorer("other"))})


def test_compare_refuses_a_table_missing_rows():
    run = _run([DYKE] * 10)
    truncated = type(run)(run.table.iloc[:9], run.summary, run.output_dir)
    with pytest.raises(ValueError, match="b: its table does not hold exactly the images"):
        compare({"a": run, "b": truncated})


def test_compare_warns_when_decoding_differs_but_not_for_baselines():
    with pytest.warns(UserWarning, match="different settings.*num_beams"):
        compare({"a": _run([DYKE] * 10), "b": _run([DYKE] * 10, num_beams=3)})
    cfg = load_config("smoke", num_beams=5, bootstrap_resamples=10)
    baseline = build_results(_records(), [DYKE] * 10, cfg, fake_scorer(), baseline="majority")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        compare({"a": _run([DYKE] * 10), "majority": baseline})


def test_paired_rows_keep_every_row_or_refuse():
    before = pd.DataFrame({"image_id": ["1", "2", "3"], "generated": ["a", "b", "c"]})
    after = pd.DataFrame({"image_id": ["3", "1", "2"], "generated": ["C", "A", "B"]})
    joined = paired_rows(before, after)
    assert joined["image_id"].tolist() == ["1", "2", "3"]
    assert joined["generated_after"].tolist() == ["A", "B", "C"]
    with pytest.raises(ValueError, match="different images"):
        paired_rows(before, after.iloc[:2])
    with pytest.raises(ValueError, match="different images"):
        paired_rows(before.iloc[:2], after)
    with pytest.raises(ValueError):
        paired_rows(before, pd.concat([after, after.iloc[:1]]))
