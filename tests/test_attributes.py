"""Attribute targets, the attribute prompt and BLIP with attribute heads (helpers.data.attributes,
helpers.model.attributes): targets read from records, prompts kept out of the loss and of the
caption, the heads trained on the full and LoRA paths and saved with the model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from helpers.config import load_config
from helpers.data.attributes import (
    ATTRIBUTE_NAMES,
    attribute_targets,
    decide,
    polygon_sector,
    positive_rates,
    sector_of,
    stated_facts,
)
from helpers.data.batching import CaptionDataset
from helpers.data.records import Record
from helpers.model.attributes import (
    BlipAttributeCaptioner,
    attribute_heads,
    prompt_settings,
)
from helpers.model.collators import caption_collator
from helpers.model.loading import load_captioner
from helpers.model.lora import apply_lora

SIZE = (100, 100)
PLAIN = {"attribute_heads": False, "attribute_prompt": False}


def square(cx: float, cy: float, half: float = 5) -> tuple[float, ...]:
    """A square polygon around (cx, cy), in pixels."""
    return (cx - half, cy - half, cx + half, cy - half, cx + half, cy + half, cx - half, cy + half)


def record(uid: str = "1", image_path: Path | None = None, **fields) -> Record:
    return Record(
        unique_id=uid,
        frame_id="F",
        image_path=image_path or Path(f"{uid}.png"),
        caption="Ground deformation caused by a sill can be detected.",
        **fields,
    )


def test_sectors_follow_the_compass_with_north_up():
    assert sector_of(0.9, 0.5) == "eastern"
    assert sector_of(0.9, 0.1) == "north-eastern"
    assert sector_of(0.5, 0.1) == "northern"
    assert sector_of(0.1, 0.9) == "south-western"
    assert sector_of(0.52, 0.49) == "central"
    assert polygon_sector(square(20, 80), *SIZE) == "south-western"


def test_targets_of_a_record_with_two_patterns():
    two = record(
        label=("Deformation",),
        activity_type=("Sill", "Dyke"),
        intensity_level=("High", "Low"),
        segmentation_mask=(square(90, 50), square(50, 10)),
        atmospheric_fringes=2,
    )
    holds = dict(zip(ATTRIBUTE_NAMES, attribute_targets(two, SIZE), strict=True))
    assert {name for name, value in holds.items() if value} == {
        "deformation",
        "type:Sill",
        "type:Dyke",
        "intensity:High",
        "intensity:Low",
        "sector:eastern",
        "sector:northern",
        "atmosphere",
    }


def test_a_record_without_deformation_states_no_pattern_facts():
    quiet = record(label=("Non_Deformation",), segmentation_mask=(square(90, 50),))
    assert stated_facts(attribute_targets(quiet, SIZE)) == []
    assert stated_facts(attribute_targets(record(atmospheric_fringes=1), SIZE)) == ["atmosphere"]


def test_positive_rates_and_decisions():
    rows = [(1.0,) + (0.0,) * (len(ATTRIBUTE_NAMES) - 1), (0.0,) * len(ATTRIBUTE_NAMES)]
    assert positive_rates(rows)[0] == 0.5
    probabilities = [0.1] * len(ATTRIBUTE_NAMES)
    index = {name: i for i, name in enumerate(ATTRIBUTE_NAMES)}
    probabilities[index["deformation"]] = 0.8
    probabilities[index["type:Dyke"]] = 0.3  # the most likely type is named even below 0.5
    thresholds = [0.5] * len(ATTRIBUTE_NAMES)
    thresholds[index["deformation"]] = 0.9  # decided at the training rate: not deforming
    assert stated_facts(decide(probabilities, thresholds)) == []
    thresholds[index["deformation"]] = 0.7
    facts = stated_facts(decide(probabilities, thresholds))
    assert "deformation" in facts and "type:Dyke" in facts
    assert sum(name.startswith("type:") for name in facts) == 1


@pytest.fixture(scope="module")
def images(tmp_path_factory) -> list[Record]:
    folder = tmp_path_factory.mktemp("images")
    records = []
    for index, colour in enumerate([(250, 20, 20), (20, 20, 250), (20, 250, 20), (200, 200, 0)]):
        path = folder / f"{index}.png"
        Image.new("RGB", (32, 32), colour).save(path)
        deforming = index % 2 == 0
        records.append(
            Record(
                unique_id=str(index),
                frame_id="F",
                image_path=path,
                caption="a sill can be detected." if deforming else "no deformation.",
                label=("Deformation",) if deforming else ("Non_Deformation",),
                activity_type=("Sill",) if deforming else (),
                segmentation_mask=(square(8, 8, 2),) if deforming else (),
            )
        )
    return records


def tiny(**overrides):
    cfg = load_config("smoke", attribute_prompt=True, **overrides)
    return cfg, load_captioner(cfg)


def test_the_prompt_is_in_the_inputs_but_never_in_the_loss(images):
    cfg, captioner = tiny()
    assert isinstance(captioner.model, BlipAttributeCaptioner)
    dataset = CaptionDataset(images, captioner.processor)
    collate = caption_collator(captioner.model, captioner.processor, 16)
    batch = collate([dataset[0], dataset[1]])
    word_ids, filler = prompt_settings(captioner.model)
    width = len(ATTRIBUTE_NAMES)
    prompt = batch["input_ids"][:, 1 : 1 + width]
    assert (batch["labels"][:, 1 : 1 + width] == -100).all()
    assert prompt[0, 0].item() == word_ids[0]  # image 0 deforms: "deformation" in slot 0
    assert prompt[1, 0].item() == filler
    assert batch["attribute_targets"].shape == (2, width)
    plain_model = load_captioner(load_config("smoke", **PLAIN)).model
    plain_collate = caption_collator(plain_model, captioner.processor, 16)
    collate.pad_multiple = plain_collate.pad_multiple = None  # the lengths as tokenized
    plain = plain_collate([dataset[0]])
    assert "attribute_targets" not in plain
    assert collate([dataset[0]])["input_ids"].shape[1] == plain["input_ids"].shape[1] + width


def test_heads_add_their_loss_and_generate_cuts_the_prompt(images):
    cfg, captioner = tiny()
    model = captioner.model
    dataset = CaptionDataset(images, captioner.processor)
    batch = caption_collator(model, captioner.processor, 16)([dataset[i] for i in range(4)])
    with_heads = model(**batch).loss
    targets = batch.pop("attribute_targets")
    without = model(**batch).loss
    assert with_heads > without
    batch["attribute_targets"] = targets
    out = model.generate(pixel_values=batch["pixel_values"], max_new_tokens=5)
    assert (out[:, 0] == model.config.text_config.bos_token_id).all()
    assert out.shape[1] <= 1 + 5  # [DEC] and the new tokens: the prompt is cut off


def test_heads_and_prompt_survive_save_and_reload(images, tmp_path):
    cfg, captioner = tiny()
    captioner.model.heads["thresholds"][0] = 0.25
    pixels = captioner.processor(images=[Image.open(images[0].image_path)], return_tensors="pt")
    before = captioner.model.generate(pixel_values=pixels["pixel_values"], max_new_tokens=6)
    probabilities = captioner.model.predict_attributes(pixels["pixel_values"])
    captioner.model.save_pretrained(tmp_path)
    captioner.processor.save_pretrained(tmp_path)
    reloaded = load_captioner(load_config("smoke", model_name=str(tmp_path))).model
    assert isinstance(reloaded, BlipAttributeCaptioner)
    assert reloaded.heads["thresholds"][0] == 0.25
    after = reloaded.generate(pixel_values=pixels["pixel_values"], max_new_tokens=6)
    assert torch.equal(before, after)
    assert torch.allclose(probabilities, reloaded.predict_attributes(pixels["pixel_values"]))


def test_lora_trains_the_heads_and_keeps_them(images, tmp_path):
    cfg, captioner = tiny()
    lora = apply_lora(captioner.model, cfg)
    heads = attribute_heads(lora)
    trainable = {name for name, p in lora.named_parameters() if p.requires_grad}
    assert any("attribute_head" in name for name in trainable)
    assert any("lora_" in name for name in trainable)
    assert heads is not None and prompt_settings(lora) is not None
    dataset = CaptionDataset(images, captioner.processor)
    batch = caption_collator(lora, captioner.processor, 16)([dataset[i] for i in range(4)])
    lora(**batch).loss.backward()
    head_grads = [p.grad for n, p in lora.named_parameters() if "attribute_head" in n]
    assert any(g is not None and g.abs().sum() > 0 for g in head_grads)
    merged = lora.merge_and_unload()
    assert isinstance(merged, BlipAttributeCaptioner)


def test_without_the_knobs_the_model_is_plain_blip():
    assert attribute_heads(load_captioner(load_config("smoke")).model) is not None  # default
    captioner = load_captioner(load_config("smoke", **PLAIN))
    assert attribute_heads(captioner.model) is None
    assert prompt_settings(captioner.model) is None
    heads_only = load_captioner(load_config("smoke", attribute_prompt=False)).model
    assert attribute_heads(heads_only) is not None and prompt_settings(heads_only) is None


def test_grounding_maps_a_prompted_models_caption_tokens(images):
    from helpers.device import choose_device
    from helpers.eval.grounding import explain_captions
    from helpers.eval.inference import caption_images

    cfg, captioner = tiny(max_new_tokens=6)
    device = choose_device("cpu", "fp32")
    paths = [record.image_path for record in images]
    explained = explain_captions(captioner.model, captioner.processor, paths, cfg, device)
    captions = caption_images(captioner.model, captioner.processor, paths, cfg, device)
    assert [e.caption for e in explained] == captions
    for explanation in explained:
        assert len(explanation.token_maps) == len(explanation.tokens)
        assert np.allclose(explanation.token_maps.sum(axis=(1, 2)), 1.0)


def test_blip_large_heads_add_one_linear_layer_and_train_under_lora():
    from helpers.model.loading import count_parameters

    cfg = load_config("full", model_name="random:blip-large")
    model = load_captioner(cfg).model
    heads = 2 * 1024 * len(ATTRIBUTE_NAMES) + len(ATTRIBUTE_NAMES)  # [CLS] + mean patch -> facts
    assert count_parameters(model) == (446_290_492 + heads,) * 2
    trainable, _ = count_parameters(apply_lora(model, cfg))
    assert trainable == 614_400 + heads  # seed 001's adapters and the heads


def test_the_caption_loss_is_blips_own(images):
    from transformers import BlipForConditionalGeneration

    for smoothing in (0.0, 0.1):
        cfg, captioner = tiny(label_smoothing=smoothing)
        model = captioner.model
        dataset = CaptionDataset(images, captioner.processor)
        batch = caption_collator(model, captioner.processor, 16)([dataset[i] for i in range(4)])
        batch.pop("attribute_targets")
        with torch.no_grad():
            ours = model(**batch).loss  # the vocabulary projection at labelled positions only
            blip = BlipForConditionalGeneration.forward(model, **batch).loss
        assert torch.allclose(ours, blip, atol=1e-6), smoothing
