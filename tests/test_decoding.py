"""Decoding: lengths that fit the real captions, repetition allowed after fine-tuning, and the
choice of settings on the validation split (helpers.eval.decoding)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from helpers.config import load_config
from helpers.data.batching import CaptionCollator
from helpers.data.caption_stats import repeats_word_trigram
from helpers.data.records import Record
from helpers.device import DeviceChoice
from helpers.eval import inference
from helpers.eval.decoding import (
    DECODING_FILE,
    Decoding,
    apply_saved_decoding,
    best_row,
    load_decoding,
    tune_decoding,
    zero_shot_config,
)
from helpers.eval.inference import caption_images, generation_kwargs
from helpers.model.loading import build_offline_processor, build_stand_in, decoder_start_token_id

CPU = DeviceChoice("cpu", "fp32", "test", "test")
REAL_MAX_TOKENS = 125  # the longest real caption, [CLS]/[SEP] included (DESIGN.md section 4)
SINGLE_TOKEN_WORDS = "the pattern can be detected on the western side of the region"


# ------------------------------------------------------------ settings in the config


def test_fine_tuned_defaults_allow_repetition_and_the_baseline_keeps_anti_repetition():
    for profile in ("full", "demo", "smoke"):
        cfg = load_config(profile)
        assert (cfg.no_repeat_ngram_size, cfg.repetition_penalty) == (0, 1.0), profile
        assert cfg.decoding_source == "fine-tuned defaults"
        baseline = zero_shot_config(cfg)
        assert (baseline.no_repeat_ngram_size, baseline.repetition_penalty) == (3, 1.2)
        assert generation_kwargs(baseline)["no_repeat_ngram_size"] == 3
        assert "zero-shot" in baseline.decoding_source
        assert baseline.max_new_tokens == cfg.max_new_tokens


def test_default_grid_is_small_and_drawn_from_the_documented_values():
    cfg = load_config("full")
    assert 1 < len(cfg.decoding_grid) <= 8 and cfg.decoding_val_samples == 64
    for beams, length_penalty, no_repeat, penalty in cfg.decoding_grid:
        assert beams in (1, 3, 5) and no_repeat in (0, 3) and penalty in (1.0, 1.2)
        assert length_penalty == pytest.approx(1.0)
    assert len(set(cfg.decoding_grid)) == len(cfg.decoding_grid)
    assert (cfg.num_beams, 1.0, 0, 1.0) in cfg.decoding_grid  # the defaults are a candidate
    assert load_config("full", decoding_grid=[[1, 1.0, 0, 1.0]]).decoding_grid == (
        (1, 1.0, 0, 1.0),
    )


def _caption_of_tokens(tokenizer, count: int) -> str:
    """A caption of exactly ``count`` tokens, special tokens included (one token per word)."""
    words = SINGLE_TOKEN_WORDS.split()
    text = " ".join(words[i % len(words)] for i in range(count - 2))
    assert len(tokenizer(text)["input_ids"]) == count
    return text


def test_full_training_and_generation_lengths_cover_a_125_token_caption():
    cfg = load_config("full")
    processor = build_offline_processor(32)
    caption = _caption_of_tokens(processor.tokenizer, REAL_MAX_TOKENS)
    image = Image.new("RGB", (32, 32))
    item = {"image": image, "caption": caption}
    start = processor.tokenizer.convert_tokens_to_ids("[DEC]")
    labels = CaptionCollator(processor, cfg.max_caption_tokens, start)([item])["labels"][0]
    kept = labels[labels != -100]
    assert len(kept) == REAL_MAX_TOKENS  # nothing cut ...
    assert kept[-1] == processor.tokenizer.sep_token_id  # ... the end of caption included
    # generate starts from [DEC]; every other token, [SEP] included, must be generated
    assert cfg.max_new_tokens >= REAL_MAX_TOKENS - 1
    # the old 64-token setting would have cut it: the test caption is really long
    short = CaptionCollator(processor, 64, start)([item])["labels"][0]
    assert (short != -100).sum() == 64


# ------------------------------------------------------------ repetition can be written


REPEATED = "deformation can be detected on the east side and fringes can be detected on the west"


@pytest.fixture(scope="module")
def overfit():
    """A tiny BLIP trained to write one caption that repeats "can be detected"."""
    cfg = load_config("smoke", max_new_tokens=40)
    processor = build_offline_processor(cfg.image_size)
    model = build_stand_in("random:tiny", cfg.image_size, seed=0)
    image = Image.fromarray(np.random.default_rng(0).integers(0, 255, (32, 32, 3), np.uint8))
    collate = CaptionCollator(processor, cfg.max_caption_tokens, decoder_start_token_id(model))
    batch = collate([{"image": image, "caption": REPEATED}])
    torch.manual_seed(0)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    model.eval()  # no dropout: train exactly the network that will decode
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a tiny model: one thread is fastest on a busy machine
    try:
        for _ in range(300):
            loss = model(**batch).loss
            loss.backward()
            optimizer.step()
            optimizer.zero_grad()
            if loss.item() < 0.002:
                break
    finally:
        torch.set_num_threads(threads)
    assert loss.item() < 0.002
    return model, processor, image, cfg


def test_fine_tuned_defaults_reproduce_a_caption_with_a_repeated_trigram(overfit):
    """Greedy and 3 beams (full's default). With beams, ``early_stopping=True`` would fail this:
    it keeps the first three finished candidates, short ones, over the long caption."""
    model, processor, image, cfg = overfit
    assert repeats_word_trigram(REPEATED)
    for beams in (1, 3):
        setting = cfg.with_overrides(num_beams=beams)
        assert caption_images(model, processor, [image], setting, CPU, progress=False) == [REPEATED]


def test_no_repeat_ngram_size_3_cannot_write_it(overfit):
    model, processor, image, cfg = overfit
    for beams in (1, 3):
        blocked = cfg.with_overrides(num_beams=beams, no_repeat_ngram_size=3)
        (caption,) = caption_images(model, processor, [image], blocked, CPU, progress=False)
        assert caption != REPEATED
        assert caption.count("can be detected") <= 1


# ------------------------------------------------------------ choosing on validation


class SettingDependentCaptioner(torch.nn.Module):
    """A fake captioner whose captions depend on the image and the decoding setting:
    3 beams without anti-repetition write the references exactly, greedy with no-repeat writes
    half of each, anything else one generic sentence. The known best setting is 3 beams."""

    def __init__(self, processor, images: list[Image.Image], captions: list[str]) -> None:
        super().__init__()
        self.processor = processor
        self.keys = [self._key(processor(images=image, return_tensors="pt")) for image in images]
        self.captions = captions
        self.calls: list[dict] = []

    @staticmethod
    def _key(inputs) -> float:
        return round(float(inputs["pixel_values"].mean()), 4)

    def generate(self, pixel_values: torch.Tensor, **kwargs) -> torch.Tensor:
        self.calls.append(kwargs)
        texts = []
        for pixels in pixel_values:
            caption = self.captions[self.keys.index(self._key({"pixel_values": pixels}))]
            if kwargs["num_beams"] == 3 and kwargs["no_repeat_ngram_size"] == 0:
                texts.append(caption)
            elif kwargs["num_beams"] == 1 and kwargs["no_repeat_ngram_size"] == 3:
                texts.append(" ".join(caption.split()[: len(caption.split()) // 2]))
            else:
                texts.append("a colourful painting of a tie dye shirt")
        return self.processor.tokenizer(texts, padding=True, return_tensors="pt")["input_ids"]


CAPTIONS = [
    "a sill type deformation pattern of high intensity can be detected on the western side",
    "no deformation can be detected in the region and turbulent atmospheric fringes are seen",
    "a dyke type deformation pattern of low intensity can be detected on the northern side",
    "two deformation patterns can be detected and stratified atmospheric fringes can be seen",
    "a mogi type deformation pattern of medium intensity can be detected in the centre",
    "no deformation can be detected in the region and low coherence makes it noisy",
]


def _records(tmp_path: Path, split: str, offset: int) -> list[Record]:
    records = []
    for index, caption in enumerate(CAPTIONS):
        path = tmp_path / f"{split}_{index}.png"
        Image.new("RGB", (32, 32), (20 * (index + offset),) * 3).save(path)
        deforming = not caption.startswith("no deformation")
        records.append(
            Record(
                f"{split}{index}",
                "F",
                path,
                caption,
                label=("Deformation" if deforming else "Non_Deformation",),
                activity_type=tuple(w for w in ("Sill", "Dyke", "Mogi") if w.lower() in caption),
                atmospheric_fringes=int("atmospheric" in caption),
            )
        )
    return records


@pytest.fixture()
def tuning(tmp_path, monkeypatch):
    val, test = _records(tmp_path, "val", 0), _records(tmp_path, "test", 6)
    processor = build_offline_processor(32)
    images = [Image.open(r.image_path).convert("RGB") for r in val + test]
    model = SettingDependentCaptioner(processor, images, CAPTIONS + CAPTIONS)
    opened: list[Path] = []
    original = inference.open_rgb
    monkeypatch.setattr(inference, "open_rgb", lambda item: opened.append(item) or original(item))
    cfg = load_config(
        "smoke",
        run_dir=tmp_path / "run",
        decoding_grid=[(1, 1.0, 0, 1.0), (1, 1.0, 3, 1.0), (3, 1.0, 0, 1.0), (3, 1.0, 0, 1.2)],
        decoding_val_samples=5,
    )
    return model, processor, val, test, cfg, opened


def test_tune_decoding_picks_the_best_validation_setting_and_saves_it(tuning, capsys):
    model, processor, val, test, cfg, opened = tuning
    choice = tune_decoding(model, processor, val, cfg, CPU)
    assert choice.best == Decoding(3, 1.0, 0, 1.0)
    table = choice.table
    assert len(table) == 4 and table["chosen"].tolist() == [False, False, True, False]
    assert table["cider"].idxmax() == 2 and table["cider"][2] > table["cider"][1] > 0
    assert table["domain"][2] == 1.0
    printed = capsys.readouterr()
    assert "chosen on 5 validation images" in printed.out and "decoding settings" in printed.err
    # every setting reached generate
    assert [(c["num_beams"], c["no_repeat_ngram_size"]) for c in model.calls] == [
        (1, 0),
        (1, 3),
        (3, 0),
        (3, 0),
    ]
    # only the first 5 validation images were captioned, never a test image
    assert set(opened) == {r.image_path for r in val[:5]}
    assert not set(opened) & {r.image_path for r in test}
    saved = json.loads((cfg.run_dir / DECODING_FILE).read_text())
    assert saved["chosen"] == {
        "num_beams": 3,
        "length_penalty": 1.0,
        "no_repeat_ngram_size": 0,
        "repetition_penalty": 1.0,
    }
    assert saved["split"] == "validation" and saved["val_image_ids"] == [
        r.unique_id for r in val[:5]
    ]
    assert len(saved["settings"]) == 4 and "CIDEr-D" in saved["criterion"]


def test_saved_choice_is_read_back_for_the_test_split(tuning):
    model, processor, val, test, cfg, _ = tuning
    tune_decoding(model, processor, val, cfg, CPU, progress=False)
    assert load_decoding(cfg.run_dir) == Decoding(3, 1.0, 0, 1.0)
    tuned = apply_saved_decoding(cfg)
    assert (tuned.num_beams, tuned.no_repeat_ngram_size, tuned.repetition_penalty) == (3, 0, 1.0)
    assert "validation" in tuned.decoding_source and DECODING_FILE in tuned.decoding_source
    assert generation_kwargs(tuned)["num_beams"] == 3
    # the fake writes test references exactly under the chosen setting
    assert caption_images(model, processor, [r.image_path for r in test], tuned, CPU) == CAPTIONS


def test_missing_choice_is_a_clear_error_or_the_defaults(tmp_path, capsys):
    cfg = load_config("smoke", run_dir=tmp_path / "nothing")
    with pytest.raises(FileNotFoundError, match="tune_decoding"):
        apply_saved_decoding(cfg)
    assert apply_saved_decoding(cfg, missing_ok=True) == cfg
    assert "fine-tuned defaults" in capsys.readouterr().out


def test_ties_go_to_the_domain_check_then_to_grid_order():
    table = pd.DataFrame({"cider": [0.5, 0.7, 0.7, 0.7], "domain": [1.0, 0.4, 0.9, 0.9]})
    assert best_row(table) == 2
    assert best_row(pd.DataFrame({"cider": [0.2, 0.2], "domain": [0.5, 0.5]})) == 0
    assert best_row(pd.DataFrame({"cider": [0.2, 0.3], "domain": [1.0, 0.0]})) == 1
