"""Florence-2 through the collection, offline: loading refuses remote code, the stand-in's
tokenizer and processor, the collator's labels, an overfit, LoRA, save/reload, the resume guard,
the memory estimate, the model card and the feature cache."""

from __future__ import annotations

import json
from pathlib import Path
from unittest import mock

import pytest
import torch
from PIL import Image
from test_training import tiny_captions

from helpers.config import load_config
from helpers.data.batching import TaskPromptCollator
from helpers.device import choose_device
from helpers.eval.inference import caption_images
from helpers.model.collators import caption_collator
from helpers.model.feature_cache import cache_image_features
from helpers.model.florence import (
    CAPTION_TASKS,
    DEFAULT_TASK,
    caption_task,
    native_id,
    prompt_ids,
    task_inputs,
)
from helpers.model.florence_stand_in import ADDED_TOKENS, IMAGE_TOKEN, offline_florence_tokenizer
from helpers.model.loading import freeze_vision_encoder, load_captioner, vision_encoder
from helpers.model.lora import apply_lora
from helpers.sharing import share_run
from helpers.training.card_usage import how_to_use
from helpers.training.loop import train
from helpers.training.memory import counted_activation_bytes, estimate_training_memory
from helpers.training.memory_advice import lora_parameter_count, memory_check
from helpers.training.resume import ResumeRefused

STAND_IN = "random:florence-tiny"
CAPTION = (
    "On the north-eastern side of the region, a deformation pattern of Dyke type and low "
    "intensity can be detected."
)


def smoke(tmp_path: Path, **overrides):
    settings = dict(device="cpu", precision="fp32", run_dir=tmp_path / "run", epochs=1)
    return load_config("smoke", model=STAND_IN, **{**settings, **overrides})


@pytest.fixture(scope="module")
def captioner():
    return load_captioner(load_config("smoke", model=STAND_IN))


@pytest.mark.parametrize(
    "name",
    ["microsoft/Florence-2-base", "microsoft/Florence-2-large-ft", "Microsoft/florence-2-base"],
)
def test_remote_code_checkpoints_are_refused_with_the_native_id(tmp_path, name):
    with pytest.raises(ValueError, match="trust_remote_code") as caught:
        load_captioner(smoke(tmp_path, model_name=name))
    assert native_id(name) in str(caught.value)
    assert native_id(name).startswith("florence-community/Florence-2-")


def test_a_folder_that_maps_to_its_own_code_is_refused(tmp_path):
    folder = tmp_path / "florence-remote"
    folder.mkdir()
    config = {"model_type": "florence2", "auto_map": {"AutoConfig": "configuration_florence2.X"}}
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match="auto_map"):
        load_captioner(smoke(tmp_path, model_name=str(folder)))


def test_the_stand_in_tokenizer_has_florences_layout():
    tokenizer = offline_florence_tokenizer()
    assert tokenizer.convert_tokens_to_ids(["<s>", "<pad>", "</s>", "<unk>"]) == [0, 1, 2, 3]
    ids = tokenizer.convert_tokens_to_ids([*ADDED_TOKENS, IMAGE_TOKEN])
    assert ids == list(range(ids[0], ids[0] + len(ADDED_TOKENS) + 1))  # in order, image last
    assert len(ADDED_TOKENS) == 1024 and tokenizer.image_token_id == ids[-1] == len(tokenizer) - 1
    assert tokenizer.tokenize("<loc_17>") == ["<loc_17>"] and "<od>" in tokenizer.tokenize("a<od>b")
    assert tokenizer.decode(tokenizer(CAPTION)["input_ids"], skip_special_tokens=True) == CAPTION
    assert offline_florence_tokenizer().get_vocab() == tokenizer.get_vocab()  # seeded


def test_the_collator_keeps_the_prompt_and_padding_out_of_the_loss(captioner):
    processor, model = captioner.processor, captioner.model
    collate = caption_collator(model, processor, 64)
    assert isinstance(collate, TaskPromptCollator)
    items = [{"image": Image.new("RGB", (40, 30)), "caption": c} for c in (CAPTION, "No sign.")]
    batch = collate(items)
    prompt = prompt_ids(processor, DEFAULT_TASK)
    assert batch["input_ids"].tolist() == [prompt, prompt]
    image_tokens = prompt.count(processor.tokenizer.image_token_id)
    assert image_tokens == processor.image_processor.image_seq_length
    labels = batch["labels"]
    short = processor.tokenizer("No sign.")["input_ids"]
    assert labels[1, : len(short)].tolist() == short and short[0] == 0 and short[-1] == 2
    caption = processor.tokenizer(CAPTION)["input_ids"]
    assert (labels[1, len(short) :] == -100).all() and (labels[0, : len(caption)] != -100).all()
    # the labels are the caption's tokens and nothing else: the prompt is only the encoder's;
    # padded with -100 to a multiple of 16 tokens (the length buckets)
    assert labels[0, : len(caption)].tolist() == caption and labels.shape[1] % 16 == 0
    assert (labels[0, len(caption) :] == -100).all()


def test_every_caption_task_is_a_prompt_the_processor_knows(captioner):
    texts = {
        t: captioner.processor.tokenizer.decode(prompt_ids(captioner.processor, t))
        for t in CAPTION_TASKS
    }
    assert "paragraph" in texts["<MORE_DETAILED_CAPTION>"]
    assert len(set(texts.values())) == 3
    with pytest.raises(ValueError, match="florence_task"):
        load_captioner(load_config("smoke", model=STAND_IN, florence_task="<OD>"))


def test_the_stand_in_learns_to_write_one_training_caption_exactly(captioner):
    model = load_captioner(load_config("smoke", model=STAND_IN)).model
    processor = captioner.processor
    image = Image.new("RGB", (40, 40), (200, 40, 40))
    batch = caption_collator(model, processor, 128)([{"image": image, "caption": CAPTION}])
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    model.train()
    for _ in range(150):
        model(**batch).loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    cfg = load_config("smoke", model=STAND_IN, max_new_tokens=60)
    written = caption_images(model, processor, [image], cfg, choose_device("cpu", "fp32"))
    assert written == [CAPTION]


def test_lora_adapts_the_text_models_q_and_v_projections_only(captioner, tmp_path):
    cfg = smoke(tmp_path)
    model = load_captioner(cfg).model
    expected = lora_parameter_count(model, cfg)
    lora = apply_lora(model, cfg)
    trainable = {n for n, p in lora.named_parameters() if p.requires_grad}
    assert trainable and all("lora_" in n and ("q_proj" in n or "v_proj" in n) for n in trainable)
    assert not any("vision_tower" in n for n in trainable)
    assert sum(p.numel() for p in lora.parameters() if p.requires_grad) == expected
    blocks = 3  # encoder self-attention, decoder self- and cross-attention (one layer each)
    assert expected == blocks * 2 * cfg.lora_r * (32 + 32)


def test_save_and_reload_give_identical_captions(captioner, tmp_path):
    cfg = smoke(tmp_path, florence_task="<DETAILED_CAPTION>", max_new_tokens=8)
    loaded = load_captioner(cfg)
    folder = tmp_path / "saved"
    loaded.model.save_pretrained(folder)
    loaded.processor.save_pretrained(folder)
    again = load_captioner(cfg.with_overrides(model_name=str(folder), florence_task=DEFAULT_TASK))
    assert again.family == "florence2" and caption_task(again.model) == "<DETAILED_CAPTION>"
    images = [item["image"] for item in tiny_captions(3, seed=0)]
    device = choose_device("cpu", "fp32")
    first = caption_images(loaded.model, loaded.processor, images, cfg, device, progress=False)
    second = caption_images(again.model, again.processor, images, cfg, device, progress=False)
    assert first == second


def florence_run(cfg, processor, model=None):
    model = model or load_captioner(cfg).model
    items = tiny_captions(8, seed=1), tiny_captions(4, seed=2)
    return train(cfg, model, processor, *items, caption_collator(model, processor, 32))


def test_resume_refuses_a_family_change_the_card_loads_natively_and_it_shares(captioner, tmp_path):
    cfg = smoke(tmp_path)
    result = florence_run(cfg, captioner.processor)
    card = (result.run_dir / "final" / "README.md").read_text()
    assert "Florence2ForConditionalGeneration.from_pretrained" in card
    assert f'text="{DEFAULT_TASK}"' in card and "library_name: transformers" in card
    saved = json.loads((result.run_dir / "final" / "config.json").read_text())
    assert saved["architectures"] == ["Florence2ForConditionalGeneration"]
    assert saved["caption_task"] == DEFAULT_TASK
    api = mock.MagicMock()
    api.whoami.return_value = {"name": "someone"}
    share_run(result.run_dir, "someone/florence-insar", api=api, allow_stand_in=True)
    (call,) = api.create_commit.call_args_list
    uploaded = {op.path_in_repo: op.path_or_fileobj for op in call.kwargs["operations"]}
    assert {"model.safetensors", "config.json", "tokenizer.json", "README.md"} <= set(uploaded)
    assert b'"someone/florence-insar"' in uploaded["README.md"]
    blip = cfg.with_overrides(model_name="random:tiny")
    blip_model = load_captioner(blip)
    with pytest.raises(ResumeRefused, match="a florence2 model, this run trains a blip model"):
        florence_run(blip, blip_model.processor, blip_model.model)


def test_the_memory_estimate_counts_florences_activations(captioner, tmp_path):
    cfg = smoke(tmp_path, batch_size=4)
    model = captioner.model
    collate = caption_collator(model, captioner.processor, 32)
    items = tiny_captions(3, seed=0)
    estimate = estimate_training_memory(model, cfg, "cpu", "fp32", lambda n: collate(items[:n]))
    assert estimate.method.startswith("counted from the tensors saved for backward")
    # one more sample adds the same activations again
    two_more = counted_activation_bytes(model, lambda n: collate(items[: 2 * n - 1]), "fp32")
    assert estimate.activations_per_sample > 0
    assert two_more == pytest.approx(2 * estimate.activations_per_sample, rel=0.05)
    report = memory_check(model, cfg, make_batch=lambda n: collate(items[:n]))
    assert "counted from the tensors saved for backward" in report


def test_freezing_and_caching_the_image_tower_turn_off_its_stochastic_depth(tmp_path):
    model = load_captioner(smoke(tmp_path)).model
    tower = vision_encoder(model)
    assert tower is model.model.vision_tower
    assert freeze_vision_encoder(model) == sum(p.numel() for p in tower.parameters())
    drops = [m for m in tower.modules() if hasattr(m, "drop_prob")]
    for module in drops:
        module.drop_prob = 0.1  # the real checkpoints' rate
    with cache_image_features(model):
        assert all(m.drop_prob == 0 for m in drops)
        model.train()
        inputs = task_inputs(
            load_captioner(smoke(tmp_path)).processor, [Image.new("RGB", (32, 32))], DEFAULT_TASK
        )
        first = model.model.get_image_features(inputs["pixel_values"]).pooler_output
        second = model.model.get_image_features(inputs["pixel_values"]).pooler_output
        assert torch.equal(first, second)
    assert all(m.drop_prob == 0.1 for m in drops)


def test_the_cards_loading_code_names_the_family_class():
    usage = how_to_use(
        "blip", "BlipAttributeCaptioner", "b", "r", adapter=False, task="", max_new_tokens=9
    )
    assert (
        "BlipForConditionalGeneration.from_pretrained" in usage
        and "helpers.load_captioner" in usage
    )
    usage = how_to_use(
        "florence2",
        "Florence2ForConditionalGeneration",
        "b",
        "r",
        adapter=True,
        task="<CAPTION>",
        max_new_tokens=9,
    )
    assert 'text="<CAPTION>"' in usage and "PeftModel" in usage and "load_captioner" not in usage


def test_a_model_knob_gives_the_run_its_own_folders(monkeypatch):
    blip = load_config("demo")
    florence = load_config("demo", model="florence-community/Florence-2-base")
    assert florence.run_dir.name == "demo-florence-2-base"
    assert florence.output_dir == blip.output_dir / "florence-2-base"
    monkeypatch.setenv("CAPTION_MODEL", STAND_IN)
    assert load_config("demo").model_name == STAND_IN
    assert load_config("demo", model_name="random:small").model_name == "random:small"


def test_loading_says_the_profiles_attribute_knobs_are_blips_only(caplog):
    cfg = load_config("smoke", model=STAND_IN)
    assert cfg.attribute_prompt  # the profile turns BLIP's attribute prompt on
    with caplog.at_level("INFO", logger="helpers.model.loading"):
        load_captioner(cfg)
    assert "attribute heads and prompt are BLIP's only" in caplog.text
    caplog.clear()
    with caplog.at_level("INFO", logger="helpers.model.loading"):
        load_captioner(load_config("smoke"))
    assert "BLIP's only" not in caplog.text
