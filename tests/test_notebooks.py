"""Every notebook runs top to bottom, in order, in the smoke profile, and writes what it should.

The notebooks run in a scratch workspace (``CAPTION_WORKSPACE``), so the repository's own
``assets/``, ``runs/`` and ``Hephaestus_dataset/`` are left alone.
"""

import json
import os
from pathlib import Path

import nbformat
import pandas as pd
import pytest
from nbclient import NotebookClient
from PIL import Image

from helpers.results import RESULT_COLUMNS

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
ORDER = [
    "01_dataset_tour",
    "02_zero_shot_baseline",
    "03_finetune",
    "04_compare_before_after",
    "05_lora_finetune",
    "06_caption_your_images",
]


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    root = tmp_path_factory.mktemp("workspace")
    saved = {k: os.environ.get(k) for k in ("CAPTION_WORKSPACE", "CAPTION_PROFILE")}
    os.environ.update(CAPTION_WORKSPACE=str(root), CAPTION_PROFILE="smoke")
    yield root
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


def run_notebook(name: str, cwd: Path) -> nbformat.NotebookNode:
    notebook = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    NotebookClient(
        notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(cwd)}}
    ).execute()
    return notebook


def printed_text(notebook: nbformat.NotebookNode) -> str:
    """Everything the notebook's cells printed."""
    return "".join(
        output.get("text", "") for cell in notebook.cells for output in cell.get("outputs", [])
    )


def assert_png(path: Path) -> None:
    assert path.is_file(), f"{path} was not written"
    with Image.open(path) as image:
        assert image.format == "PNG" and image.size[0] > 300


def test_notebooks_are_committed_without_outputs():
    for name in ORDER:
        notebook = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
        for cell in notebook.cells:
            if cell.cell_type == "code":
                assert not cell.outputs and cell.execution_count is None, name


def test_every_notebook_is_tested():
    assert sorted(p.stem for p in NOTEBOOKS.glob("*.ipynb")) == ORDER


def test_notebooks_run_in_order_and_write_their_outputs(workspace):
    assets = workspace / "assets" / "smoke"
    runs = workspace / "runs"

    tour = printed_text(run_notebook("01_dataset_tour", NOTEBOOKS))
    assert (workspace / "Hephaestus_dataset" / "synthetic-smoke" / "split.json").is_file()
    assert "Data layout: zips: images.zip, annotations.zip" in tour
    assert "deformation_share" in tour  # the per-split table
    card = json.loads((assets / "data_card.json").read_text())
    assert card["records_used"] > 0 and "SYNTHETIC" in card["provenance"]
    assert_png(assets / "dataset_examples.png")
    assert_png(assets / "dataset_overview.png")

    run_notebook("02_zero_shot_baseline", NOTEBOOKS)
    before = pd.read_csv(assets / "results_before_training.csv")
    assert list(before.columns) == list(RESULT_COLUMNS) and len(before) > 0
    assert (assets / "metrics_before_training.json").is_file()

    run_notebook("03_finetune", NOTEBOOKS)
    history = pd.read_csv(runs / "smoke" / "history.csv")
    assert len(history) >= 1 and history["val_loss"].notna().all()
    assert (runs / "smoke" / "best" / "config.json").is_file()
    assert_png(assets / "loss_vs_epoch.png")

    run_notebook("04_compare_before_after", NOTEBOOKS)
    after = pd.read_csv(assets / "results_after_training.csv")
    assert list(after.columns) == list(RESULT_COLUMNS)
    assert list(after["image_id"]) == list(before["image_id"])
    for figure in ("bertscore.png", "metrics_comparison.png", "examples.png"):
        assert_png(assets / figure)
    # decoding: the baseline's anti-repetition, a choice made on validation, the defaults too
    decoding = {
        stage: json.loads((assets / f"metrics_{stage}.json").read_text())["decoding"]
        for stage in ("before_training", "after_training", "after_training_defaults")
    }
    assert decoding["before_training"]["no_repeat_ngram_size"] == 3
    assert "validation" in decoding["after_training"]["decoding_source"]
    assert decoding["after_training_defaults"]["decoding_source"] == "fine-tuned defaults"
    assert json.loads((runs / "smoke" / "decoding.json").read_text())["split"] == "validation"

    printed = printed_text(run_notebook("05_lora_finetune", NOTEBOOKS))
    assert "image feature cache:" in printed  # the frozen encoder's features were reused
    assert (runs / "smoke-lora" / "best" / "adapter" / "adapter_config.json").is_file()
    assert (assets / "results_after_lora.csv").is_file()
    assert_png(assets / "loss_vs_epoch_lora.png")

    run_notebook("06_caption_your_images", NOTEBOOKS)
    mine = pd.read_csv(assets / "my_captions.csv")
    assert list(mine.columns) == ["image", "caption"] and len(mine) > 0
