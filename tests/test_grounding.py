"""Grounding maps: the rollout on hand-made attention, and the extra pass on real (tiny) BLIPs."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from grounding_fixtures import explanation, one_hot
from PIL import Image

import helpers.eval.grounding as grounding
from helpers.config import load_config
from helpers.device import choose_device
from helpers.eval.grounding import Explanation, explain_caption, explain_captions, rollout, upsample
from helpers.eval.inference import caption_images
from helpers.model.attention import SdpaBlipAttention
from helpers.model.loading import build_offline_processor, build_stand_in
from helpers.model.lora import apply_lora


def heads(matrix: list[list[float]], count: int = 1) -> torch.Tensor:
    """(1, heads, rows, cols) with every head equal to ``matrix``."""
    return torch.tensor(matrix, dtype=torch.float32)[None, None].repeat(1, count, 1, 1)


def test_known_peak_gives_a_known_map_and_cls_is_dropped():
    # two tokens, CLS + 4 patches; token 0 reads patch 2, token 1 half CLS, half patch 3
    cross = heads([[0, 0, 0, 1, 0], [0.5, 0, 0, 0, 0.5]])
    maps = rollout([heads([[1, 0], [0, 1]], 2)], [cross.repeat(1, 2, 1, 1)])
    np.testing.assert_allclose(maps[0].numpy(), [[0, 0, 1, 0], [0, 0, 0, 1]], atol=1e-7)


def test_heads_are_averaged():
    cross = torch.cat([heads([[0, 1, 0, 0, 0]]), heads([[0, 0, 0, 0, 1]])], dim=1)
    maps = rollout([heads([[1.0]], 2)], [cross])
    np.testing.assert_allclose(maps[0, 0].numpy(), [0.5, 0, 0, 0.5], atol=1e-7)


def test_evidence_flows_through_self_attention_with_the_residual():
    # layer 1: each token reads its own patch; layer 2: token 1 attends only to token 0, then
    # each token reads its own patch again. By hand (rollout: half residual, half attention):
    # token 1's image relevance is 1/8 patch 0 and 5/8 patch 1, i.e. [1/6, 5/6] normalised.
    own = heads([[0, 1, 0], [0, 0, 1]])
    maps = rollout([heads([[1, 0], [0, 1]]), heads([[1, 0], [1, 0]])], [own, own])
    np.testing.assert_allclose(maps[0].numpy(), [[1, 0], [1 / 6, 5 / 6]], atol=1e-6)


def test_rollout_needs_one_pair_per_layer():
    with pytest.raises(ValueError):
        rollout([heads([[1.0]])], [])


def test_upsample_keeps_the_peak_and_sums_to_one():
    image = upsample(one_hot(1, 2), 32)
    assert image.shape == (32, 32) and image.sum() == pytest.approx(1.0)
    row, col = np.unravel_index(np.argmax(image), image.shape)
    assert 8 <= row < 16 and 16 <= col < 24


def test_phrases_are_the_tokens_of_stated_mentions():
    caption = "a dyke deformation pattern is visible. no atmospheric fringes"
    maps = {"dyke": one_hot(0, 0), "deformation": one_hot(0, 1)}
    found = explanation(caption, maps, default=one_hot(3, 3))
    assert [found.tokens[i] for i in found.phrase_tokens("deformation")] == ["dyke", "deformation"]
    assert [found.tokens[i] for i in found.phrase_tokens("activity")] == ["dyke"]
    assert found.phrase_tokens("atmospheric") == []  # negated: not a phrase
    assert found.phrase_map("atmospheric") is None
    np.testing.assert_allclose(found.phrase_map("deformation"), (one_hot(0, 0) + one_hot(0, 1)) / 2)
    assert found.caption_map().sum() == pytest.approx(1.0)


@pytest.fixture(scope="module")
def tiny():
    cfg = load_config("smoke", num_beams=2, max_new_tokens=8)
    model = build_stand_in("random:tiny", cfg.image_size, seed=1)
    return cfg, model, build_offline_processor(cfg.image_size), choose_device("cpu", "fp32")


@pytest.fixture(scope="module")
def images():
    rng = np.random.default_rng(0)
    sizes = [(40, 60), (32, 32), (50, 20)]
    return [Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8)) for h, w in sizes]


def check_explanations(found: list[Explanation], captions: list[str], grid: int) -> None:
    assert [e.caption for e in found] == captions  # the configured decoding's own captions
    for item in found:
        assert item.token_maps.shape == (len(item.tokens), grid, grid)
        np.testing.assert_allclose(item.token_maps.sum(axis=(1, 2)), 1.0, atol=1e-5)
        assert (item.token_maps >= 0).all()
        for token, (start, end) in zip(item.tokens, item.token_spans, strict=True):
            assert item.caption[start:end] == token.removeprefix("##")


def test_explain_captions_batched_matches_plain_captioning(tiny, images):
    cfg, model, processor, device = tiny
    found = explain_captions(model, processor, images, cfg, device, batch_size=2, progress=False)
    captions = caption_images(model, processor, images, cfg, device, progress=False)
    check_explanations(found, captions, grid=cfg.image_size // 8)
    one = explain_caption(model, processor, images[0], cfg, device)
    np.testing.assert_allclose(one.token_maps, found[0].token_maps, atol=1e-5)


def test_each_token_gets_the_row_of_the_position_that_predicted_it(tiny, images, monkeypatch):
    cfg, model, processor, device = tiny
    real = grounding.rollout

    def position_marker(self_attentions, cross_attentions):  # row r peaks at patch r
        maps = real(self_attentions, cross_attentions)
        positions = torch.arange(maps.shape[1]) % maps.shape[2]
        return torch.nn.functional.one_hot(positions, maps.shape[2]).float().expand_as(maps)

    monkeypatch.setattr(grounding, "rollout", position_marker)
    found = explain_captions(model, processor, images[:1], cfg, device, progress=False)[0]
    grid = found.grid
    for index, token_map in enumerate(found.token_maps):  # token index i sits at position i + 1
        assert np.unravel_index(np.argmax(token_map), (grid, grid)) == divmod(index, grid)


def test_lora_wrapped_model(tiny, images):
    cfg, model, processor, device = tiny
    lora = apply_lora(build_stand_in("random:tiny", cfg.image_size, seed=1), cfg)
    with torch.no_grad():  # move the adapters off their zero start, so LoRA changes the maps
        for name, param in lora.named_parameters():
            if "lora_B" in name:
                param.normal_(std=0.5, generator=torch.Generator().manual_seed(0))
    found = explain_captions(lora, processor, images, cfg, device, progress=False)
    captions = caption_images(lora, processor, images, cfg, device, progress=False)
    check_explanations(found, captions, grid=cfg.image_size // 8)
    plain = explain_captions(model, processor, images, cfg, device, progress=False)
    assert any(
        a.caption != b.caption or not np.allclose(a.token_maps, b.token_maps)
        for a, b in zip(found, plain, strict=True)
    )


def test_models_without_cross_attention_are_refused(tiny, images):
    cfg, _, processor, device = tiny

    class NotBlip(torch.nn.Module):
        config = type("Config", (), {"model_type": "git"})()

    with pytest.raises(ValueError, match="BLIP"):
        explain_captions(NotBlip(), processor, images, cfg, device, progress=False)


def test_maps_are_the_same_with_sdpa_in_the_image_encoder(tiny, images):
    """SDPA (the default) changes the image encoder only; the maps read the text decoder's
    attention, which stays eager: same captions, same maps as the eager model, same weights."""
    cfg, eager, processor, device = tiny
    sdpa = build_stand_in("random:tiny", cfg.image_size, seed=1, attn="sdpa")
    assert any(isinstance(m, SdpaBlipAttention) for m in sdpa.modules())
    found = explain_captions(sdpa, processor, images, cfg, device, progress=False)
    expected = explain_captions(eager, processor, images, cfg, device, progress=False)
    assert [e.caption for e in found] == [e.caption for e in expected]
    for a, b in zip(found, expected, strict=True):
        np.testing.assert_allclose(a.token_maps, b.token_maps, atol=1e-5)
