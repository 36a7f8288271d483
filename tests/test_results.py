"""Result files: table assembly, CSV/JSON schema, atomic writes, readers and their errors.

BERTScore is faked here (the real model is tested in test_metrics.py) and Java is hidden.
"""

from __future__ import annotations

import json
import os

import pytest
from evaluation_fixtures import fake_scorer, make_record

from helpers.config import load_config
from helpers.eval import metrics
from helpers.eval.domain_facts import DOMAIN_COLUMNS
from helpers.eval.metrics import METRIC_COLUMNS
from helpers.eval.results import (
    RESULT_COLUMNS,
    SUMMARY_KEYS,
    build_results,
    load_results,
    load_summary,
    save_results,
    write_results,
    write_summary,
)

REFERENCES = [
    "Ground deformation caused by a dyke can be detected.",
    "Turbulent atmospheric fringes can be detected around the area. No deformation activity "
    "can be detected.",
    "No deformation activity can be detected.",
]
GENERATED = ["Ground deformation caused by a dyke can be detected.", "", "NA"]
RECORDS = [
    make_record(101, REFERENCES[0], types=("Dyke",)),
    make_record(102, REFERENCES[1], "Non_Deformation", atmospheric=2),
    make_record(103, REFERENCES[2], "Non_Deformation"),
]


@pytest.fixture(autouse=True)
def no_java(monkeypatch):
    monkeypatch.setattr(metrics.shutil, "which", lambda name: None)


@pytest.fixture
def scorer():
    return fake_scorer()


@pytest.fixture
def built(scorer, tmp_path):
    cfg = load_config("smoke", output_dir=tmp_path / "assets")
    return build_results(RECORDS, GENERATED, cfg, scorer, data_synthetic=True)


def test_table_has_the_schema_and_one_row_per_image(built):
    table = built.table
    assert list(table.columns) == list(RESULT_COLUMNS)
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
    built = build_results(RECORDS, GENERATED, cfg, scorer, model=model)
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
    with pytest.raises(ValueError, match=r"records \(2\) and candidates \(3\) differ in length"):
        build_results(RECORDS[:2], GENERATED, load_config("smoke"), scorer)


def test_summary_lists_images_diversity_and_intervals(built):
    summary = built.summary
    assert summary["image_ids"] == ["101", "102", "103"]
    assert summary["baseline"] is None
    assert summary["diversity"]["distinct_captions"] == 3  # "", "NA" and the dyke sentence
    assert summary["bootstrap"]["resamples"] == 1000 and summary["bootstrap"]["seed"] == 42
    bert = summary["intervals"]["bertscore_f1"]
    assert bert["value"] == pytest.approx(summary["metrics"]["bertscore_f1"])
    assert bert["low"] <= bert["value"] <= bert["high"] and bert["low"] < bert["high"]
    bleu = summary["intervals"]["bleu_4"]  # corpus BLEU recomputed per resample
    assert bleu["value"] == pytest.approx(summary["metrics"]["bleu_4"])
    assert summary["intervals"]["cider"]["value"] == pytest.approx(summary["metrics"]["cider"])
    assert summary["intervals"]["deformation_accuracy"]["value"] == pytest.approx(1 / 3)
    assert summary["intervals"]["activity_accuracy"]["value"] == 1.0  # one judged image
    assert "meteor" not in summary["intervals"]


def test_a_baseline_records_no_decoding(scorer):
    cfg = load_config("smoke", bootstrap_resamples=50)
    built = build_results(RECORDS, GENERATED, cfg, scorer, baseline="majority")
    assert built.summary["baseline"] == "majority" and built.summary["decoding"] is None
    assert built.summary["bootstrap"]["resamples"] == 50
