"""LoRA (low-rank adaptation) with PEFT: wrap a model, the config of a LoRA run, save and merge.

Seed 001's recipe by default: rank 8, alpha 32, dropout 0.1 on the ``query`` and ``value``
projections, 614,400 trainable parameters on BLIP-large (0.13%).
"""

from __future__ import annotations

from pathlib import Path

import torch
from peft import LoraConfig, PeftModel, get_peft_model
from transformers import PreTrainedModel

from helpers.config import CaptionConfig
from helpers.model.attributes import attribute_heads


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
        target_modules=list(cfg.lora_target_modules),
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


__all__ = ["LORA_LEARNING_RATE_FACTOR", "apply_lora", "load_lora", "lora_config", "merge_lora"]
