"""What would make a training run fit in memory, and the report the notebooks print.

``fit_advice`` lists the levers that shrink ``helpers.training.memory``'s estimate, in order of what
they cost (bf16, gradient checkpointing, a frozen vision encoder, LoRA, a smaller batch with
gradient accumulation), each applied on top of the ones before, with the estimate it leads to.
``memory_check`` is the one call the notebooks make before training.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import psutil
import torch

from helpers.config import CaptionConfig
from helpers.device import choose_device
from helpers.model.loading import vision_encoder
from helpers.model.lora import lora_targets
from helpers.training.memory import (
    FP32,
    MemoryEstimate,
    TrainingPlan,
    blip_activation_bytes,
    estimate_training_memory,
    gib,
    has_blip_config,
    plan_estimate,
)


def lora_parameter_count(model: torch.nn.Module, cfg: CaptionConfig) -> int:
    """Trainable parameters LoRA would add: r * (in + out) per targeted ``nn.Linear``."""
    targets = set(lora_targets(model, cfg))
    return sum(
        cfg.lora_r * (module.in_features + module.out_features)
        for name, module in model.named_modules()
        if isinstance(module, torch.nn.Linear) and name.rsplit(".", 1)[-1] in targets
    )


def free_memory_bytes(device: str) -> int:
    """Free memory on ``device`` now (host RAM available for ``cpu``)."""
    if device in ("cuda", "xpu") and hasattr(getattr(torch, device), "mem_get_info"):
        return int(getattr(torch, device).mem_get_info()[0])
    if device == "xpu":
        total = torch.xpu.get_device_properties(0).total_memory
        return int(total - torch.xpu.memory_reserved())
    if device == "mps":
        return int(torch.mps.recommended_max_memory() - torch.mps.driver_allocated_memory())
    return int(psutil.virtual_memory().available)


@dataclass(frozen=True)
class Lever:
    """A change that lowers the estimate: its name, the knob, and the estimate it leads to."""

    name: str
    how: str
    estimate: MemoryEstimate

    def line(self, before: MemoryEstimate) -> str:
        saving = before.total - self.estimate.total
        return f"{self.name} ({self.how}): {gib(self.estimate.total)}, saves {gib(saving)}"


def activation_model(model: torch.nn.Module) -> Callable[[TrainingPlan], int]:
    """How activations scale with the plan: BLIP's analytic count; for other families only the
    bytes per value (so their gradient-checkpointing and frozen-encoder levers keep the
    activations as they are: an upper bound, which ``fit_report`` says)."""
    if has_blip_config(model):
        return lambda plan: blip_activation_bytes(model.config, plan)
    return lambda plan: 2 if plan.precision in ("bf16", "fp16") else 4


def fit_advice(model: torch.nn.Module, cfg: CaptionConfig, estimate: MemoryEstimate) -> list[Lever]:
    """The levers not yet in use, cheapest first, each applied on top of the ones before it.

    Their estimates rescale the activations by ``activation_model``'s ratio (a measured
    per-sample figure is scaled by it), and recompute the parameter parts from the plan."""
    plan, levers = estimate.plan, []
    weights = estimate.weights
    activations = activation_model(model)
    scale = estimate.activations_per_sample / max(activations(plan), 1)

    def add(name: str, how: str, new_plan: TrainingPlan) -> None:
        gradients = new_plan.trainable_parameters * FP32
        per_sample = round(activations(new_plan) * scale)
        new = plan_estimate(model, new_plan, weights, gradients, per_sample, estimate.method)
        levers.append(Lever(name, how, new))

    if plan.precision == "fp32":
        add(
            "bf16", 'precision="bf16" (Intel GPUs, NVIDIA Ampere+)', replace(plan, precision="bf16")
        )
        plan = levers[-1].estimate.plan
    if not plan.gradient_checkpointing:
        add(
            "gradient checkpointing",
            "gradient_checkpointing=True",
            replace(plan, gradient_checkpointing=True),
        )
        plan = levers[-1].estimate.plan
    vision_params = sum(p.numel() for p in vision_encoder(model).parameters())
    if plan.vision_trains:
        frozen = replace(
            plan,
            vision_trains=False,
            trainable_parameters=plan.trainable_parameters - vision_params,
        )
        add("frozen vision encoder", "freeze_vision_encoder=True", frozen)
        plan = frozen
    lora = lora_parameter_count(model, cfg)
    if lora < plan.trainable_parameters:
        add(
            "LoRA",
            "notebook 05 or --lora",
            replace(plan, vision_trains=False, trainable_parameters=lora, lora=True),
        )
        plan = levers[-1].estimate.plan
    size = plan.batch_size
    while size > 1:
        size //= 2
        accumulation = cfg.gradient_accumulation_steps * cfg.batch_size // size
        add(
            f"batch {size}",
            f"batch_size={size}, gradient_accumulation_steps={accumulation} (same effective batch)",
            replace(plan, batch_size=size),
        )
    return levers


def memory_check(
    model: torch.nn.Module,
    cfg: CaptionConfig,
    make_batch: Callable[[int], dict[str, torch.Tensor]] | None = None,
) -> str:
    """``fit_report`` for training ``model`` with ``cfg`` on the device ``cfg`` picks: what the
    notebooks print before training. BLIP's activations are counted analytically on every device
    (``make_batch`` is not used: that count is the one tested against measured GPU peaks). For
    other families (Florence-2), ``make_batch`` (n -> a batch of n training samples) measures
    them on CUDA and Intel GPUs (the model is moved to the device for that) and counts them
    elsewhere."""
    choice = choose_device(cfg.device, cfg.precision)
    if has_blip_config(model):
        make_batch = None
    elif make_batch is not None and choice.device in ("cuda", "xpu"):
        model.to(choice.torch_device)
    estimate = estimate_training_memory(model, cfg, choice.device, choice.precision, make_batch)
    return fit_report(model, cfg, estimate, free_memory_bytes(choice.device))


def fit_report(
    model: torch.nn.Module, cfg: CaptionConfig, estimate: MemoryEstimate, free_bytes: int
) -> str:
    """The estimate beside the free memory and, when it does not fit, the levers that would."""
    lines = [estimate.summary(), f"Free memory now: {gib(free_bytes)}."]
    if estimate.total <= free_bytes:
        lines.append("It should fit.")
        return "\n".join(lines)
    lines.append("It may not fit. Levers, cheapest first (each on top of the ones above):")
    if not has_blip_config(model):
        lines.append(
            "  (activations re-estimated for precision and batch only: the other levers' "
            "figures are upper bounds)"
        )
    for lever in fit_advice(model, cfg, estimate):
        mark = "fits" if lever.estimate.total <= free_bytes else "still too big"
        lines.append(f"  - {lever.line(estimate)} -> {mark}")
    return "\n".join(lines)
