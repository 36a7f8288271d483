"""Every notebook runs top to bottom, in order, in the smoke profile, and writes what it should.

The notebooks run in a scratch workspace (``CAPTION_WORKSPACE``), so the repository's own
``assets/``, ``runs/`` and ``Hephaestus_dataset/`` are left alone.
"""

import importlib.util
import inspect
import json
import math
import re
import sys
from pathlib import Path

import nbformat
import numpy as np
import pandas as pd
import pytest
from nbclient import NotebookClient
from PIL import Image

from helpers.config import load_config
from helpers.data.prepare import prepare_dataset
from helpers.eval.metrics import METRIC_COLUMNS, tokenize
from helpers.eval.results import RESULT_COLUMNS, load_results
from helpers.viz.tour import sample_image_folder

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
ORDER = [
    "01_dataset_tour",
    "02_zero_shot_baseline",
    "03_finetune",
    "04_compare_before_after",
    "05_lora_finetune",
    "06_caption_your_images",
    "07_where_does_the_model_look",
    "08_choose_a_model",
    "09_screen_a_licsar_frame",
]


def run_notebook(name: str, cwd: Path) -> nbformat.NotebookNode:
    notebook = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    NotebookClient(
        notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(cwd)}}
    ).execute()
    return notebook


def printed_text(notebook: nbformat.NotebookNode) -> str:
    """Everything the cells printed or displayed as text (streams, warnings, tables)."""
    texts = []
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            texts.append(output.get("text", ""))
            texts.append(output.get("data", {}).get("text/plain", ""))
    return "\n".join(texts)


def demo_run_module():
    """bench/demo_run.py as a module (its folder on sys.path, as when it runs as a script)."""
    bench = str(NOTEBOOKS.parent / "bench")
    if bench not in sys.path:
        sys.path.insert(0, bench)
    spec = importlib.util.spec_from_file_location(
        "demo_run", NOTEBOOKS.parent / "bench" / "demo_run.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


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
    cfg = load_config("smoke")

    tour = printed_text(run_notebook("01_dataset_tour", NOTEBOOKS))
    assert (workspace / "Hephaestus_dataset" / "synthetic-smoke" / "split.json").is_file()
    with pytest.warns(UserWarning, match="SYNTHETIC STAND-IN DATA"):
        data = prepare_dataset(cfg, progress=False)  # what the notebooks use (prepared by 01)
    test_ids = [r.unique_id for r in data.test]
    assert "Data layout: zips: images.zip, annotations.zip" in tour
    assert "deformation_share" in tour  # the per-split table
    card = json.loads((assets / "data_card.json").read_text())
    assert card["records_used"] == len(data.records_by_id)
    assert "SYNTHETIC" in card["provenance"]
    assert_png(assets / "dataset_examples.png")
    assert_png(assets / "dataset_overview.png")

    run_notebook("02_zero_shot_baseline", NOTEBOOKS)
    before = pd.read_csv(assets / "results_before_training.csv", dtype={"image_id": str})
    assert list(before.columns) == list(RESULT_COLUMNS)
    assert list(before["image_id"]) == test_ids

    trained = printed_text(run_notebook("03_finetune", NOTEBOOKS))
    assert "Estimated peak training memory at batch" in trained and "Free memory now" in trained
    check_training_lowered_the_loss(runs / "smoke", cfg.epochs)
    assert (runs / "smoke" / "best" / "config.json").is_file()
    assert_png(assets / "loss_vs_epoch.png")

    compared = run_notebook("04_compare_before_after", NOTEBOOKS)
    after = pd.read_csv(assets / "results_after_training.csv", dtype={"image_id": str})
    assert list(after.columns) == list(RESULT_COLUMNS)
    assert list(after["image_id"]) == test_ids
    for figure in (
        "bertscore.png",
        "metrics_comparison.png",
        "examples.png",
        "domain_confusion.png",
    ):
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

    check_comparison_outputs(compared, assets, test_ids)

    printed = printed_text(run_notebook("05_lora_finetune", NOTEBOOKS))
    assert "image feature cache:" in printed  # the frozen encoder's features were reused
    assert "Estimated peak training memory at batch" in printed
    assert "LoRA - zero-shot" in printed and "nearest neighbour" in printed
    adapter = json.loads(
        (runs / "smoke-lora" / "best" / "adapter" / "adapter_config.json").read_text()
    )
    assert (adapter["peft_type"], adapter["r"]) == ("LORA", cfg.lora_r)
    assert_png(assets / "loss_vs_epoch_lora.png")

    run_notebook("06_caption_your_images", NOTEBOOKS)
    mine = pd.read_csv(assets / "my_captions.csv")
    count = inspect.signature(sample_image_folder).parameters["count"].default
    assert list(mine.columns) == ["image", "caption"]
    assert sorted(mine["image"]) == sorted(r.image_path.name for r in data.test[:count])

    printed = printed_text(run_notebook("07_where_does_the_model_look", NOTEBOOKS))
    grounding = json.loads((assets / "grounding.json").read_text())
    assert "not a Hephaestus result" in grounding["provenance"]
    assert set(grounding["grounding"]) == {"before_training", "after_training"}
    polygons = sum(r.polygon_count > 0 and r.has_deformation for r in data.test)
    for stage, block in grounding["grounding"].items():
        assert block["images_with_polygons"] == polygons > 0, stage
        assert f"{stage}: {polygons} test images with deformation polygons" in printed
        rows = pd.read_csv(assets / f"grounding_{stage}.csv")
        assert len(rows) == polygons and rows["centre_mass"].between(0, 1).all()
    assert grounding["grounding"]["after_training"]["model"].endswith("best")
    assert_png(assets / "grounding_examples.png")

    check_results_hold_every_test_image(assets, test_ids)


def test_notebook_09_screens_a_synthetic_licsar_frame(workspace):
    printed = printed_text(run_notebook("09_screen_a_licsar_frame", NOTEBOOKS))
    out = workspace / "assets" / "smoke" / "licsar"
    (phase,) = (out / "synthetic_frame").glob("*.geo.diff_pha.tif")
    pair = phase.name.split(".")[0]
    suffixes = (".geo.diff_pha.tif", ".geo.cc.tif", ".synthetic_sources.json")
    assert sorted(p.name for p in phase.parent.iterdir()) == sorted(pair + s for s in suffixes)
    assert "SYNTHETIC stand-in frame" in printed  # what read_licsar saw, said
    table = pd.read_csv(out / f"{pair}_patches.csv")
    assert len(table) >= 4 and table["caption"].notna().all()
    assert table["provenance"].str.contains("SYNTHETIC LiCSAR-shaped frame").all()
    assert_png(out / f"{pair}_screening.png")
    geojson = json.loads((out / f"{pair}_deformation.geojson").read_text())
    assert geojson["type"] == "FeatureCollection"


def check_training_lowered_the_loss(run_dir: Path, epochs: int) -> None:
    """The smoke run (a tiny model from random init) ends below its validation loss before
    training, and ``summary.json`` agrees with ``history.csv``."""
    summary = json.loads((run_dir / "summary.json").read_text())
    history = pd.read_csv(run_dir / "history.csv")
    stopped = summary["stopped_early"]
    assert list(history["epoch"]) == list(range(1, summary["epochs_done"] + 1))
    assert summary["epochs_done"] == epochs or stopped
    assert history["val_loss"].map(math.isfinite).all()
    best = history.loc[history["val_loss"].idxmin()]
    assert (int(best["epoch"]), best["val_loss"]) == (
        summary["best_epoch"],
        pytest.approx(summary["best_val_loss"]),
    )
    assert summary["best_val_loss"] < summary["initial_val_loss"]


# the stages the notebooks score: 02, 04 (model, default decoding, two baselines) and 05
STAGES = {
    "before_training",
    "after_training",
    "after_training_defaults",
    "baseline_majority",
    "baseline_nearest",
    "after_lora",
}


def check_results_hold_every_test_image(
    assets: Path, test_ids: list[str], stages: set[str] = STAGES
) -> None:
    """Every ``metrics_*.json`` and ``results_*.csv`` covers every test image with finite
    metrics (METEOR may be missing as a whole, but only where its summary says so)."""
    summaries = {p.stem.removeprefix("metrics_"): p for p in assets.glob("metrics_*.json")}
    tables = {p.stem.removeprefix("results_"): p for p in assets.glob("results_*.csv")}
    assert set(summaries) == set(tables) == stages
    for stage in sorted(stages):
        summary = json.loads(summaries[stage].read_text())
        assert (summary["image_ids"], summary["num_samples"]) == (test_ids, len(test_ids)), stage
        table = load_results(tables[stage])
        assert list(table["image_id"]) == test_ids, stage
        no_meteor = any(note.startswith("METEOR unavailable") for note in summary["notes"])
        for metric in METRIC_COLUMNS:
            if metric == "meteor" and no_meteor:
                assert summary["metrics"]["meteor"] is None and table["meteor"].isna().all()
                continue
            values = table[metric].to_numpy(dtype=float)
            assert np.isfinite(values).all(), (stage, metric)
            assert math.isfinite(summary["metrics"][metric]), (stage, metric)


STAGE_OF = {
    "zero-shot": "before_training",
    "majority caption": "baseline_majority",
    "nearest neighbour": "baseline_nearest",
    "fine-tuned": "after_training",
}
RUNS = list(STAGE_OF)
INTERVAL = re.compile(r"-?\d+\.\d{3} \[-?\d+\.\d{3}, -?\d+\.\d{3}\]")


def check_comparison_outputs(notebook: nbformat.NotebookNode, assets: Path, ids: list[str]) -> None:
    """Notebook 04 shows baselines and intervals, draws them, and the demo benchmark reads them."""
    text = printed_text(notebook)
    for label in [*RUNS, "fine-tuned - zero-shot", "majority rate", "distinct captions"]:
        assert label in text, label
    assert len(INTERVAL.findall(text)) >= 20  # "value [low, high]" cells in the comparison
    for stage in ("baseline_majority", "baseline_nearest"):
        summary = json.loads((assets / f"metrics_{stage}.json").read_text())
        assert summary["image_ids"] == ids  # the same test images, every one of them
        assert summary["baseline"] == stage.removeprefix("baseline_")
    after = json.loads((assets / "metrics_after_training.json").read_text())
    if any(note.startswith("COLLAPSED") for note in after["notes"]):
        assert "fine-tuned: COLLAPSED CAPTIONER" in text  # the visible warning

    drawn = pd.read_csv(assets / "metrics_comparison.csv")  # what metrics_comparison.png shows
    assert list(dict.fromkeys(drawn["run"])) == [*RUNS, "fine-tuned - zero-shot"]
    bars = drawn[drawn["kind"] == "run"]
    with_interval = bars.dropna(subset=["low", "high"])
    assert len(with_interval) >= 4 * 5  # every run has its error bars
    assert (with_interval["low"] <= with_interval["value"] + 1e-9).all()
    assert (with_interval["value"] <= with_interval["high"] + 1e-9).all()
    assert drawn["provenance"].str.contains("not a Hephaestus result").all()

    report = demo_run_module().evaluation_report(assets)
    assert list(report["runs"]) == RUNS and report["test_images"] == len(ids)
    for label, run in report["runs"].items():
        generated = load_results(assets / f"results_{STAGE_OF[label]}.csv")["generated"]
        distinct = len({" ".join(tokenize(caption).split()) for caption in generated})
        assert run["diversity"]["distinct_captions"] == distinct, label
        interval = run["intervals"]["bertscore_f1"]  # around the mean F1 over the images
        assert interval["value"] == pytest.approx(run["metrics"]["bertscore_f1"]), label
        assert interval["low"] <= interval["value"] <= interval["high"], label
    assert report["runs"]["majority caption"]["diversity"]["distinct_captions"] == 1
    assert "| distinct captions |" in report["comparison_table"]
    changes = [r for r in report["comparison"] if r["kind"] == "difference"]
    assert any(r["low"] is not None for r in changes)
