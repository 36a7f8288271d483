import math

import pytest

from helpers.evaluation import compare, headline, read_summary


def _summary(bert, cider, deformation, meteor=None):
    return {
        "metrics": {
            "bertscore_f1": bert,
            "bleu_1": 0.1,
            "bleu_4": 0.0,
            "meteor": meteor,
            "rouge_l": 0.2,
            "cider": cider,
        },
        "domain": {
            "deformation_accuracy": deformation,
            "activity_accuracy": None,
            "atmospheric_accuracy": 0.5,
        },
    }


def test_headline_names_every_metric_and_keeps_unavailable_ones_as_none():
    values = headline(_summary(0.5, 0.1, 0.4))
    assert values["BERTScore F1"] == 0.5 and values["CIDEr-D"] == 0.1
    assert values["METEOR"] is None and values["activity type right"] is None
    assert values["deformation stated right"] == 0.4


def test_compare_reports_the_change():
    table = compare(_summary(0.5, 0.1, 0.4), _summary(0.8, 2.0, 0.9))
    assert table.loc["BERTScore F1", "change"] == pytest.approx(0.3)
    assert table.loc["CIDEr-D", "after"] == 2.0
    assert table.loc["deformation stated right", "change"] == pytest.approx(0.5)
    assert math.isnan(table.loc["METEOR", "change"])


def test_missing_summary_tells_which_notebook_to_run(tmp_path):
    with pytest.raises(FileNotFoundError, match="metrics_before_training.json is missing: run"):
        read_summary(tmp_path, "before_training")
