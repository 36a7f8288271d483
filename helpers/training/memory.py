"""How much device memory a training run needs, before it starts, and what would make it fit.

``estimate_training_memory(model, cfg, device)`` adds up:

- **weights, gradients and AdamW state**, exactly, from the parameters: every weight at its
  dtype; a gradient per trainable weight; AdamW's two moments (``exp_avg``, ``exp_avg_sq``) per
  trainable weight, at the weight's dtype (mixed precision keeps fp32 weights);
- **activations per sample**: *measured* where the device counts its memory (CUDA, Intel XPU):
  one forward/backward pass at batch 1 and one at batch 2, the difference of the two peaks; else
  (CPU, Apple MPS) an *analytic* count of the tensors autograd keeps for BLIP (``blip_activation_
  bytes``), in the spirit of Korthikanti et al. 2022, "Reducing Activation Recomputation in Large
  Transformer Models", adapted to BLIP's ViT encoder and BERT-style decoder. How close the analytic
  count comes to measured peaks is in docs/PERFORMANCE.md (``bench/memory_estimate.py``). Other
  families (Florence-2) are counted there from the tensors autograd saves on a real batch.

What would make a run fit, and the report the notebooks print: ``helpers.training.memory_advice``.
Everything is in bytes; ``gib`` formats them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from helpers.config import CaptionConfig
from helpers.model.loading import vision_encoder

GIB = 1024**3
ADAMW_MOMENTS = 2


def gib(n_bytes: float) -> str:
    """Bytes in GiB (one decimal), or in MiB below 1 GiB."""
    if abs(n_bytes) < GIB:
        return f"{n_bytes / 1024**2:.0f} MiB"
    return f"{n_bytes / GIB:.1f} GiB"


@dataclass(frozen=True)
class TrainingPlan:
    """What decides a run's memory: what trains, in which precision, with which levers."""

    batch_size: int
    precision: str  # "fp32", "bf16" or "fp16"
    gradient_checkpointing: bool
    vision_trains: bool
    trainable_parameters: int
    caption_tokens: int
    sdpa: bool = False


@dataclass(frozen=True)
class MemoryEstimate:
    """An estimate of a training run's peak device memory, in bytes, and how it was made."""

    weights: int
    gradients: int
    optimizer: int
    activations_per_sample: int
    plan: TrainingPlan
    method: str  # "measured on <device>" or "analytic"

    @property
    def fixed(self) -> int:
        """Weights + gradients + optimizer state: independent of the batch."""
        return self.weights + self.gradients + self.optimizer

    @property
    def activations(self) -> int:
        return self.activations_per_sample * self.plan.batch_size

    @property
    def total(self) -> int:
        return self.fixed + self.activations

    def summary(self) -> str:
        return (
            f"Estimated peak training memory at batch {self.plan.batch_size}: {gib(self.total)} "
            f"(weights {gib(self.weights)}, gradients {gib(self.gradients)}, AdamW state "
            f"{gib(self.optimizer)}, activations {gib(self.activations)}: "
            f"{gib(self.activations_per_sample)} per sample, {self.method})"
        )


def parameter_bytes(model: torch.nn.Module, frozen: set[int] = frozenset()) -> tuple[int, int, int]:
    """(weights incl. buffers, gradients, AdamW state) in bytes, exactly; parameters whose
    ``id`` is in ``frozen`` count as not trainable."""
    weights = sum(p.numel() * p.element_size() for p in model.parameters())
    weights += sum(b.numel() * b.element_size() for b in model.buffers())
    trainable = [p for p in model.parameters() if p.requires_grad and id(p) not in frozen]
    gradients = sum(p.numel() * p.element_size() for p in trainable)
    return weights, gradients, ADAMW_MOMENTS * gradients


def _to_be_frozen(model: torch.nn.Module, cfg: CaptionConfig) -> set[int]:
    """The parameters ``train`` will freeze (``cfg.freeze_vision_encoder``), by ``id``."""
    if not cfg.freeze_vision_encoder:
        return set()
    return {id(p) for p in vision_encoder(model).parameters()}


def current_plan(model: torch.nn.Module, cfg: CaptionConfig, precision: str) -> TrainingPlan:
    """The plan of ``model`` (its frozen parts, LoRA) trained with ``cfg`` (which may freeze
    the vision encoder on top)."""
    frozen = _to_be_frozen(model, cfg)
    encoder = vision_encoder(model)
    return TrainingPlan(
        batch_size=cfg.batch_size,
        precision=precision,
        gradient_checkpointing=cfg.gradient_checkpointing,
        vision_trains=any(p.requires_grad and id(p) not in frozen for p in encoder.parameters()),
        trainable_parameters=sum(
            p.numel() for p in model.parameters() if p.requires_grad and id(p) not in frozen
        ),
        caption_tokens=cfg.max_caption_tokens,
        sdpa=cfg.attn_implementation == "sdpa",
    )


def _layer(s: int, h: int, a: int, m: int, act: int, eager: bool) -> int:
    """Bytes autograd keeps for one pre-LN transformer layer of ``s`` tokens: the two LayerNorm
    inputs and outputs, q, k, v, the attention context (8 s*h), the MLP's two inner tensors
    (2 s*m) at the activation dtype's ``act`` bytes, plus the fp32 attention probabilities
    (a*s*s) where attention is eager."""
    return act * (8 * s * h + 2 * s * m) + (4 * a * s * s if eager else 0)


def blip_activation_bytes(config: Any, plan: TrainingPlan) -> int:
    """Analytic activation bytes per sample for a BLIP captioning model (see module docstring).

    Vision: nothing is kept when the encoder is frozen (no gradient flows through it); with
    gradient checkpointing only each layer's input is kept, plus one layer recomputed at a time.
    Text decoder (always trained): per layer, the self-attention block and MLP as a ViT layer,
    plus cross-attention to the image tokens (its query side, k and v over the image tokens, the
    fp32 probabilities); then the LM head's logits and the loss's fp32 copies of them. One more
    layer's worth is added for the gradients in flight during the backward pass.
    """
    act = 2 if plan.precision in ("bf16", "fp16") else 4
    vis, txt = config.vision_config, config.text_config
    s_v = (vis.image_size // vis.patch_size) ** 2 + 1
    h_v, a_v, m_v, n_v = (
        vis.hidden_size,
        vis.num_attention_heads,
        vis.intermediate_size,
        vis.num_hidden_layers,
    )
    s_t, h_t, a_t = plan.caption_tokens, txt.hidden_size, txt.num_attention_heads
    m_t, n_t, vocab = txt.intermediate_size, txt.num_hidden_layers, txt.vocab_size

    vision_layer = _layer(s_v, h_v, a_v, m_v, act, eager=not plan.sdpa)
    text_layer = _layer(s_t, h_t, a_t, m_t, act, eager=True)
    text_layer += act * (4 * s_t * h_t + 2 * s_v * h_t) + 4 * a_t * s_t * s_v
    if plan.gradient_checkpointing:
        vision = n_v * 4 * s_v * h_v + vision_layer
        text = n_t * 4 * s_t * h_t + text_layer
    else:
        vision, text = n_v * vision_layer, n_t * text_layer
    if not plan.vision_trains:
        vision = 0
    image_features = act * s_v * h_v
    head = act * (2 * s_t * h_t + s_t * vocab) + 2 * 4 * s_t * vocab
    in_flight = vision_layer if plan.vision_trains else text_layer
    return vision + text + image_features + head + in_flight


def estimate_training_memory(
    model: torch.nn.Module,
    cfg: CaptionConfig,
    device: str,
    precision: str = "fp32",
    make_batch: Callable[[int], dict[str, torch.Tensor]] | None = None,
) -> MemoryEstimate:
    """Estimate peak device memory for training ``model`` with ``cfg`` on ``device``.

    With ``make_batch`` (n -> a collated batch of n training samples) on CUDA or XPU, the
    activations are measured by a probe (one forward/backward at batch 1 and 2; the model must
    already be on the device). Otherwise BLIP's are counted analytically, and other families'
    (Florence-2, GIT) by ``counted_activation_bytes`` on ``make_batch``'s samples (without it:
    not at all, and the estimate says so).
    """
    measure = make_batch is not None and device in ("cuda", "xpu")
    weights, gradients, optimizer = parameter_bytes(model, _to_be_frozen(model, cfg))
    plan = current_plan(model, cfg, precision)
    if measure:
        assert make_batch is not None
        per_sample = probe_activation_bytes(model, make_batch, device, precision)
        method = f"measured on {device} at batch 1 and 2"
    elif has_blip_config(model):
        per_sample = blip_activation_bytes(model.config, plan)
        method = "analytic"
    elif make_batch is not None:
        per_sample = counted_activation_bytes(model, make_batch, precision)
        method = "counted from the tensors saved for backward at batch 1 and 2"
    else:
        per_sample, method = 0, "activations not estimated (pass make_batch=)"
    return MemoryEstimate(weights, gradients, optimizer, per_sample, plan, method)


def has_blip_config(model: torch.nn.Module) -> bool:
    """True when ``blip_activation_bytes`` can count ``model``'s activations (BLIP models)."""
    return getattr(getattr(model, "config", None), "model_type", None) == "blip"


def counted_activation_bytes(
    model: torch.nn.Module, make_batch: Callable[[int], dict[str, torch.Tensor]], precision: str
) -> int:
    """Activation bytes per sample of any model, on any device: the bytes of the tensors
    autograd saves for the backward pass (each storage once), at batch 2 minus batch 1, under
    ``precision``'s autocast. What the backward pass allocates on top is not counted."""
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision)
    where = next(model.parameters()).device
    counts = []
    model.train()
    for size in (1, 2):
        seen: dict[int, int] = {}

        def keep(tensor: torch.Tensor, seen: dict[int, int] = seen) -> torch.Tensor:
            storage = tensor.untyped_storage()
            seen[storage.data_ptr()] = storage.nbytes()
            return tensor

        batch = {k: v.to(where) for k, v in make_batch(size).items()}
        with (
            torch.autograd.graph.saved_tensors_hooks(keep, lambda tensor: tensor),
            torch.autocast(where.type, dtype=dtype or torch.float32, enabled=dtype is not None),
        ):
            model(**batch).loss.detach()
        counts.append(sum(seen.values()))
    return max(counts[1] - counts[0], 0)


def probe_activation_bytes(
    model: torch.nn.Module,
    make_batch: Callable[[int], dict[str, torch.Tensor]],
    device: str,
    precision: str,
) -> int:
    """Activation bytes per sample, measured: peak memory of a forward/backward pass at batch 2
    minus that at batch 1 (the device's peak-memory counters; gradients are dropped after)."""
    accel = getattr(torch, device)
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision)
    peaks = []
    model.train()
    where = next(model.parameters()).device
    for size in (1, 2):
        batch = {k: v.to(where) for k, v in make_batch(size).items()}
        accel.synchronize()
        accel.empty_cache()
        accel.reset_peak_memory_stats()
        with torch.autocast(where.type, dtype=dtype or torch.float32, enabled=dtype is not None):
            loss = model(**batch).loss
        loss.backward()
        accel.synchronize()
        peaks.append(accel.max_memory_allocated())
        model.zero_grad(set_to_none=True)
        del batch, loss
    return max(peaks[1] - peaks[0], 0)
