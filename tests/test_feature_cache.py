"""helpers.model.feature_cache: a frozen encoder runs once per image, and nothing else changes."""

from __future__ import annotations

import copy
import gc
import weakref
from pathlib import Path

import pytest
import torch
from test_training import IMAGE_SIZE, TinyCollate, losses, run_tiny, tiny_captions, tiny_config

from helpers.config import PROFILES, load_config
from helpers.model.feature_cache import cache_image_features, cache_wanted
from helpers.model.loading import (
    build_offline_processor,
    build_stand_in,
    freeze_vision_encoder,
    vision_encoder,
)
from helpers.model.lora import apply_lora

NOTEBOOK_05 = Path(__file__).resolve().parent.parent / "notebooks" / "05_lora_finetune.ipynb"


def frozen_tiny() -> torch.nn.Module:
    model = build_stand_in("random:tiny", IMAGE_SIZE, seed=0)
    freeze_vision_encoder(model)
    return model


def tiny_batch(n: int) -> dict[str, torch.Tensor]:
    return TinyCollate(build_offline_processor(IMAGE_SIZE))(tiny_captions(n, seed=3))


def test_cached_forward_equals_uncached_and_encodes_each_image_once():
    model = frozen_tiny().eval()
    batch = tiny_batch(4)
    # a batch with a repeated image: positions 0 and 2 hold the same pixels
    batch["pixel_values"][2] = batch["pixel_values"][0]
    with torch.no_grad():
        expected = model(**batch).loss
        with cache_image_features(model) as cache:
            first = model(**batch).loss
            second = model(**batch).loss
    assert first == expected and second == expected
    assert cache.images_encoded == 3  # 4 images, one of them twice
    assert cache.images_reused == 1 + 4
    assert len(cache.features) == 3
    with torch.no_grad():  # what one image's features hold: hidden states and pooled output
        out = vision_encoder(model)(batch["pixel_values"][:1])
    per_image = out.last_hidden_state.numel() + out.pooler_output.numel()
    assert cache.memory_mb == 3 * per_image * out.last_hidden_state.element_size() / 2**20
    assert "3 images cached" in cache.summary()
    assert "encoder ran on 3 images, features reused 5 times" in cache.summary()


def test_gradients_match_with_cached_features():
    batch = tiny_batch(4)
    grads = []
    for cached in (False, True):
        model = frozen_tiny().train()
        with cache_image_features(model) if cached else torch.enable_grad():
            model(**batch).loss.backward()  # fills the cache when cached
            model.zero_grad()
            model(**batch).loss.backward()  # reuses it
        grads.append({n: p.grad for n, p in model.named_parameters() if p.requires_grad})
    assert grads[0].keys() == grads[1].keys()
    for name, grad in grads[0].items():
        torch.testing.assert_close(grads[1][name], grad, rtol=0, atol=0, msg=name)


def test_encoder_is_restored_even_after_an_error():
    model = frozen_tiny()
    encoder = vision_encoder(model)
    keys = list(model.state_dict())
    with pytest.raises(RuntimeError, match="boom"), cache_image_features(model):
        assert "forward" in vars(encoder)
        raise RuntimeError("boom")
    assert "forward" not in vars(encoder)
    assert list(model.state_dict()) == keys


def test_refuses_an_encoder_that_trains():
    model = build_stand_in("random:tiny", IMAGE_SIZE, seed=0)
    with pytest.raises(ValueError, match="frozen image encoder, but .* train"):
        cache_image_features(model).__enter__()
    # unfreezing inside the block is caught at the next forward
    model = frozen_tiny()
    with cache_image_features(model), pytest.raises(ValueError, match="parameters train"):
        vision_encoder(model).requires_grad_(True)
        model(**tiny_batch(2))


def test_refuses_an_encoder_with_dropout():
    model = frozen_tiny()
    layer = vision_encoder(model).encoder.layers[0].self_attn
    layer.dropout.p = 0.1
    with pytest.raises(ValueError, match=r"dropout \(encoder\.layers\.0\.self_attn\.dropout"):
        cache_image_features(model).__enter__()


def test_lora_model_keeps_its_encoder_frozen_and_caches(tmp_path):
    cfg = tiny_config(tmp_path)
    model = apply_lora(build_stand_in("random:tiny", IMAGE_SIZE, seed=0), cfg)
    with torch.no_grad(), cache_image_features(model) as cache:
        model(**tiny_batch(2))
    assert cache.images_encoded == 2


def test_git_encoder_is_found():
    # GIT keeps its encoder under git.image_encoder; a frozen one caches the same way
    from transformers import GitConfig, GitForCausalLM

    sizes = dict(hidden_size=32, intermediate_size=37, num_hidden_layers=1, num_attention_heads=2)
    vision = dict(sizes, image_size=IMAGE_SIZE, patch_size=8)
    model = GitForCausalLM(
        GitConfig(vision_config=vision, vocab_size=99, bos_token_id=1, eos_token_id=2, **sizes)
    ).eval()
    freeze_vision_encoder(model)
    pixels = torch.rand(2, 3, IMAGE_SIZE, IMAGE_SIZE)
    ids = torch.tensor([[1, 5, 7], [1, 6, 8]])
    with torch.no_grad():
        expected = model(pixel_values=pixels, input_ids=ids).logits
        with cache_image_features(model) as cache:
            model(pixel_values=pixels, input_ids=ids)
            again = model(pixel_values=pixels, input_ids=ids).logits
    torch.testing.assert_close(again, expected, rtol=0, atol=0)
    assert (cache.images_encoded, cache.images_reused) == (2, 2)


@pytest.mark.parametrize("lora", [False, True], ids=["frozen-encoder", "lora"])
def test_training_with_the_cache_matches_training_without(tmp_path, lora, capsys):
    runs = {}
    for cached in (False, True):
        cfg = tiny_config(
            tmp_path / f"run-{cached}",
            freeze_vision_encoder=not lora,
            cache_image_features=cached,
        )
        model, result = run_tiny(cfg, lora=lora)
        runs[cached] = (model, result)
    (plain, plain_result), (cached, cached_result) = runs[False], runs[True]
    assert losses(cached_result.history) == losses(plain_result.history)
    cached_weights = cached.state_dict()
    for name, weight in plain.state_dict().items():
        assert torch.equal(cached_weights[name], weight), name
    # 8 train + 4 val images: encoded once each, then reused (val before training + 3 epochs)
    assert "12 images cached" in capsys.readouterr().out
    assert "forward" not in vars(vision_encoder(cached))


def test_train_refuses_the_cache_for_a_training_encoder(tmp_path):
    cfg = tiny_config(tmp_path / "run", cache_image_features=True)
    with pytest.raises(ValueError, match="freeze_vision_encoder=True"):
        run_tiny(cfg)
    assert not (tmp_path / "run").exists()


def test_a_deep_copy_gets_an_empty_cache_of_its_own():
    # export_model deep-copies a LoRA model to merge it; the cached features must not follow
    model = frozen_tiny().eval()
    batch = tiny_batch(2)
    with torch.no_grad(), cache_image_features(model) as cache:
        expected = model(**batch).loss
        twin = copy.deepcopy(model)
        twin_encoder = vision_encoder(twin)
        twin_cache = twin_encoder.forward.__self__
        assert twin_cache is not cache and twin_cache.features == {}
        assert twin_cache.encoder is twin_encoder
        assert twin(**batch).loss == expected
        assert len(twin_cache.features) == 2 and len(cache.features) == 2
    # no reference cycle: a deleted copy is freed at once, not at the next garbage collection
    gc.disable()
    try:
        twin_ref = weakref.ref(twin_encoder)
        del twin, twin_encoder, twin_cache
        assert twin_ref() is None
    finally:
        gc.enable()


def test_a_second_cache_on_the_same_model_is_refused():
    model = frozen_tiny()
    with cache_image_features(model), pytest.raises(ValueError, match="already replaced"):
        cache_image_features(model).__enter__()


@pytest.mark.parametrize(
    ("setting", "device", "wanted"),
    [
        ("auto", "cpu", True),  # measured to pay on the CPU
        ("auto", "cuda", False),  # measured slower on an H200
        ("auto", "xpu", False),
        ("auto", "mps", False),
        (True, "cuda", True),
        (False, "cpu", False),
    ],
)
def test_auto_caches_on_the_cpu_only(setting, device, wanted):
    assert cache_wanted(setting, device) is wanted


def test_the_cache_is_off_by_default_and_auto_in_notebook_05():
    for profile in PROFILES:
        assert load_config(profile).cache_image_features is False
    source = NOTEBOOK_05.read_text()
    assert 'CACHE_IMAGE_FEATURES = \\"auto\\"' in source
    with pytest.raises(ValueError, match="True, False or 'auto'"):
        load_config("smoke", cache_image_features="gpu")
