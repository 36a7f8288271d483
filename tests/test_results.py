"""Result files: table assembly, CSV/JSON schema, atomic writes, readers and their errors.

BERTScore is faked here (the real model is tested in test_metrics.py) and Java is hidden.
"""

from __future__ import annotations

import json
import os

import pytest
import torch

from helpers import metrics
from helpers.config import load_config
from helpers.domain_facts import DOMAIN_COLUMNS
from helpers.metrics import METRIC_COLUMNS, BertScoreModel, ScorerInfo
from helpers.results import (
    RESULT_COLUMNS,
    SUMMARY_KEYS,
    build_results,
    load_results,
    load_summary,
    save_results,
    write_results,
    write_summary,
)

IDS = [101, 102, 103]
REFERENCES = [
    "Ground deformation caused by a dyke can be detected.",
    "Turbulent atmospheric fringes can be detected around the area. No deformation activity "
    "can be detected.",
    "No deformation activity can be detected.",
]
GENERATED = ["Ground deformation caused by a dyke can be detected.", "", "NA"]
ANNOTATIONS = [
    {"label": ["Deformation"], "activity_type": ["Dyke"], "atmospheric_fringes": 0},
    {"label": ["Non_Deformation"], "activity_type": [], "atmospheric_fringes": 2},
    {"label": ["Non_Deformation"], "activity_type": [], "atmospheric_fringes": 0},
]


class FakeBERTScorer:
    """P = R = F = 1 for an exact match, else 0.5."""

    def score(self, cands, refs, batch_size=64):
        values = torch.tensor([1.0 if c == r[0] else 0.5 for c, r in zip(cands, refs, strict=True)])
        return values, values, values


@pytest.fixture(autouse=True)
def no_java(monkeypatch):
    monkeypatch.setattr(metrics.shutil, "which", lambda name: None)


@pytest.fixture
def scorer():
    return BertScoreModel(FakeBERTScorer(), ScorerInfo("fake-bert", 3))


@pytest.fixture
def built(scorer, tmp_path):
    cfg = load_config("smoke", output_dir=tmp_path / "assets")
    return build_results(IDS, REFERENCES, GENERATED, ANNOTATIONS, cfg, scorer, data_synthetic=True)


def test_table_has_the_schema_and_one_row_per_image(built):
    table = built.table
    assert list(table.columns) == list(RESULT_COLUMNS)
    assert RESULT_COLUMNS[:6] == (
        "image_id",
        "reference",
        "generated",
        "bertscore_precision",
        "bertscore_recall",
        "bertscore_f1",
    )
    assert set(METRIC_COLUMNS) | set(DOMAIN_COLUMNS) <= set(RESULT_COLUMNS)
    assert table["image_id"].tolist() == ["101", "102", "103"]
    assert table["bertscore_f1"].tolist() == [1.0, 0.0, 0.5]  # empty caption scores 0
    assert table["deformation_read"].tolist() == ["present", "not stated", "not stated"]
    assert table["deformation_correct"].tolist() == [True, False, False]
    assert table["profile"].unique().tolist() == ["smoke"]
    assert table["stand_in"].all()
    assert table["meteor"].isna().all()


def test_summary_records_run_settings_and_stand_in(built):
    summary = built.summary
    assert set(SUMMARY_KEYS) <= set(summary)
    assert summary["profile"] == "smoke" and summary["stand_in"] and summary["data_synthetic"]
    assert summary["note"].endswith(
        "SYNTHETIC stand-in data + model trained from random init: not a Hephaestus result"
    )
    assert summary["model_name"] == "random:tiny"
    assert summary["num_samples"] == 3
    assert summary["decoding"] == {
        "num_beams": 1,
        "max_new_tokens": 12,
        "repetition_penalty": 1.0,
        "no_repeat_ngram_size": 0,
        "length_penalty": 1.0,
        "decoding_source": "fine-tuned defaults",
    }
    assert summary["bertscore_model"]["model"] == "fake-bert"
    assert summary["metrics"]["bertscore_f1"] == pytest.approx(0.5)
    assert summary["metrics"]["meteor"] is None
    assert any("METEOR unavailable" in note for note in summary["notes"])
    assert summary["domain"]["deformation_accuracy"] == pytest.approx(1 / 3)


def test_model_folder_is_recorded_by_name(scorer, tmp_path):
    cfg = load_config("smoke")
    model = str(tmp_path / "checkpoints" / "best")
    built = build_results(IDS, REFERENCES, GENERATED, ANNOTATIONS, cfg, scorer, model=model)
    assert built.summary["model_name"] == "best"


def test_save_and_load_round_trip(built, tmp_path):
    csv_path, json_path = save_results(built, "before_training")
    assert csv_path == tmp_path / "assets" / "results_before_training.csv"
    assert json_path == tmp_path / "assets" / "metrics_before_training.json"
    assert sorted(p.name for p in csv_path.parent.iterdir()) == [json_path.name, csv_path.name]

    table = load_results(csv_path)
    assert list(table.columns) == list(RESULT_COLUMNS)
    assert table["generated"].tolist() == GENERATED  # "" and "NA" stay text
    assert table["image_id"].tolist() == ["101", "102", "103"]
    assert table["bertscore_f1"].tolist() == built.table["bertscore_f1"].tolist()
    assert table["activity_correct"].isna().tolist() == [False, True, True]
    assert table["deformation_correct"].tolist() == [True, False, False]
    assert table["meteor"].isna().all()

    summary = load_summary(json_path)
    assert summary["stage"] == "before_training"
    assert summary == json.loads(json.dumps({"stage": "before_training", **built.summary}))
    json.loads(json_path.read_text(), parse_constant=pytest.fail)  # no NaN/Infinity


def test_save_into_another_folder(built, tmp_path):
    csv_path, _ = save_results(built, "after_training", tmp_path / "elsewhere")
    assert csv_path == tmp_path / "elsewhere" / "results_after_training.csv"
    with pytest.raises(ValueError, match="Stage 'after training'"):
        save_results(built, "after training")


def test_summary_nan_becomes_null(built, tmp_path):
    summary = {**built.summary, "metrics": {"cider": float("nan")}}
    path = write_summary(summary, tmp_path / "m.json")
    assert json.loads(path.read_text())["metrics"] == {"cider": None}


def test_writes_are_atomic(built, tmp_path, monkeypatch):
    path = write_results(built.table, tmp_path / "results.csv")
    before = path.read_text()

    def crash(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="disk full"):
        write_results(built.table.iloc[:1], path)
    assert path.read_text() == before  # the old file is intact
    assert [p.name for p in tmp_path.iterdir()] == ["results.csv"]  # no temp file left


def test_load_results_names_file_and_missing_columns(built, tmp_path):
    path = tmp_path / "old.csv"
    built.table.drop(columns=["bertscore_f1", "cider"]).to_csv(path, index=False)
    with pytest.raises(ValueError, match=r"old\.csv: missing column\(s\): bertscore_f1, cider"):
        load_results(path)
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(ValueError, match=r"empty\.csv: not a results CSV"):
        load_results(tmp_path / "empty.csv")
    with pytest.raises(FileNotFoundError, match="nowhere.csv"):
        load_results(tmp_path / "nowhere.csv")


def test_writers_refuse_incomplete_data(built, tmp_path):
    with pytest.raises(ValueError, match=r"missing column\(s\): profile"):
        write_results(built.table.drop(columns=["profile"]), tmp_path / "r.csv")
    with pytest.raises(ValueError, match=r"m\.json: missing key\(s\): note"):
        write_summary({k: v for k, v in built.summary.items() if k != "note"}, tmp_path / "m.json")
    assert not list(tmp_path.iterdir())


def test_load_summary_errors(tmp_path):
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(ValueError, match=r"bad\.json: not valid JSON"):
        load_summary(tmp_path / "bad.json")
    (tmp_path / "list.json").write_text("[]")
    with pytest.raises(ValueError, match="expected a JSON object"):
        load_summary(tmp_path / "list.json")
    (tmp_path / "partial.json").write_text('{"profile": "demo"}')
    with pytest.raises(ValueError, match=r"partial\.json: missing key\(s\): stand_in"):
        load_summary(tmp_path / "partial.json")


def test_length_mismatch_is_an_error(scorer):
    with pytest.raises(ValueError, match=r"annotations \(2\) differ in length"):
        build_results(IDS, REFERENCES, GENERATED, ANNOTATIONS[:2], load_config("smoke"), scorer)
