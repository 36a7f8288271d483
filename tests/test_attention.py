"""SDPA for BLIP's vision attention: same outputs and gradients as eager (fp32, atol 1e-5),
on the tiny stand-in (whole model, plain and LoRA) and on 2 layers of the true BLIP-large vision
tower at 384 px (batch 1); idempotent; survives save/reload through ``load_captioner``."""

from __future__ import annotations

import copy

import pytest
import torch
from transformers import (
    BlipForConditionalGeneration,
    BlipVisionModel,
    Florence2ForConditionalGeneration,
    GitForCausalLM,
)
from transformers.models.blip.modeling_blip import BlipAttention

from helpers.config import PROFILES, load_config
from helpers.model.attention import SdpaBlipAttention, loadable_attn, use_sdpa
from helpers.model.loading import build_stand_in, load_captioner, stand_in_config
from helpers.model.lora import apply_lora

SIZE = 32
TOLERANCE = {"atol": 1e-5, "rtol": 1e-4}  # fp32


def tiny_batch(seed: int = 0) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    ids = torch.randint(1000, 2000, (2, 7), generator=generator)
    ids[:, 0] = 30522  # [DEC]
    pixels = torch.randn(2, 3, SIZE, SIZE, generator=generator)
    return {"pixel_values": pixels, "input_ids": ids, "labels": ids}


def loss_and_grads(model: torch.nn.Module, batch: dict) -> tuple[torch.Tensor, dict]:
    model.zero_grad(set_to_none=True)
    loss = model(**batch).loss
    loss.backward()
    grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    return loss.detach(), grads


def assert_same_training(eager: torch.nn.Module, sdpa: torch.nn.Module, batch: dict) -> None:
    """Train mode (dropout 0): same loss and gradients; eval mode: same logits."""
    eager.train(), sdpa.train()
    loss_e, grads_e = loss_and_grads(eager, batch)
    loss_s, grads_s = loss_and_grads(sdpa, batch)
    torch.testing.assert_close(loss_s, loss_e, **TOLERANCE)
    assert grads_s.keys() == grads_e.keys() and grads_e
    for name in grads_e:
        torch.testing.assert_close(grads_s[name], grads_e[name], **TOLERANCE, msg=name)
    eager.eval(), sdpa.eval()
    with torch.no_grad():
        torch.testing.assert_close(sdpa(**batch).logits, eager(**batch).logits, **TOLERANCE)


def test_stand_in_built_with_sdpa_matches_eager():
    eager = build_stand_in("random:tiny", SIZE, seed=3)
    sdpa = build_stand_in("random:tiny", SIZE, seed=3, attn="sdpa")
    layers = sdpa.config.vision_config.num_hidden_layers
    assert sum(isinstance(m, SdpaBlipAttention) for m in sdpa.modules()) == layers
    assert not any(isinstance(m, SdpaBlipAttention) for m in eager.modules())
    assert_same_training(eager, sdpa, tiny_batch())


def test_use_sdpa_counts_and_is_idempotent():
    model = build_stand_in("random:tiny", SIZE)
    assert use_sdpa(model) == model.config.vision_config.num_hidden_layers
    assert use_sdpa(model) == 0
    assert not any(type(m) is BlipAttention for m in model.modules())


def test_lora_wrapped_model_matches_eager():
    cfg = load_config("smoke", image_size=SIZE)
    eager = apply_lora(build_stand_in("random:tiny", SIZE), cfg)
    sdpa = copy.deepcopy(eager)
    assert use_sdpa(sdpa) == 2
    for module in (*eager.modules(), *sdpa.modules()):  # LoRA dropout off: deterministic
        if isinstance(module, torch.nn.Dropout):
            module.p = 0.0
    assert_same_training(eager, sdpa, tiny_batch(1))


def test_dropout_applies_in_train_mode_only():
    model = build_stand_in("random:tiny", SIZE, attn="sdpa").vision_model
    for module in model.modules():
        if isinstance(module, SdpaBlipAttention):
            module.dropout.p = 0.5
    pixels = tiny_batch()["pixel_values"]
    model.train()
    assert not torch.equal(model(pixels).last_hidden_state, model(pixels).last_hidden_state)
    model.eval()
    assert torch.equal(model(pixels).last_hidden_state, model(pixels).last_hidden_state)


def test_save_and_reload_applies_sdpa_again(tmp_path):
    cfg = load_config("smoke", image_size=SIZE, attn_implementation="sdpa")
    captioner = load_captioner(cfg)
    captioner.model.save_pretrained(tmp_path)
    captioner.processor.save_pretrained(tmp_path)
    reloaded = load_captioner(cfg.with_overrides(model_name=str(tmp_path))).model
    assert sum(isinstance(m, SdpaBlipAttention) for m in reloaded.modules()) == 2
    eager = cfg.with_overrides(model_name=str(tmp_path), attn_implementation="eager")
    assert_same_training(load_captioner(eager).model, reloaded, tiny_batch(2))


@pytest.mark.parametrize("train", [True, False], ids=["train", "eval"])
def test_blip_large_vision_layers_match_eager(train):
    """The true BLIP-large vision tower (ViT-L/16, 384 px: 577 tokens, 16 heads), cut to
    2 layers to stay cheap, batch 1: outputs and, in train mode, all gradients agree."""
    config = stand_in_config("random:blip-large", 384).vision_config
    config.num_hidden_layers = 2
    torch.manual_seed(0)
    eager = BlipVisionModel(config).train(train)
    sdpa = copy.deepcopy(eager)
    assert use_sdpa(sdpa) == 2
    pixels = torch.randn(1, 3, 384, 384)
    out_e, out_s = eager(pixels).last_hidden_state, sdpa(pixels).last_hidden_state
    torch.testing.assert_close(out_s, out_e, **TOLERANCE)
    if train:
        out_e.square().mean().backward()
        out_s.square().mean().backward()
        for (name, p_e), p_s in zip(eager.named_parameters(), sdpa.parameters(), strict=True):
            torch.testing.assert_close(p_s.grad, p_e.grad, **TOLERANCE, msg=name)


def test_sdpa_is_every_profile_default_and_the_text_decoder_stays_eager():
    for profile in PROFILES:
        assert load_config(profile).attn_implementation == "sdpa"
    model = load_captioner(load_config("smoke", image_size=SIZE)).model
    layers = model.config.vision_config.num_hidden_layers
    assert sum(isinstance(m, SdpaBlipAttention) for m in model.modules()) == layers
    # the text decoder's attention is transformers' own (eager): grounding maps read it
    assert not any(isinstance(m, SdpaBlipAttention) for m in model.text_decoder.modules())


def test_families_without_sdpa_load_eager_and_florence_keeps_it():
    # the installed transformers has no SDPA for BLIP (patched by use_sdpa) or GIT
    assert loadable_attn(BlipForConditionalGeneration, "sdpa") == "eager"
    assert loadable_attn(GitForCausalLM, "sdpa") == "eager"
    assert loadable_attn(Florence2ForConditionalGeneration, "sdpa") == "sdpa"
    assert loadable_attn(GitForCausalLM, "eager") == "eager"
    florence = load_captioner(load_config("smoke", model_name="random:florence-tiny")).model
    assert florence.config._attn_implementation == "sdpa"
