"""The analytic memory estimate against the peaks measured on an NVIDIA H200.

For every training row of ``bench/results/gpu_suite_nvidia-h200.json`` with an estimate (all but
the ``torch.compile`` row: compiling changes what autograd keeps, and the suite estimates no
compiled row), the estimate the notebooks use, computed here on the CPU for the row's batch,
precision and levers with BLIP-large's true architecture (on the meta device: shapes only), is
never under the row's peak reserved memory and at most 15% over it.
"""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
estimate_vs_measured = importlib.import_module("estimate_vs_measured")

SUITE = json.loads(estimate_vs_measured.H200_SUITE.read_text(encoding="utf-8"))
ROWS = estimate_vs_measured.estimated_rows(SUITE)
MIB = estimate_vs_measured.MIB
MOST_OVER = 0.15  # the estimate may exceed the measured peak by this share, never fall under it


@pytest.fixture(scope="module")
def models() -> dict[bool, torch.nn.Module]:
    """BLIP-large on the meta device without and with LoRA, shared by every row."""
    return {lora: estimate_vs_measured.meta_model(SUITE, lora) for lora in (False, True)}


def test_the_report_has_rows_of_every_lever_and_skips_only_compiled_ones() -> None:
    levers = {lever for row in ROWS.values() for lever in row["levers"]}
    assert {"bf16", "sdpa", "ckpt", "frozen", "lora", "cache"} <= levers
    assert any(row["precision"] == "fp32" for row in ROWS.values())
    skipped = set(SUITE["training"]) - set(ROWS)
    assert skipped and all("compile" in name for name in skipped)


@pytest.mark.parametrize("name", sorted(ROWS))
def test_estimate_is_never_under_the_measured_peak_and_at_most_15_percent_over(
    name: str, models: dict[bool, torch.nn.Module]
) -> None:
    row = ROWS[name]
    estimate = estimate_vs_measured.row_estimate(SUITE, row, models)
    assert estimate.method == "analytic"
    assert estimate.gradients == 4 * row["trainable_parameters"]  # the row's own model
    measured = row["peak_reserved_mb"] * MIB
    assert measured <= estimate.total <= (1 + MOST_OVER) * measured, (
        f"{name}: estimate {estimate.total / MIB:,.0f} MiB, measured {measured / MIB:,.0f} MiB"
    )
