"""How much device memory a training run needs, before it starts, and what would make it fit.

``estimate_training_memory(model, cfg, device)`` takes the larger of two moments of a step:

- **the start of the backward pass**: weights; AdamW's two moments (``exp_avg``, ``exp_avg_sq``)
  per trainable weight, at the weight's dtype (mixed precision keeps fp32 weights); under
  autocast the bf16/fp16 copies of the weights that the backward pass still needs
  (``weight_copies``); the gradients that exist before any activation is freed (BLIP: the LM
  head's, tied to the word embeddings); and the **activations** of the whole batch;
- **the optimizer step**: weights, gradients and AdamW state, plus the step's temporaries
  (PyTorch's default ``foreach`` AdamW allocates one more parameter-sized tensor; ``fused``
  none);

plus ``WORKSPACE_BYTES`` for what neither counts (the batch, library workspaces), all times
``ALLOCATOR_OVERHEAD``: what the caching allocator reserves beyond what it hands out. Both
constants come from the measured H200 rows (``bench/results/gpu_suite_nvidia-h200.json``,
docs/PERFORMANCE.md); tests/test_memory_h200.py checks every row: never under the peak reserved
memory, at most 15% over.

Activations per sample: for BLIP *counted* from its shapes (``helpers.training.blip_activations``),
what the notebooks use on every device; *measured* on CUDA and Intel XPU when a batch is given
(one forward/backward pass at batch 1 and one at batch 2, the difference of the two peaks: what
they use there for other families, Florence-2 and GIT); else counted from the tensors autograd
saves on a real batch.

What would make a run fit, and the report the notebooks print: ``helpers.training.memory_advice``.
Everything is in bytes; ``gib`` formats them.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from helpers.config import CaptionConfig
from helpers.model.loading import vision_encoder
from helpers.training.blip_activations import (
    blip_activation_bytes_for,
    blip_weight_copy_parameters,
)

GIB = 1024**3
MIB = 1024**2
ADAMW_MOMENTS = 2
FP32 = 4
HALF = 2
# peak reserved / peak allocated memory of the H200 rows ranges 1.025-1.132 (PyTorch's caching
# allocator rounds blocks and keeps freed ones); one factor for every row and device:
ALLOCATOR_OVERHEAD = 1.13
# what the count leaves out, fixed: the batch's tensors, cuBLAS workspaces, the loss and the
# gradient norms (the intercept of the H200 rows above the counted parts: 130-180 MiB)
WORKSPACE_BYTES = 128 * MIB
OPTIMIZERS = ("foreach", "fused")


def gib(n_bytes: float) -> str:
    """Bytes in GiB (one decimal), or in MiB below 1 GiB."""
    if abs(n_bytes) < GIB:
        return f"{n_bytes / MIB:.0f} MiB"
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
    lora: bool = False  # only adapters train; the model's own weights are frozen
    optimizer: str = "foreach"  # AdamW's implementation: "foreach" (PyTorch's default) or "fused"

    @property
    def autocast(self) -> bool:
        return self.precision in ("bf16", "fp16")


@dataclass(frozen=True)
class MemoryEstimate:
    """An estimate of a training run's peak device memory, in bytes, and how it was made."""

    weights: int
    gradients: int
    optimizer: int
    activations_per_sample: int
    plan: TrainingPlan
    method: str  # "measured on <device>", "analytic" or "counted ..."
    weight_copies: int = 0  # autocast copies of weights kept for the backward pass
    early_gradients: int = 0  # gradients allocated before any activation is freed
    step_temporaries: int = 0  # the optimizer step's own tensors
    workspace: int = WORKSPACE_BYTES
    overhead: float = ALLOCATOR_OVERHEAD

    @property
    def fixed(self) -> int:
        """Weights + gradients + optimizer state: independent of the batch."""
        return self.weights + self.gradients + self.optimizer

    @property
    def activations(self) -> int:
        return self.activations_per_sample * self.plan.batch_size

    @property
    def backward_peak(self) -> int:
        """Allocated at the start of the backward pass (every activation still alive)."""
        return (
            self.weights
            + self.optimizer
            + self.weight_copies
            + self.early_gradients
            + self.activations
            + self.workspace
        )

    @property
    def step_peak(self) -> int:
        """Allocated during the optimizer step (every gradient, no activation)."""
        return self.fixed + self.step_temporaries + self.workspace

    @property
    def total(self) -> int:
        """The peak the device must hold: the larger moment, times the allocator's overhead."""
        return math.ceil(self.overhead * max(self.backward_peak, self.step_peak))

    def summary(self) -> str:
        moment = "backward pass" if self.backward_peak >= self.step_peak else "optimizer step"
        return (
            f"Estimated peak training memory at batch {self.plan.batch_size}: {gib(self.total)} "
            f"(weights {gib(self.weights)}, gradients {gib(self.gradients)}, AdamW state "
            f"{gib(self.optimizer)}, activations {gib(self.activations)}: "
            f"{gib(self.activations_per_sample)} per sample, {self.method}; peak at the "
            f"{moment}, with {self.overhead - 1:.0%} for the allocator)"
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


def has_lora(model: torch.nn.Module) -> bool:
    """True when ``model`` trains LoRA adapters (PEFT names their weights ``lora_``)."""
    return any("lora_" in name for name, p in model.named_parameters() if p.requires_grad)


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
        lora=has_lora(model),
    )


def blip_activation_bytes(config: Any, plan: TrainingPlan) -> int:
    """Activation bytes per sample of a BLIP captioning model under ``plan``
    (``helpers.training.blip_activations``)."""
    return blip_activation_bytes_for(
        config,
        plan.caption_tokens,
        HALF if plan.autocast else FP32,
        sdpa=plan.sdpa,
        checkpointing=plan.gradient_checkpointing,
        vision_trains=plan.vision_trains,
        lora=plan.lora,
    )


def transient_bytes(model: torch.nn.Module, plan: TrainingPlan) -> tuple[int, int]:
    """(autocast weight copies, early gradients) of ``plan``: BLIP's counted from its config; for
    other families every matrix's copy (an upper bound) and no early gradients."""
    if has_blip_config(model):
        config = model.config
        copies = blip_weight_copy_parameters(config, plan.vision_trains, plan.lora)
        head = config.text_config.hidden_size * config.text_config.vocab_size
        early = 0 if plan.lora else FP32 * head
    else:
        copies = sum(
            module.weight.numel()
            for module in model.modules()
            if isinstance(module, torch.nn.Linear | torch.nn.Conv2d)
        )
        early = 0
    return (HALF * copies if plan.autocast else 0), early


def plan_estimate(
    model: torch.nn.Module,
    plan: TrainingPlan,
    weights: int,
    gradients: int,
    per_sample: int,
    method: str,
) -> MemoryEstimate:
    """The estimate of ``plan`` from its parts: ``weights`` and ``gradients`` in bytes, AdamW's
    moments beside each gradient, ``per_sample`` activation bytes, and ``transient_bytes``."""
    if plan.optimizer not in OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {OPTIMIZERS}, not {plan.optimizer!r}")
    copies, early = transient_bytes(model, plan)
    return MemoryEstimate(
        weights,
        gradients,
        ADAMW_MOMENTS * gradients,
        per_sample,
        plan,
        method,
        weight_copies=copies,
        early_gradients=early,
        step_temporaries=gradients if plan.optimizer == "foreach" else 0,
    )


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
    not at all, and the estimate says so). ``memory_check`` never probes BLIP: the analytic
    count is the one tested against measured peaks (the probe read up to 33% under them).
    """
    measure = make_batch is not None and device in ("cuda", "xpu")
    weights, gradients, _ = parameter_bytes(model, _to_be_frozen(model, cfg))
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
    return plan_estimate(model, plan, weights, gradients, per_sample, method)


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
