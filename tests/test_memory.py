"""The memory estimate (exact parameter arithmetic, analytic activations, advice) and the
out-of-memory check."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest
import torch
from transformers import BlipForConditionalGeneration

from helpers.config import CaptionConfig, load_config
from helpers.model.loading import (
    build_stand_in,
    freeze_vision_encoder,
    load_captioner,
    stand_in_config,
    vision_encoder,
)
from helpers.model.lora import apply_lora
from helpers.oom import BatchTooLargeError, is_out_of_memory, map_in_halving_batches
from helpers.training.blip_activations import blip_weight_copy_parameters
from helpers.training.memory import (
    ALLOCATOR_OVERHEAD,
    GIB,
    WORKSPACE_BYTES,
    blip_activation_bytes,
    current_plan,
    estimate_training_memory,
    plan_estimate,
)
from helpers.training.memory_advice import (
    fit_advice,
    fit_report,
    lora_parameter_count,
    memory_check,
)

BLIP_LARGE_PARAMETERS = 446_290_492  # the true architecture (docs/PERFORMANCE.md's trainable)
SEED_001_LORA_PARAMETERS = 614_400  # r=8 on query and value of the text decoder


@pytest.fixture(scope="module")
def blip_large() -> BlipForConditionalGeneration:
    """BLIP-large's architecture on the meta device: shapes and dtypes, no memory."""
    with torch.device("meta"):
        return BlipForConditionalGeneration(stand_in_config("random:blip-large", 384))


def buffer_bytes(model: torch.nn.Module) -> int:
    return sum(b.numel() * b.element_size() for b in model.buffers())


def test_parameter_parts_match_the_arithmetic_exactly_for_blip_large(blip_large) -> None:
    cfg = CaptionConfig(batch_size=1, max_caption_tokens=128)
    estimate = estimate_training_memory(blip_large, cfg, "cpu")
    assert sum(p.numel() for p in blip_large.parameters()) == BLIP_LARGE_PARAMETERS
    assert estimate.weights == 4 * BLIP_LARGE_PARAMETERS + buffer_bytes(blip_large)
    assert estimate.gradients == 4 * BLIP_LARGE_PARAMETERS
    assert estimate.optimizer == 2 * 4 * BLIP_LARGE_PARAMETERS  # AdamW: exp_avg, exp_avg_sq
    assert estimate.step_temporaries == estimate.gradients  # foreach AdamW: one more per weight
    assert estimate.weight_copies == 0  # fp32: no autocast copies
    peak = max(estimate.backward_peak, estimate.step_peak)
    assert estimate.total == math.ceil(ALLOCATOR_OVERHEAD * peak)
    assert estimate.backward_peak == (
        estimate.weights
        + estimate.optimizer
        + estimate.early_gradients
        + estimate.activations_per_sample
        + WORKSPACE_BYTES
    )
    assert estimate.method.startswith("analytic")
    assert cfg.with_overrides(batch_size=4) and (
        estimate_training_memory(blip_large, cfg.with_overrides(batch_size=4), "cpu").activations
        == 4 * estimate.activations_per_sample
    )


def test_frozen_encoder_and_lora_shrink_the_trainable_parts_exactly(blip_large) -> None:
    cfg = CaptionConfig(max_caption_tokens=128)
    vision = sum(p.numel() for p in vision_encoder(blip_large).parameters())
    assert lora_parameter_count(blip_large, cfg) == SEED_001_LORA_PARAMETERS
    for p in vision_encoder(blip_large).parameters():
        p.requires_grad_(False)
    try:
        frozen = estimate_training_memory(blip_large, cfg, "cpu")
        assert frozen.gradients == 4 * (BLIP_LARGE_PARAMETERS - vision)
        assert not frozen.plan.vision_trains
    finally:
        for p in vision_encoder(blip_large).parameters():
            p.requires_grad_(True)


def test_lora_count_equals_what_peft_trains() -> None:
    cfg = CaptionConfig(model_name="random:tiny", image_size=32)
    model = build_stand_in("random:tiny", 32)
    expected = lora_parameter_count(model, cfg)
    lora = apply_lora(model, cfg)
    assert sum(p.numel() for p in lora.parameters() if p.requires_grad) == expected
    estimate = estimate_training_memory(lora, cfg, "cpu")
    assert estimate.gradients == 4 * expected and not estimate.plan.vision_trains
    plain = build_stand_in("random:tiny", 32)
    assert estimate.plan.lora and not current_plan(plain, cfg, "fp32").lora


def test_analytic_activations_follow_the_levers(blip_large) -> None:
    cfg = CaptionConfig(max_caption_tokens=128)
    plan = current_plan(blip_large, cfg, "fp32")
    config = blip_large.config
    base = blip_activation_bytes(config, plan)
    half = blip_activation_bytes(config, plan.__class__(**{**plan.__dict__, "precision": "bf16"}))
    ckpt = blip_activation_bytes(
        config, plan.__class__(**{**plan.__dict__, "gradient_checkpointing": True})
    )
    frozen = blip_activation_bytes(
        config, plan.__class__(**{**plan.__dict__, "vision_trains": False})
    )
    short = blip_activation_bytes(config, plan.__class__(**{**plan.__dict__, "caption_tokens": 64}))
    assert 0 < ckpt < half < base and 0 < frozen < base and short < base
    # the vision encoder dominates at 384 px: 577 tokens x 24 layers vs 128 x 12
    assert frozen < base / 4


def test_bf16_keeps_a_half_precision_copy_of_every_matrix_that_trains(blip_large) -> None:
    """The analytic count of the matrices autocast copies equals the model's own Linear and
    Conv2d weights (the LM head's tied to the word embeddings: counted once per use)."""
    matrices = sum(
        m.weight.numel()
        for m in blip_large.modules()
        if isinstance(m, torch.nn.Linear | torch.nn.Conv2d)
    )
    assert blip_weight_copy_parameters(blip_large.config, True, False) == matrices
    cfg = CaptionConfig(max_caption_tokens=128)
    bf16 = estimate_training_memory(blip_large, cfg, "cuda", "bf16")
    assert bf16.weight_copies == 2 * matrices
    frozen = estimate_training_memory(
        blip_large, cfg.with_overrides(freeze_vision_encoder=True), "cuda", "bf16"
    )
    vision = sum(
        m.weight.numel()
        for m in vision_encoder(blip_large).modules()
        if isinstance(m, torch.nn.Linear | torch.nn.Conv2d)
    )
    assert frozen.weight_copies == 2 * (matrices - vision)


def test_fused_adamw_has_no_step_temporaries_and_unknown_optimizers_are_refused(
    blip_large,
) -> None:
    cfg = CaptionConfig(batch_size=1, max_caption_tokens=128, gradient_checkpointing=True)
    foreach = estimate_training_memory(blip_large, cfg, "cuda", "bf16")
    parts = (foreach.weights, foreach.gradients, foreach.activations_per_sample, "analytic")
    fused = plan_estimate(blip_large, replace(foreach.plan, optimizer="fused"), *parts)
    assert fused.step_temporaries == 0 < foreach.step_temporaries
    assert fused.total < foreach.total  # checkpointing at batch 1: the step sets the peak
    with pytest.raises(ValueError, match="optimizer must be one of"):
        plan_estimate(blip_large, replace(foreach.plan, optimizer="sgd"), *parts)


def test_fit_report_lists_levers_cheapest_first_each_lowering_the_estimate(blip_large) -> None:
    cfg = CaptionConfig(batch_size=8, max_caption_tokens=128)
    estimate = estimate_training_memory(blip_large, cfg, "cuda")  # no probe batch: analytic
    levers = fit_advice(blip_large, cfg, estimate)
    names = [lever.name for lever in levers]
    assert names[:4] == ["bf16", "gradient checkpointing", "frozen vision encoder", "LoRA"]
    assert names[4:] == ["batch 4", "batch 2", "batch 1"]
    totals = [estimate.total] + [lever.estimate.total for lever in levers]
    assert totals == sorted(totals, reverse=True) and len(set(totals)) == len(totals)
    assert "gradient_accumulation_steps=8" in levers[-1].how  # batch 1 keeps the effective 8

    report = fit_report(blip_large, cfg, estimate, free_bytes=12 * GIB)
    assert "may not fit" in report and "-> fits" in report and "Free memory now: 12.0 GiB" in report
    assert "It should fit." in fit_report(blip_large, cfg, estimate, free_bytes=estimate.total)


def test_probe_measures_activations_as_the_difference_of_two_peaks(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The device's counters are faked (no GPU here): peaks of 700 and 1000 bytes at batch 1
    and 2 mean 300 bytes per sample; the probe runs real forward/backward passes."""
    model = build_stand_in("random:tiny", 32)
    cfg = CaptionConfig(model_name="random:tiny", image_size=32)
    peaks, sizes = iter([700, 1000]), []
    for name in ("synchronize", "empty_cache", "reset_peak_memory_stats"):
        monkeypatch.setattr(torch.cuda, name, lambda *a, **k: None)
    monkeypatch.setattr(torch.cuda, "max_memory_allocated", lambda *a, **k: next(peaks))

    def make_batch(n: int) -> dict[str, torch.Tensor]:
        sizes.append(n)
        ids = torch.full((n, 6), 5)
        return {"pixel_values": torch.rand(n, 3, 32, 32), "input_ids": ids, "labels": ids}

    estimate = estimate_training_memory(model, cfg, "cuda", make_batch=make_batch)
    assert sizes == [1, 2] and estimate.activations_per_sample == 300
    assert estimate.method == "measured on cuda at batch 1 and 2"
    assert all(p.grad is None for p in model.parameters())  # the probe leaves no gradients


def test_without_an_analytic_count_or_a_batch_the_estimate_says_so() -> None:
    model = load_captioner(load_config("smoke", model="random:florence-tiny")).model
    estimate = estimate_training_memory(model, CaptionConfig(), "cpu")
    assert estimate.activations_per_sample == 0
    assert "activations not estimated (pass make_batch=)" in estimate.summary()


def test_frozen_model_plan_is_read_from_the_model(tmp_path) -> None:
    model = build_stand_in("random:tiny", 32)
    freeze_vision_encoder(model)
    plan = current_plan(model, CaptionConfig(), "fp32")
    assert not plan.vision_trains


@pytest.mark.parametrize(
    ("error", "is_oom"),
    [
        (torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB"), True),
        (torch.OutOfMemoryError("XPU out of memory. Tried to allocate 4.66 GiB"), True),
        (RuntimeError("XPU out of memory. Tried to allocate 1.00 GiB (GPU 0)"), True),
        (RuntimeError("MPS backend out of memory (MPS allocated: 76.86 GiB)"), True),
        (RuntimeError("CUDA error: device-side assert triggered"), False),
        (RuntimeError("shape mismatch: the model ran out of memory-mapped tokens"), False),
        (NotImplementedError("MPS backend out of memory"), False),
        (ValueError("out of memory"), False),
        (RuntimeError(), False),
    ],
)
def test_out_of_memory_is_recognised_precisely(error: BaseException, is_oom: bool) -> None:
    assert is_out_of_memory(error) is is_oom


def test_halving_batches_keep_order_and_results_after_out_of_memory(
    capsys: pytest.CaptureFixture,
) -> None:
    calls: list[int] = []

    def square_unless_big(chunk):
        calls.append(len(chunk))
        if len(chunk) > 3:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 1.00 GiB")
        return [x * x for x in chunk]

    items = list(range(11))
    result = map_in_halving_batches(square_unless_big, items, 8, "cuda", desc="t", progress=False)
    assert result == [x * x for x in items]
    assert calls == [8, 4, 2, 2, 2, 2, 2, 1]  # halved twice, then kept at 2
    assert "t: out of cuda memory; continuing with batches of 2." in capsys.readouterr().out


def test_halving_batches_let_other_errors_through_and_give_up_below_one() -> None:
    def broken(chunk):
        raise RuntimeError("CUDA error: device-side assert triggered")

    with pytest.raises(RuntimeError, match="device-side assert"):
        map_in_halving_batches(broken, [1, 2, 3], 2, "cuda", desc="t", progress=False)

    def never_fits(chunk):
        raise RuntimeError("MPS backend out of memory (MPS allocated: 1 GiB)")

    with pytest.raises(BatchTooLargeError, match="one item at a time does not fit"):
        map_in_halving_batches(never_fits, [1, 2, 3], 4, "mps", desc="t", progress=False)


def test_freeze_knob_counts_as_frozen_before_train_applies_it(blip_large) -> None:
    knob = CaptionConfig(freeze_vision_encoder=True, max_caption_tokens=128)
    by_knob = estimate_training_memory(blip_large, knob, "cpu")
    for p in vision_encoder(blip_large).parameters():
        p.requires_grad_(False)
    try:
        applied = estimate_training_memory(blip_large, CaptionConfig(max_caption_tokens=128), "cpu")
    finally:
        for p in vision_encoder(blip_large).parameters():
            p.requires_grad_(True)
    assert by_knob == applied


def test_memory_check_reports_the_estimate_beside_free_memory() -> None:
    cfg = CaptionConfig(model_name="random:tiny", image_size=32, device="cpu", precision="fp32")
    report = memory_check(build_stand_in("random:tiny", 32), cfg)
    assert report.startswith("Estimated peak training memory at batch 8:")
    assert "Free memory now:" in report and "It should fit." in report
