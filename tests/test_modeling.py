"""Stand-in models and processor, save/reload, LoRA, options, and the no-Hub message. No network."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import huggingface_hub
import numpy as np
import pytest
import torch
from PIL import Image
from transformers import (
    BlipForConditionalGeneration,
    CLIPImageProcessor,
    GitConfig,
    GitForCausalLM,
    GitProcessor,
)

from helpers.config import load_config
from helpers.device import DeviceChoice
from helpers.eval.inference import caption_images
from helpers.model.loading import (
    ModelUnavailableError,
    build_offline_processor,
    build_stand_in,
    count_parameters,
    decoder_start_token_id,
    describe_model,
    enable_gradient_checkpointing,
    freeze_vision_encoder,
    load_captioner,
)
from helpers.model.lora import apply_lora, load_lora, merge_lora

SIZE = 32
CAPTIONS = ["no deformation activity can be detected .", "a mogi source is visible ."]


def fixed_batch(processor) -> dict[str, torch.Tensor]:
    rng = np.random.default_rng(0)
    images = [Image.fromarray(rng.integers(0, 255, (40, 48, 3), dtype=np.uint8)) for _ in CAPTIONS]
    enc = processor(images=images, text=CAPTIONS, padding=True, return_tensors="pt")
    return {**enc, "labels": enc["input_ids"].masked_fill(enc["attention_mask"] == 0, -100)}


@pytest.fixture(scope="module")
def tiny():
    cfg = load_config("smoke", image_size=SIZE)
    captioner = load_captioner(cfg)
    return cfg, captioner.model, captioner.processor


def train_steps(model, batch, steps: int, lr: float = 3e-3) -> list[float]:
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=lr)
    model.train()
    losses = []
    for _ in range(steps):
        loss = model(**batch).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        losses.append(loss.item())
    model.eval()
    return losses


# --- the true BLIP-large architecture (built once: ~470 M random weights, ~3 GB of RAM) ---


@pytest.fixture(scope="module")
def blip_large():
    # plain BLIP-large, as the Hub repository holds it (the profiles add attribute heads)
    plain = {"attribute_heads": False, "attribute_prompt": False}
    return load_captioner(load_config("full", model_name="random:blip-large", **plain)).model


def test_blip_large_stand_in_has_the_real_architecture_and_lora_count(blip_large):
    # the numbers of Salesforce/blip-image-captioning-large's config.json
    vision, text = blip_large.config.vision_config, blip_large.config.text_config
    assert (vision.hidden_size, vision.num_hidden_layers, vision.num_attention_heads) == (
        1024,
        24,
        16,
    )
    assert (vision.intermediate_size, vision.image_size, vision.patch_size) == (4096, 384, 16)
    assert (text.hidden_size, text.num_hidden_layers, text.num_attention_heads) == (768, 12, 12)
    assert (text.intermediate_size, text.vocab_size, text.encoder_hidden_size) == (
        3072,
        30524,
        1024,
    )
    assert (text.bos_token_id, text.sep_token_id, text.pad_token_id) == (30522, 102, 0)
    positions = blip_large.vision_model.embeddings.position_embedding.shape[1]
    assert positions == (384 // 16) ** 2 + 1
    assert count_parameters(blip_large) == (446_290_492, 446_290_492)

    lora = apply_lora(blip_large, load_config("full"))  # seed 001: r 8, alpha 32, query/value
    trainable, total = count_parameters(lora)
    # r 8 x (in + out) per adapted layer, per text layer: self-attention query and value
    # (768 -> 768) and cross-attention query (768 -> 768) and value (1024 image features -> 768);
    # the vision tower's fused "qkv" is not adapted
    assert trainable == 12 * 8 * (3 * (768 + 768) + (1024 + 768)) == 614_400
    assert (trainable, total) == lora.get_nb_trainable_parameters() == (614_400, 446_904_892)
    # Seed 001 reports "all params: 470,347,324": transformers 4 kept the LM head as a separate
    # 30,524 x 768 matrix; transformers 5 ties it to the word embeddings and counts it once.
    assert total + 30_524 * 768 == 470_347_324
    assert "614,400 trainable" in describe_model(lora)


# --- the offline processor and the small stand-ins ---


def test_offline_processor_matches_blip_token_ids():
    processor = build_offline_processor(SIZE)
    tokenizer = processor.tokenizer
    assert len(tokenizer) == 30524
    assert tokenizer.convert_tokens_to_ids(["[DEC]", "[ENC]"]) == [30522, 30523]
    assert (tokenizer.bos_token_id, tokenizer.sep_token_id, tokenizer.pad_token_id) == (
        30522,
        102,
        0,
    )
    ids = tokenizer("No Deformation.")["input_ids"]
    assert ids[0] == 30522 and ids[-1] == 102  # starts like generate() does, ends with [SEP]
    assert tokenizer.decode(ids, skip_special_tokens=True) == "no deformation."
    pixels = processor(images=Image.new("RGB", (50, 70)), return_tensors="pt")["pixel_values"]
    assert pixels.shape == (1, 3, SIZE, SIZE)


def test_generate_starts_from_dec_and_stops_at_sep(tiny):
    cfg, _, processor = tiny
    model = build_stand_in("random:tiny", SIZE, seed=cfg.seed).eval()
    pixels = fixed_batch(processor)["pixel_values"]
    with torch.no_grad():
        model.text_decoder.cls.predictions.bias[102] = 100.0  # make [SEP] the likeliest token
    out = model.generate(pixel_values=pixels, max_new_tokens=10)
    assert out.tolist() == [[30522, 102]] * 2


def test_decoder_start_token_is_blips_dec_also_under_lora(tiny):
    cfg, _, _ = tiny
    model = build_stand_in("random:tiny", SIZE, seed=cfg.seed)
    assert decoder_start_token_id(model) == 30522
    assert decoder_start_token_id(apply_lora(model, cfg)) == 30522


def test_stand_ins_are_deterministic_by_seed_and_follow_image_size():
    a, b = build_stand_in("random:tiny", 48, seed=7), build_stand_in("random:tiny", 48, seed=7)
    c = build_stand_in("random:tiny", 48, seed=8)
    assert all(torch.equal(x, y) for x, y in zip(a.parameters(), b.parameters(), strict=True))
    assert not all(torch.equal(x, y) for x, y in zip(a.parameters(), c.parameters(), strict=True))
    assert a.vision_model.embeddings.position_embedding.shape[1] == (48 // 8) ** 2 + 1
    with pytest.raises(ValueError, match="patch size 8"):
        build_stand_in("random:tiny", 30)
    with pytest.raises(ValueError, match="random:huge"):
        build_stand_in("random:huge", 32)


def test_small_stand_in_size():
    trainable, total = count_parameters(build_stand_in("random:small", 128))
    assert trainable == total == 15_629_628  # the demo model: ~15.6 M parameters


def test_a_few_steps_lower_the_loss_on_a_fixed_batch(tiny):
    cfg, _, processor = tiny
    model = build_stand_in("random:tiny", SIZE, seed=cfg.seed)
    losses = train_steps(model, fixed_batch(processor), steps=8)
    assert losses[-1] < losses[0] - 0.5


def test_save_pretrained_round_trip_gives_identical_logits(tiny, tmp_path):
    cfg, model, processor = tiny
    model.save_pretrained(tmp_path)
    processor.save_pretrained(tmp_path)
    reloaded = load_captioner(cfg.with_overrides(model_name=str(tmp_path)))
    assert reloaded.family == "blip" and "local folder" in reloaded.source
    batch = fixed_batch(processor)
    assert torch.equal(fixed_batch(reloaded.processor)["input_ids"], batch["input_ids"])
    inputs = {name: value for name, value in batch.items() if name != "labels"}
    with torch.no_grad():
        assert torch.equal(reloaded.model(**inputs).logits, model(**inputs).logits)
        assert torch.equal(reloaded.model(**batch).loss, model(**batch).loss)


def test_lora_adapters_save_reload_resume_and_merge(tiny, tmp_path):
    cfg, _, processor = tiny
    batch = fixed_batch(processor)
    lora = apply_lora(build_stand_in("random:tiny", SIZE, seed=cfg.seed), cfg)
    train_steps(lora, batch, steps=2)  # lora_B starts at zero: train so the adapters matter
    lora.save_pretrained(tmp_path)
    with torch.no_grad():
        expected = lora(**batch).logits

    frozen = load_lora(build_stand_in("random:tiny", SIZE, seed=cfg.seed), tmp_path)
    assert count_parameters(frozen)[0] == 0
    resumed = load_lora(
        build_stand_in("random:tiny", SIZE, seed=cfg.seed), tmp_path, is_trainable=True
    )
    assert count_parameters(resumed)[0] == count_parameters(lora)[0] > 0
    with torch.no_grad():
        assert torch.equal(resumed.eval()(**batch).logits, expected)
    losses = train_steps(resumed, batch, steps=3)
    assert losses[-1] < losses[0]  # training goes on from the saved adapters

    merged = merge_lora(frozen.eval())
    assert type(merged) is BlipForConditionalGeneration
    with torch.no_grad():
        torch.testing.assert_close(merged(**batch).logits, expected, rtol=1e-4, atol=1e-4)


def test_freeze_vision_encoder_and_gradient_checkpointing(tiny):
    cfg, _, processor = tiny
    batch = fixed_batch(processor)
    plain = build_stand_in("random:tiny", SIZE, seed=cfg.seed).train()
    checkpointed = build_stand_in("random:tiny", SIZE, seed=cfg.seed).train()
    enable_gradient_checkpointing(checkpointed)
    assert checkpointed.vision_model.encoder.gradient_checkpointing
    assert checkpointed.text_decoder.bert.encoder.gradient_checkpointing
    for model in (plain, checkpointed):
        model(**batch).loss.backward()
    for a, b in zip(plain.parameters(), checkpointed.parameters(), strict=True):
        torch.testing.assert_close(a.grad, b.grad)

    vision = sum(p.numel() for p in plain.vision_model.parameters())
    assert freeze_vision_encoder(plain) == vision
    trainable, total = count_parameters(plain)
    assert trainable == total - vision


def test_git_family_loads_from_a_folder_and_supports_the_options(tmp_path):
    vision = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2)
    config = GitConfig(
        vision_config=dict(vision, image_size=SIZE, patch_size=8),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=1,
        num_attention_heads=2,
        vocab_size=30524,
    )
    GitForCausalLM(config).save_pretrained(tmp_path)
    crop = {"height": SIZE, "width": SIZE}
    image_processor = CLIPImageProcessor(size={"shortest_edge": SIZE}, crop_size=crop)
    tokenizer = build_offline_processor(SIZE).tokenizer
    GitProcessor(image_processor=image_processor, tokenizer=tokenizer).save_pretrained(tmp_path)

    cfg = load_config("smoke", model_name=str(tmp_path))
    captioner = load_captioner(cfg)
    assert captioner.family == "git" and type(captioner.model) is GitForCausalLM
    assert decoder_start_token_id(captioner.model) is None  # GIT keeps its tokenizer's start
    loss = captioner.model(**fixed_batch(captioner.processor)).loss
    assert torch.isfinite(loss)
    device = DeviceChoice("cpu", "fp32", "test", "test")
    images = [Image.new("RGB", (40, 40), color) for color in ("red", "blue", "green")]
    captions = caption_images(captioner.model, captioner.processor, images, cfg, device)
    assert len(captions) == 3 and all(isinstance(c, str) for c in captions)
    image_encoder = sum(p.numel() for p in captioner.model.git.image_encoder.parameters())
    assert freeze_vision_encoder(captioner.model) == image_encoder
    assert count_parameters(apply_lora(captioner.model, cfg))[0] == 1024  # query+value, 1 layer


def test_unsupported_model_type_and_missing_folder_are_named(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "bert"}))
    with pytest.raises(ValueError, match="model_type 'bert'"):
        load_captioner(load_config("full", model_name=str(tmp_path)))
    missing = str(tmp_path / "runs" / "final")
    with pytest.raises(FileNotFoundError, match="runs/final"):
        load_captioner(load_config("full", model_name=missing))


# --- no Hub: a clear message, quickly ---


def test_offline_mode_without_cache_raises_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)  # read at import
    start = time.perf_counter()
    with pytest.raises(ModelUnavailableError) as caught:
        load_captioner(load_config("full"), cache_dir=tmp_path)
    assert time.perf_counter() - start < 10
    message = str(caught.value)
    assert "'Salesforce/blip-image-captioning-large'" in message
    assert "Hugging Face Hub or the local cache" in message and "offline mode" in message
    assert str(tmp_path) in message
    assert "CAPTION_PROFILE=demo" in message and 'load_config("demo")' in message
    assert "\n" not in message and caught.value.__cause__ is not None


UNREACHABLE_HUB = """
import time
from helpers.config import load_config
from helpers.device import DeviceChoice
from helpers.eval.inference import caption_images
from helpers.model.loading import ModelUnavailableError, load_captioner
start = time.perf_counter()
try:
    load_captioner(load_config("full"))
except ModelUnavailableError as err:
    print(f"{time.perf_counter() - start:.1f} s:", err)
"""


@pytest.mark.slow
def test_unreachable_hub_fails_fast_with_a_clear_error(tmp_path):
    # HF_ENDPOINT and HF_HOME are read when huggingface_hub is imported: a fresh interpreter
    env = dict(os.environ, HF_ENDPOINT="http://127.0.0.1:9", HF_HOME=str(tmp_path))
    env.pop("HF_HUB_OFFLINE", None)
    env.pop("TRANSFORMERS_OFFLINE", None)
    done = subprocess.run(
        [sys.executable, "-c", UNREACHABLE_HUB],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    seconds, message = done.stdout.strip().split(" s: ", 1)
    assert float(seconds) < 10  # no retries with back-off
    assert "Connection refused" in message and "CAPTION_PROFILE=demo" in message
    assert "Traceback" not in done.stdout
