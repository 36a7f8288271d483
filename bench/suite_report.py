"""The Markdown page of a ``gpu_suite.py`` report (the JSON holds every figure)."""

from __future__ import annotations

from typing import Any


def _num(value: float | None, digits: int = 2) -> str:
    return "n/a" if value is None else f"{value:,.{digits}f}"


def _with_error(row: dict, method: str) -> str:
    estimate = row.get(f"estimate_{method}_mb")
    if estimate is None:
        return "n/a"
    return f"{estimate:,.0f} ({row[f'estimate_{method}_error']:+.0%})"


def training_table(rows: dict[str, dict]) -> list[str]:
    lines = [
        "| row | samples/s | x baseline | s/step | peak allocated MiB | peak reserved MiB | "
        "estimate MiB, analytic (error) | estimate MiB, GPU probe (error) | TFLOP/s | MFU | "
        "trainable | loss after all steps |",
        "| --- |" + " ---: |" * 11,
    ]
    for key, row in rows.items():
        if "samples_per_s" not in row:
            lines.append(f"| {key} | {row.get('error', 'no result')} |" + " |" * 10)
            continue
        mfu = row.get("mfu")
        lines.append(
            f"| {key} | {row['samples_per_s']:,.2f} | {_num(row.get('x_baseline'))} | "
            f"{row['step_s']:.3f} | {row['peak_allocated_mb']:,.0f} | "
            f"{_num(row['peak_reserved_mb'], 0)} | {_with_error(row, 'analytic')} | "
            f"{_with_error(row, 'probe')} | {row['achieved_tflops']:,.3g} | "
            f"{'n/a' if mfu is None else f'{mfu:.1%}'} | {row['trainable_parameters']:,} | "
            f"{row['final_loss']:.4f} |"
        )
    return lines


def fits_table(answers: dict[str, dict]) -> list[str]:
    cards = next((list(a["fits"]) for a in answers.values() if "fits" in a), [])
    lines = [
        "| question (batch 8) | row | measured peak MiB |" + "".join(f" {c} |" for c in cards),
        "| --- | --- | ---: |" + " :---: |" * len(cards),
    ]
    for question, answer in answers.items():
        if "fits" not in answer:
            lines.append(f"| {question} | {answer['row']} | {answer['answer']} |")
            continue
        marks = "".join(f" {'yes' if answer['fits'][c] else 'no'} |" for c in cards)
        lines.append(f"| {question} | {answer['row']} | {answer['peak_mb']:,.0f} |{marks}")
    return lines


def captioning_table(rows: dict[str, dict]) -> list[str]:
    sizes = next((row["batch_sizes"] for row in rows.values() if "batch_sizes" in row), [])
    head = "".join(
        f" batch {s} images/s (x one at a time) | captions identical at {s} |" for s in sizes
    )
    lines = [
        "| decoding | new tokens | precision | one at a time images/s |" + head,
        "| --- | ---: | --- | ---: |" + " ---: | --- |" * len(sizes),
    ]
    for name, row in rows.items():
        if "one_at_a_time_images_per_s" not in row:
            lines.append(f"| {name} | {row.get('error', 'no result')} |")
            continue
        cells = "".join(
            f" {row[f'batch_{s}_images_per_s']:,.2f} ({row[f'batch_{s}_speedup']:.1f}x) |"
            f" {row[f'batch_{s}_same_share']:.0%} |"
            for s in sizes
        )
        lines.append(
            f"| {name} | {row['new_tokens']} | {row['precision']} | "
            f"{row['one_at_a_time_images_per_s']:,.2f} |{cells}"
        )
    return lines


def auto_batch_lines(row: dict | None) -> list[str]:
    if row is None:
        return ["Not run (see Skipped)."]
    if "error" in row:
        return [f"Failed: {row['error']}"]
    verdict = "halved and finished" if row["halved"] else "did NOT halve (the cap was not hit)"
    started, finished = row["started_at_micro_batch"], row["finished_at_micro_batch"]
    losses = ", ".join(f"{loss:.4f}" for loss in row["losses"])
    return [
        f"Memory cap: {row['cap']}: {verdict}. {row['samples_per_step']} samples per optimizer "
        f"step, started at micro-batch {started}, finished {row['steps_finished']} steps at "
        f"micro-batch {finished} x {row['accumulation_steps']} accumulation steps in "
        f"{row['seconds']:.1f} s; losses {losses}."
    ]


def markdown_report(report: dict[str, Any]) -> str:
    device, peaks = report["device"], report["peak_tflops"]
    skipped = [f"- {s['row']}: {s['reason']}" for s in report["skipped"]] or ["None."]
    lines = [
        f"# GPU suite: {device['name']} ({device['kind']})",
        "",
        f"{report['note']}.",
        "",
        f"`{report['command']}`: {report['model']}, {report['image_size']} px, training captions "
        f"padded to {report['caption_tokens']} tokens, {report['warmup_steps']} warm-up + "
        f"{report['timed_steps']} timed steps per row (median); {report['elapsed_s']:.0f} s of a "
        f"{report['budget_s']:.0f} s budget. {device['summary']}; torch {device['torch']}, fp32 "
        f"matmul precision {device['float32_matmul_precision']}. Peak TFLOP/s for MFU: bf16 "
        f"{_num(peaks.get('bf16'), 1)}, fp32 {_num(peaks.get('fp32'), 1)} ({peaks['source']}).",
        "",
        "## Training step",
        "",
        *training_table(report["training"]),
        "",
        "x baseline: samples/s against the baseline row of this run. MFU: model FLOPs per step "
        "(bench/blip_flops.py) per second against the peak above. Estimates: "
        "helpers.training.memory, error against the peak reserved memory (on the CPU against the "
        "process's peak resident memory, Python and torch included: no measure of the estimate).",
        "",
        f"## Does it fit? ({report['fit_rule']})",
        "",
        *fits_table(report["fits_at_batch_8"]),
        "",
        "## Captioning",
        "",
        *captioning_table(report["captioning"]),
        "",
        "Captions identical: the share of the one-at-a-time captions that the batched run "
        "reproduces. Below 100% in bf16 only: near-tied logits of the random weights; below "
        "100% in fp32 too: suspect batching (padding, masks).",
        "",
        "## Auto batch size under a memory cap",
        "",
        *auto_batch_lines(report["auto_batch"]),
        "",
        "## Skipped (no time left in the budget)",
        "",
        *skipped,
        "",
    ]
    return "\n".join(lines)
