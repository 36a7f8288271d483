"""``train_step.py``'s product rows: recipes of ``product_step`` run side by side, compared.

Each recipe runs ``repeats`` times, the recipes alternating (old, new, old, new...) so that load
drift on a shared machine hits them alike, each run in a fresh process. A recipe's figure is the
median of its runs' samples/s; "x old-defaults" divides it by the ``old-defaults`` recipe's.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics

from fresh_process import in_fresh_process
from product_step import product_row

BASE_RECIPE = "old-defaults"


def run_product_rows(args: argparse.Namespace, names: list[str], repeats: int) -> dict[str, dict]:
    """``{recipe: {"runs": [row, ...], "samples_per_s": median, "x_old_defaults": ratio}}``."""
    runs: dict[str, list[dict]] = {name: [] for name in names}
    for turn in range(repeats):
        for name in names:
            print(f"product row {name} (run {turn + 1} of {repeats}) ...", flush=True)
            runs[name].append(in_fresh_process(product_row, args, name))
            print(json.dumps(runs[name][-1]), flush=True)
    summary = {name: summarise(rows) for name, rows in runs.items()}
    base = summary.get(BASE_RECIPE, {}).get("samples_per_s")
    for row in summary.values():
        if base and "samples_per_s" in row:
            row["x_old_defaults"] = row["samples_per_s"] / base
    return summary


def summarise(rows: list[dict]) -> dict:
    """One recipe's runs, their median samples/s and the most graphs one run compiled."""
    good = [row for row in rows if "samples_per_s" in row]
    if not good:
        return {"runs": rows, "error": rows[-1].get("error", "no result")}
    return {
        "runs": rows,
        "samples_per_s": statistics.median(row["samples_per_s"] for row in good),
        "max_graphs_compiled": max(row["graphs_compiled"] for row in good),
    }


def product_table(summary: dict[str, dict]) -> str:
    """The product rows as a Markdown table."""
    lines = [
        "| recipe | attention | AdamW | compiled | caption tokens | samples/s per run | median "
        "samples/s | x old-defaults | graphs compiled | peak MiB | loss after all steps |",
        "| --- | --- | --- | --- | --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, row in summary.items():
        if "error" in row:
            lines.append(f"| {name} | {row['error']} |" + " |" * 9)
            continue
        last = [run for run in row["runs"] if "samples_per_s" in run][-1]
        rates = ", ".join(f"{run['samples_per_s']:.2f}" for run in row["runs"] if "step_s" in run)
        lines.append(
            f"| {name} | {last['attn_implementation']} | {last['adamw']} | "
            f"{'yes' if last['compiled'] else 'no'} | {last['caption_tokens']} | {rates} | "
            f"{row['samples_per_s']:.3f} | {row.get('x_old_defaults', math.nan):.3f} | "
            f"{row['max_graphs_compiled']} | {last['peak_allocated_mb']:,.0f} | "
            f"{last['final_loss']:.5f} |"
        )
    return "\n".join(lines)


__all__ = ["BASE_RECIPE", "product_table", "run_product_rows"]
