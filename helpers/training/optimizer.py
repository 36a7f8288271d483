"""The AdamW of a run: one fused kernel per step where the device has it, foreach elsewhere.

``make_optimizer(model, cfg, device)`` is what ``train`` and the benchmarks build. PyTorch's
AdamW updates every parameter in a Python loop unless told otherwise; ``foreach=True`` batches
the update into a few multi-tensor kernels, ``fused=True`` into one per step. On an H200 fused
AdamW added 11% to a BLIP-large step at batch 16 (``docs/PERFORMANCE.md``). Fused AdamW runs on
CUDA and Intel GPUs (XPU) where the installed torch lists the device among its fused kernels;
everywhere else (CPU, Apple GPUs) the optimizer uses foreach, which every device runs.

A resumed run loads its optimizer's state, flags included, from the checkpoint, so it keeps the
kind of AdamW it started with.
"""

from __future__ import annotations

from typing import Any

import torch
from torch.utils._foreach_utils import _get_fused_kernels_supported_devices

from helpers.config import CaptionConfig

FUSED_DEVICES = ("cuda", "xpu")  # where fused AdamW is the default (when torch supports it)


def parameter_groups(model: torch.nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """AdamW groups: weight decay on matrices, none on biases and LayerNorm weights (1-D)."""
    params = [p for p in model.parameters() if p.requires_grad]
    return [
        {"params": [p for p in params if p.ndim >= 2], "weight_decay": weight_decay},
        {"params": [p for p in params if p.ndim < 2], "weight_decay": 0.0},
    ]


def adamw_kernel(device: str) -> dict[str, bool]:
    """AdamW's flags for ``device`` ("cuda", "xpu", "mps", "cpu"): ``{"fused": True}`` on CUDA
    and XPU when this torch has the fused kernel there, else ``{"foreach": True}``."""
    if device in FUSED_DEVICES and device in _get_fused_kernels_supported_devices():
        return {"fused": True}
    return {"foreach": True}


def make_optimizer(model: torch.nn.Module, cfg: CaptionConfig, device: str) -> torch.optim.AdamW:
    """AdamW over ``model``'s trainable parameters (``parameter_groups``) at
    ``cfg.learning_rate``, with the kernel ``adamw_kernel`` picks for ``device``."""
    return torch.optim.AdamW(
        parameter_groups(model, cfg.weight_decay), lr=cfg.learning_rate, **adamw_kernel(device)
    )


__all__ = ["FUSED_DEVICES", "adamw_kernel", "make_optimizer", "parameter_groups"]
