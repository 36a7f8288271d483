"""The AdamW kernel per device: fused on CUDA and Intel GPUs where torch has it, foreach
elsewhere; ``train`` builds its optimizer with it (the checkpoint records the flags)."""

from __future__ import annotations

import pytest
import torch
from test_training import run_tiny, tiny_config

from helpers.training import optimizer as adamw
from helpers.training.checkpoints import OPTIMIZER_FILE, find_checkpoint

TORCH_FUSED = ["mps", "cuda", "xpu", "hpu", "cpu"]  # a torch that has every fused kernel


@pytest.mark.parametrize(
    ("device", "supported", "flags"),
    [
        ("cuda", TORCH_FUSED, {"fused": True}),
        ("xpu", TORCH_FUSED, {"fused": True}),
        ("xpu", ["cuda", "cpu"], {"foreach": True}),  # an older torch without fused XPU AdamW
        ("cpu", TORCH_FUSED, {"foreach": True}),
        ("mps", TORCH_FUSED, {"foreach": True}),
    ],
)
def test_the_kernel_follows_the_device(monkeypatch, device, supported, flags):
    monkeypatch.setattr(adamw, "_get_fused_kernels_supported_devices", lambda: supported)
    assert adamw.adamw_kernel(device) == flags


def test_make_optimizer_sets_the_flags_rate_and_decay_groups(monkeypatch, tmp_path):
    model = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.LayerNorm(3))
    cfg = tiny_config(tmp_path, learning_rate=3e-4, weight_decay=0.05)
    foreach = adamw.make_optimizer(model, cfg, "cpu")
    decayed, plain = foreach.param_groups
    assert foreach.defaults["foreach"] is True and not foreach.defaults["fused"]
    assert (decayed["weight_decay"], plain["weight_decay"], decayed["lr"]) == (0.05, 0.0, 3e-4)
    assert [p.ndim for p in decayed["params"]] == [2] and len(plain["params"]) == 3
    monkeypatch.setattr(adamw, "_get_fused_kernels_supported_devices", lambda: TORCH_FUSED)
    fused = adamw.make_optimizer(model, cfg, "cuda")
    assert fused.defaults["fused"] is True and not fused.defaults["foreach"]


def test_train_steps_with_the_picked_kernel(tmp_path):
    cfg = tiny_config(tmp_path / "run", epochs=1)
    run_tiny(cfg)
    saved = torch.load(find_checkpoint(cfg.run_dir) / OPTIMIZER_FILE, weights_only=True)
    assert all(group["foreach"] is True for group in saved["param_groups"])
