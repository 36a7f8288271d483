"""The trivial baselines on hand-made fixtures: majority caption, nearest training image."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from evaluation_fixtures import fake_scorer, make_record
from PIL import Image

from helpers.config import load_config
from helpers.device import DeviceChoice
from helpers.eval import metrics
from helpers.eval.baselines import image_embeddings, majority_caption, nearest_neighbours
from helpers.eval.results import load_results
from helpers.eval.scoring import score_baselines
from helpers.model.loading import load_captioner

CPU = DeviceChoice("cpu", "fp32", "test", "test")


@pytest.fixture(autouse=True)
def no_java(monkeypatch):
    monkeypatch.setattr(metrics.shutil, "which", lambda name: None)


def test_majority_is_the_most_frequent_training_caption():
    train = [make_record(i, c) for i, c in enumerate(["a b", "c d", "c d", "e f", "c d"])]
    assert majority_caption(train) == "c d"


def test_majority_ties_go_to_the_first_record_by_id():
    captions = {"10": "tie one", "2": "tie two", "3": "tie two", "1": "tie one"}
    train = [make_record(uid, caption) for uid, caption in captions.items()]
    assert majority_caption(train) == "tie one"  # id 1 comes first (numeric order, not "10")
    assert majority_caption([make_record(5, "x"), make_record(4, "y")]) == "y"
    with pytest.raises(ValueError, match="training records"):
        majority_caption([])


def _image(path, seed, pattern):
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:32, 0:32] / 32
    base = {
        "stripes": np.sin(12 * x),
        "rings": np.cos(30 * np.hypot(x - 0.5, y - 0.5)),
        "ramp": y,
        "noise": rng.uniform(-1, 1, (32, 32)),
        "checks": np.sign(np.sin(20 * x) * np.sin(20 * y)),
    }[pattern]
    channels = [base, np.roll(base, 5 * (seed + 1), axis=0), rng.uniform(-1, 1, (32, 32))]
    pixels = ((np.stack(channels, axis=-1) + 1) * 127).clip(0, 255).astype(np.uint8)
    Image.fromarray(pixels).save(path)
    return path


@pytest.fixture(scope="module")
def fixture_set(tmp_path_factory):
    """Five distinct training images; each test image is a copy of a known training image."""
    folder = tmp_path_factory.mktemp("nn")
    patterns = ["stripes", "rings", "ramp", "noise", "checks"]
    train = [
        make_record(
            i, f"caption of training image {i}", image_path=_image(folder / f"{i}.png", i, p)
        )
        for i, p in enumerate(patterns)
    ]
    copies = {"100": 3, "101": 0, "102": 4}  # test id -> the training image it copies
    test = [
        make_record(uid, "reference", image_path=train[source].image_path)
        for uid, source in copies.items()
    ]
    return train, test, copies


@pytest.fixture(scope="module")
def tiny():
    return load_captioner(load_config("smoke"))


def test_nearest_neighbour_finds_the_copied_training_image(fixture_set, tiny):
    train, test, copies = fixture_set
    found = nearest_neighbours(tiny.model, tiny.processor, train[::-1], test, CPU, batch_size=2)
    assert found.train_ids == [str(source) for source in copies.values()]
    assert found.captions == [f"caption of training image {s}" for s in copies.values()]
    assert found.similarities == pytest.approx([1.0] * 3, abs=1e-5)


def test_embeddings_are_the_pooled_output_normalised(fixture_set, tiny):
    train, _, _ = fixture_set
    embeddings = image_embeddings(tiny.model, tiny.processor, train, CPU, batch_size=3)
    pixels = tiny.processor(
        images=[Image.open(r.image_path).convert("RGB") for r in train], return_tensors="pt"
    )
    with torch.no_grad():
        pooled = tiny.model.vision_model(pixel_values=pixels["pixel_values"]).pooler_output
    expected = torch.nn.functional.normalize(pooled, dim=-1)
    assert torch.allclose(embeddings, expected, atol=1e-5)
    assert embeddings.shape == (5, tiny.model.config.vision_config.hidden_size)


class _MeanOnlyEncoder(torch.nn.Module):
    """An encoder without a pooler whose hidden states are set by hand: [1, 0] or [0, 1]."""

    def __init__(self):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.zeros(1))

    def forward(self, pixel_values):
        first = pixel_values[:, 0, 0, 0:1] > 0  # bright first pixel -> direction [1, 0]
        hidden = torch.cat([first.float(), (~first).float()], dim=1)[:, None, :].repeat(1, 4, 1)
        return SimpleNamespace(last_hidden_state=hidden + self.weight)


def test_without_a_pooler_the_mean_hidden_state_is_used_and_ties_go_to_the_first_id(tmp_path):
    model = torch.nn.Module()
    model.vision_model = _MeanOnlyEncoder()

    def processor(images, return_tensors):
        values = [
            np.asarray(image, dtype=np.float32).transpose(2, 0, 1) / 255 - 0.5 for image in images
        ]
        return {"pixel_values": torch.tensor(np.stack(values))}

    bright = Image.new("RGB", (4, 4), (255, 255, 255))
    dark = Image.new("RGB", (4, 4), (0, 0, 0))
    paths = {}
    for name, image in (("bright", bright), ("dark", dark)):
        paths[name] = tmp_path / f"{name}.png"
        image.save(paths[name])
    train = [
        make_record(7, "bright seven", image_path=paths["bright"]),
        make_record(3, "bright three", image_path=paths["bright"]),
        make_record(5, "dark five", image_path=paths["dark"]),
    ]
    test = [
        make_record(9, "r", image_path=paths["dark"]),
        make_record(8, "r", image_path=paths["bright"]),
    ]
    found = nearest_neighbours(model, processor, train, test, CPU, batch_size=2)
    assert found.train_ids == ["5", "3"]  # the bright tie between 3 and 7 goes to id 3


def test_score_baselines_writes_both_stages_scored_like_a_model(fixture_set, tiny, tmp_path):
    train, test, copies = fixture_set
    cfg = load_config("smoke", output_dir=tmp_path, bootstrap_resamples=100)
    scored = score_baselines(
        train,
        test,
        cfg,
        CPU,
        data_synthetic=True,
        scorer=fake_scorer(),
        model=tiny.model,
        processor=tiny.processor,
        encoder_label="fine-tuned",
    )
    majority, nearest = scored["majority"], scored["nearest"]
    assert majority.table["generated"].tolist() == ["caption of training image 0"] * 3
    assert nearest.table["generated"].tolist() == [
        f"caption of training image {s}" for s in copies.values()
    ]
    for name, results in scored.items():
        summary = json.loads((tmp_path / f"metrics_baseline_{name}.json").read_text())
        assert summary["stage"] == f"baseline_{name}" and summary["baseline"] == name
        assert summary["image_ids"] == ["100", "101", "102"]
        assert summary["intervals"]["bertscore_f1"]["value"] == 0.5
        table = load_results(tmp_path / f"results_baseline_{name}.csv")
        assert list(table["image_id"]) == ["100", "101", "102"]
        assert list(table["generated"]) == results.table["generated"].tolist()
        assert results.summary["stand_in"]
    assert "fine-tuned image encoder" in nearest.summary["model_name"]
    assert majority.summary["diversity"]["distinct_captions"] == 1
    assert any("COLLAPSED" in note for note in majority.summary["notes"])


def test_score_baselines_falls_back_to_the_zero_shot_encoder(fixture_set, tmp_path):
    train, test, _ = fixture_set
    cfg = load_config(
        "smoke", output_dir=tmp_path, run_dir=tmp_path / "no-run", bootstrap_resamples=10
    )
    scored = score_baselines(train, test, cfg, CPU, data_synthetic=True, scorer=fake_scorer())
    assert "zero-shot image encoder" in scored["nearest"].summary["model_name"]
    assert len(scored["nearest"].table) == len(test)
