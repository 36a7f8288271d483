"""LoRA (low-rank adaptation) with PEFT: wrap a model, the config of a LoRA run, save and merge.

Seed 001's recipe by default: rank 8, alpha 32, dropout 0.1 on the ``query`` and ``value``
projections, 614,400 trainable parameters on BLIP-large (0.13%). Florence-2's default targets are
its BART's ``q_proj`` and ``v_proj`` (encoder, decoder and cross-attention; its DaViT image tower
has none), so its image tower stays frozen as BLIP's does.
"""

from __future__ import annotations

from pathlib import Path

import torch
from peft import LoraConfig, PeftModel, get_peft_model
from transformers import PreTrainedModel

from helpers.config import CaptionConfig
from helpers.model.attributes import attribute_heads, base_model

# the default LoRA targets of each family (``config.model_type``)
DEFAULT_TARGETS = {
    "blip": ("query", "value"),
    "git": ("query", "value"),
    "florence2": ("q_proj", "v_proj"),
}


def default_targets(model_type: str | None) -> tuple[str, ...]:
    """The family's default LoRA target modules (BLIP's for an unknown family)."""
    return DEFAULT_TARGETS.get(model_type or "blip", DEFAULT_TARGETS["blip"])


def model_type(model: torch.nn.Module) -> str | None:
    """``config.model_type`` of a model, plain or LoRA-wrapped."""
    return getattr(getattr(base_model(model), "config", None), "model_type", None)


def lora_targets(model: torch.nn.Module, cfg: CaptionConfig) -> tuple[str, ...]:
    """The module names LoRA adapts: ``cfg.lora_target_modules``, else the family's default."""
    return tuple(cfg.lora_target_modules or default_targets(model_type(model)))


def apply_lora(model: PreTrainedModel, cfg: CaptionConfig) -> PeftModel:
    """Wrap ``model`` with LoRA adapters (seed 001's recipe by default); only they train, and
    the attribute heads of a ``BlipAttributeCaptioner`` (saved with the adapters). Their initial
    weights depend only on ``cfg.seed``."""
    heads = ["attribute_head"] if attribute_heads(model) is not None else None
    lora = LoraConfig(
        r=cfg.lora_r,
        lora_alpha=cfg.lora_alpha,
        lora_dropout=cfg.lora_dropout,
        bias="none",
        target_modules=list(lora_targets(model, cfg)),
        modules_to_save=heads,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.seed)
        return get_peft_model(model, lora)


LORA_LEARNING_RATE_FACTOR = 4  # LoRA's few weights usually want a higher rate than all of them


def lora_config(cfg: CaptionConfig) -> CaptionConfig:
    """The config of a LoRA run of ``cfg``, shared by notebook 05 and the command line's
    ``--lora``: its own folder ``<run_dir>-lora`` (a LoRA run never resumes a full fine-tune)
    and the learning rate ``cfg.lora_learning_rate``, by default 4 x ``cfg.learning_rate``."""
    rate = cfg.lora_learning_rate
    if rate is None:
        rate = LORA_LEARNING_RATE_FACTOR * cfg.learning_rate
    run_dir = cfg.run_dir.with_name(f"{cfg.run_dir.name}-lora")
    return cfg.with_overrides(run_dir=run_dir, learning_rate=rate)


def load_lora(
    model: PreTrainedModel, adapter_dir: str | Path, *, is_trainable: bool = False
) -> PeftModel:
    """Attach saved adapters to ``model``; ``is_trainable=True`` to resume training them."""
    return PeftModel.from_pretrained(model, str(adapter_dir), is_trainable=is_trainable)


def merge_lora(model: PeftModel) -> PreTrainedModel:
    """Fold the adapters into the base weights: a plain model, as fast as the original."""
    return model.merge_and_unload()


__all__ = [
    "DEFAULT_TARGETS",
    "LORA_LEARNING_RATE_FACTOR",
    "apply_lora",
    "default_targets",
    "load_lora",
    "lora_config",
    "lora_targets",
    "merge_lora",
    "model_type",
]
