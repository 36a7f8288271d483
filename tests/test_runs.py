import json

import pytest

from helpers.config import load_config
from helpers.device import peak_memory_mb
from helpers.training.checkpoints import write_history
from helpers.training.runs import compare_runs, load_finetuned, pick_checkpoint


def _fake_run(run_dir, trainable, seconds, peak):
    run_dir.mkdir(parents=True)
    rows = [
        {
            "epoch": e,
            "train_loss": 2.0 / e,
            "val_loss": 1.0 + 1 / e,
            "learning_rate": 1e-4,
            "seconds": s,
            "samples_per_second": 10.0,
            "peak_memory_mb": p,
        }
        for e, (s, p) in enumerate(zip(seconds, peak, strict=True), start=1)
    ]
    write_history(run_dir / "history.csv", rows)
    summary = {
        "trainable_parameters": trainable,
        "total_parameters": 1000,
        "device": "cpu",
        "precision": "fp32",
        "epochs_done": 2,
        "best_epoch": 2,
        "best_val_loss": 1.5,
        "stopped_early": False,
    }
    (run_dir / "summary.json").write_text(json.dumps(summary))


def test_compare_runs_lists_costs_and_missing_runs(tmp_path):
    _fake_run(tmp_path / "full", 1000, [10.0, 12.0], [900.0, 950.0])
    _fake_run(tmp_path / "lora", 5, [4.0, 4.0], [400.0, 380.0])
    table = compare_runs(
        {"full": tmp_path / "full", "LoRA": tmp_path / "lora", "other": tmp_path / "nope"}
    )
    assert table.loc["full", "seconds_per_epoch"] == 11.0
    assert table.loc["full", "peak_memory_mb"] == 950.0
    assert table.loc["LoRA", "trainable_share_%"] == 0.5
    assert table.loc["other", "status"].startswith("not run yet")


def test_pick_checkpoint_prefers_a_finished_run(tmp_path):
    cfg = load_config("smoke", run_dir=tmp_path / "run")
    assert pick_checkpoint(cfg) == "random:tiny"
    assert pick_checkpoint(cfg, "some/folder") == "some/folder"
    (tmp_path / "run" / "best").mkdir(parents=True)
    (tmp_path / "run" / "best" / "config.json").write_text("{}")
    assert pick_checkpoint(cfg) == str(tmp_path / "run" / "best")


def test_load_finetuned_names_what_to_run_when_missing(tmp_path):
    cfg = load_config("smoke", run_dir=tmp_path / "run")
    with pytest.raises(FileNotFoundError, match="run notebook 03_finetune.*--profile smoke"):
        load_finetuned(cfg)


def test_peak_memory_on_cpu_is_the_resident_peak():
    before = peak_memory_mb("cpu")
    block = b"\x01" * int((before + 64) * 2**20)  # written, so resident: a new peak
    assert peak_memory_mb("cpu") >= before + 64
    del block
