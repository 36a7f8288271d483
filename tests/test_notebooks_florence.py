"""The one-knob model switch: notebooks 02-04 on the Florence-2 stand-in, then notebook 08 with
both families side by side, in the smoke profile (a scratch workspace, as ``test_notebooks``)."""

import json

import pandas as pd
import pytest
from test_notebooks import (
    NOTEBOOKS,
    STAGES,
    check_comparison_outputs,
    check_results_hold_every_test_image,
    check_training_lowered_the_loss,
    printed_text,
    run_notebook,
)

from helpers.config import load_config
from helpers.data.prepare import prepare_dataset


def test_notebooks_02_to_04_and_08_run_with_the_florence_stand_in(workspace, monkeypatch):
    """The one-knob switch: ``CAPTION_MODEL`` (the notebooks' ``MODEL``) runs the same notebooks
    on Florence-2, with its own run folder and results beside BLIP's."""
    monkeypatch.setenv("CAPTION_MODEL", "random:florence-tiny")
    cfg = load_config("smoke")
    assert cfg.run_dir.name == "smoke-florence-tiny"
    with pytest.warns(UserWarning, match="SYNTHETIC STAND-IN DATA"):
        data = prepare_dataset(cfg, progress=False)
    test_ids = [r.unique_id for r in data.test]

    run_notebook("02_zero_shot_baseline", NOTEBOOKS)
    trained = printed_text(run_notebook("03_finetune", NOTEBOOKS))
    assert "Florence2ForConditionalGeneration" in trained
    assert "counted from the tensors saved for backward" in trained
    check_training_lowered_the_loss(cfg.run_dir, cfg.epochs)
    saved = json.loads((cfg.run_dir / "best" / "config.json").read_text())
    assert saved["model_type"] == "florence2" and saved["caption_task"] == cfg.florence_task

    compared = run_notebook("04_compare_before_after", NOTEBOOKS)
    check_comparison_outputs(compared, cfg.output_dir, test_ids)
    after = json.loads((cfg.output_dir / "metrics_after_training.json").read_text())
    assert "random:florence-tiny" in after["note"] and after["stand_in"]
    check_results_hold_every_test_image(cfg.output_dir, test_ids, STAGES - {"after_lora"})

    monkeypatch.delenv("CAPTION_MODEL")  # notebook 08 picks both models itself
    side = printed_text(run_notebook("08_choose_a_model", NOTEBOOKS))
    table = pd.read_csv(load_config("smoke").output_dir / "model_comparison.csv", index_col=0)
    assert list(table.index) == ["random:tiny", "random:florence-tiny"]
    assert {"CIDEr-D", "distinct captions", "image reliance", "seconds per epoch"} <= set(table)
    assert table["CIDEr-D"].str.match(r"\d\.\d{3} \[\d\.\d{3}, \d\.\d{3}\]$").all()
    assert "not a Hephaestus result" in side
