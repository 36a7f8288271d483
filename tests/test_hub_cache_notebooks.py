"""Notebooks 01-04 in the ``full`` profile, as a new user runs them: BLIP-large from a Hugging
Face cache laid out as the Hub leaves it (``tests/hub_cache.py``: the real repository's small
files, random weights of a shrunk config), ``HF_HUB_OFFLINE=1``, and Intel's four image zips.

Small overrides keep it CI-sized (one epoch, 4 test images, two decoding settings). No scorer can
be downloaded, so the packaged MiniLM stands in for both BERTScore scorers (roberta-large and the
Intel sample's bert-base-uncased); every result says so. Nothing here is a Hephaestus result.
"""

from __future__ import annotations

import json
from pathlib import Path

import huggingface_hub.constants
import nbformat
import pandas as pd
import pytest
from hub_cache import HUB_FILES, REPO_ID, build_hub_cache, write_intel_zips
from test_notebooks import NOTEBOOKS, printed_text

from helpers.config import load_config
from helpers.eval.results import load_results
from helpers.model.loading import load_captioner
from helpers.sharing import upload_plan
from helpers.training.model_card import card_facts
from helpers.training.tracking import read_curves

OVERRIDES = {
    "epochs": 1,
    "max_test_samples": 4,
    "eval_batch_size": 8,
    "max_new_tokens": 40,  # more than the real text config's max_length (20)
    "num_beams": 1,
    "decoding_grid": [[1, 1.0, 0, 1.0], [1, 1.0, 3, 1.0]],
    "decoding_val_samples": 4,
    "bootstrap_resamples": 200,
    "bertscore_model": "minilm",  # stands in for roberta-large offline
    "bertscore_intel_model": "minilm",  # stands in for bert-base-uncased offline
}
NOTEBOOK_OVERRIDES = {"03_finetune": {"log_with": "tensorboard", "log_every_steps": 1}}
SAMPLES = 40


def run_with_overrides(name: str, overrides: dict) -> nbformat.NotebookNode:
    """Run a notebook with a cell after its first code cell applying ``overrides`` to ``cfg``,
    as a user would edit the first cell."""
    from nbclient import NotebookClient

    notebook = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    first = next(i for i, cell in enumerate(notebook.cells) if cell.cell_type == "code")
    code = f"import json\ncfg = cfg.with_overrides(**json.loads({json.dumps(overrides)!r}))"
    notebook.cells.insert(first + 1, nbformat.v4.new_code_cell(code))
    client = NotebookClient(
        notebook,
        timeout=600,
        kernel_name="python3",
        resources={"metadata": {"path": str(NOTEBOOKS)}},
    )
    client.execute()
    return notebook


@pytest.fixture
def user_machine(tmp_path, monkeypatch):
    """A workspace with Intel's zips and a Hub cache holding BLIP-large, offline."""
    if not HUB_FILES.is_dir():
        pytest.skip(f"{HUB_FILES} (the Hub's small files, in shared/) is not here")
    workspace, hf_home = tmp_path / "workspace", tmp_path / "hf-home"
    write_intel_zips(workspace / "Hephaestus_dataset", SAMPLES)
    build_hub_cache(hf_home)
    for key, value in {
        "CAPTION_WORKSPACE": str(workspace),
        "CAPTION_PROFILE": "full",
        "HF_HOME": str(hf_home),
        "HF_HUB_OFFLINE": "1",
        "OMP_NUM_THREADS": "1",
    }.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("CAPTION_DEVICE", raising=False)
    return workspace, hf_home


@pytest.mark.slow
def test_full_profile_from_a_hub_shaped_cache(user_machine, monkeypatch):
    workspace, hf_home = user_machine
    printed = {}
    for name in ("01_dataset_tour", "02_zero_shot_baseline", "03_finetune"):
        overrides = {**OVERRIDES, **NOTEBOOK_OVERRIDES.get(name, {})}
        printed[name] = printed_text(run_with_overrides(name, overrides))
    printed["04"] = printed_text(run_with_overrides("04_compare_before_after", OVERRIDES))
    everything = "\n".join(printed.values())

    # the data: Intel's four zips, read as real data; the model: from the cache, offline
    assert "images_set1.zip, images_set2.zip, images_set3.zip, images_set4.zip" in everything
    assert "SYNTHETIC" not in printed["01_dataset_tour"]
    assert f"{REPO_ID} from the local cache (Hub unreachable)" in printed["02_zero_shot_baseline"]
    assert "requires torchvision" not in everything and "falling back" not in everything

    # the processor the notebooks use is the real file's: 384 px, bicubic, CLIP mean/std
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    processor = load_captioner(load_config("full"), cache_dir=hf_home / "hub").processor
    real = json.loads((HUB_FILES / "preprocessor_config.json").read_text())
    image = processor.image_processor
    assert (image.size.height, image.size.width, image.resample) == (384, 384, 3)
    assert (
        list(image.image_mean) == real["image_mean"] and list(image.image_std) == real["image_std"]
    )

    assets, run_dir = workspace / "assets", workspace / "runs" / "full"
    after = json.loads((assets / "metrics_after_training.json").read_text())
    assert after["profile"] == "full" and after["note"].startswith(
        f"profile=full | model={REPO_ID}"
    )
    assert after["model_name"] == "local folder runs/full/best"

    # captions run past the real text config's max_length of 20 tokens
    table = load_results(assets / "results_before_training.csv")
    lengths = [len(processor.tokenizer(c).input_ids) for c in table["generated"]]
    assert max(lengths) > 20 + 2, lengths

    # both scorers, the packaged MiniLM standing in for each, flagged in every result
    for stage in ("before_training", "after_training", "baseline_majority", "baseline_nearest"):
        summary = json.loads((assets / f"metrics_{stage}.json").read_text())
        assert summary["bertscore_model"]["stands_in_for"] == "roberta-large", stage
        assert summary["bertscore_intel_model"]["stands_in_for"] == "bert-base-uncased", stage
        assert summary["bertscore_intel_model"]["tokenizer"]["class"] == "BertTokenizer", stage
        assert 0 < summary["metrics"]["bertscore_intel_f1"] <= 1, stage
        columns = pd.read_csv(assets / f"results_{stage}.csv").columns
        assert "bertscore_intel_f1" in columns, stage
    label = "BERTScore F1, Intel's scorer (MiniLM stand-in)"
    comparison = pd.read_csv(assets / "comparison.csv")
    assert "bertscore_intel_f1" in set(comparison["metric"])
    assert label in printed["04"]  # the comparison table the notebook shows
    card = (run_dir / "best" / "README.md").read_text()
    assert label in card and "bertscore_intel_f1" in card  # the table and the model-index

    # nothing that can be shared names a folder of this machine
    local = [str(workspace), str(Path.home())]
    plan = upload_plan(run_dir, "someone/insar-captioner", card_facts(run_dir))
    assert {"evaluation/metrics_fine_tuned.json", "training/history.csv"} <= {
        op.path_in_repo for op in plan
    }
    for operation in plan:
        source = operation.path_or_fileobj
        data = source if isinstance(source, bytes) else Path(source).read_bytes()
        for folder in local:
            assert folder.encode() not in data, (operation.path_in_repo, folder)
    for name in ("decoding.json", "history.csv"):
        text = (run_dir / name).read_text()
        assert all(folder not in text for folder in local), name
    texts = [value for points in read_curves(run_dir).values() for _, value in points]
    assert any(isinstance(t, str) and t.startswith("profile=full") for t in texts)
    assert all(folder not in str(t) for t in texts for folder in local)
