import pytest
from evaluation_fixtures import fake_scorer, make_record

from helpers.config import load_config
from helpers.eval import metrics
from helpers.eval.results import build_results, save_results
from helpers.eval.scoring import headline, read_results


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
            "deformation_balanced_accuracy": 0.5,
            "activity_accuracy": None,
            "atmospheric_accuracy": 0.5,
        },
    }


def test_headline_names_every_metric_and_keeps_unavailable_ones_as_none():
    values = headline(_summary(0.5, 0.1, 0.4))
    assert values["BERTScore F1"] == 0.5 and values["CIDEr-D"] == 0.1
    assert values["METEOR"] is None and values["activity type right"] is None
    assert values["deformation stated right"] == 0.4
    assert values["deformation, balanced accuracy"] == 0.5
    assert values["atmosphere, balanced accuracy"] is None


def test_read_results_returns_what_was_saved(tmp_path, monkeypatch):
    monkeypatch.setattr(metrics.shutil, "which", lambda name: None)
    cfg = load_config("smoke", output_dir=tmp_path, bootstrap_resamples=20)
    records = [make_record(1, "a dyke"), make_record(2, "no deformation", "Non_Deformation")]
    built = build_results(records, ["a dyke", ""], cfg, fake_scorer())
    save_results(built, "before_training")
    loaded = read_results(tmp_path, "before_training")
    assert loaded.table["image_id"].tolist() == ["1", "2"]
    assert loaded.summary["image_ids"] == ["1", "2"]
    assert loaded.summary["intervals"] == built.summary["intervals"]


def test_missing_results_tell_which_notebook_to_run(tmp_path):
    with pytest.raises(FileNotFoundError, match="results_before_training.csv is missing: run"):
        read_results(tmp_path, "before_training")
