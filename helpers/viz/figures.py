"""The figures the notebooks write to ``assets/``.

Every figure carries a provenance line (``CaptionConfig.provenance``) under its title, so a figure
made from synthetic data or a randomly initialised model is never mistaken for a real result.
Each function saves a PNG, closes the figure and returns it (a notebook cell displays it).
"""

from __future__ import annotations

import textwrap
from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from PIL import Image

from helpers.eval.domain_scores import confusion_counts
from helpers.files import write_text_atomic

STAND_IN_COLOR = "#b00020"


def _finish(fig: Figure, title: str, provenance: str, out_path: Path) -> Figure:
    """Title + provenance line, save as PNG (parents created), close, return."""
    fig.suptitle(title, fontsize=13, fontweight="bold")
    stand_in = "not a Hephaestus result" in provenance
    lines = textwrap.wrap(provenance, int(fig.get_figwidth() * 12)) or [""]
    fig.text(
        0.5,
        0.005,
        "\n".join(lines),
        ha="center",
        va="bottom",
        fontsize=8.5,
        color=STAND_IN_COLOR if stand_in else "0.3",
        fontweight="bold" if stand_in else "normal",
    )
    footer = 0.2 * len(lines) / fig.get_figheight()  # ~0.2 inch per line of footer
    fig.tight_layout(rect=(0, footer, 1, 0.97))
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out_path, dpi=120)
    plt.close(fig)
    return fig


def _wrapped(text: str, width: int, max_lines: int) -> str:
    """``text`` wrapped to ``width`` columns, cut to ``max_lines`` lines ("..." marks a cut)."""
    words = " ".join((text or "(empty)").split())
    return textwrap.fill(words, width, max_lines=max_lines, placeholder=" ...")


def plot_loss_curves(history: pd.DataFrame | Path, out_path: Path, provenance: str) -> Figure:
    """``loss_vs_epoch.png``: train and validation loss per epoch, best epoch marked."""
    frame = pd.read_csv(history) if isinstance(history, (str, Path)) else history
    missing = {"epoch", "train_loss", "val_loss"} - set(frame.columns)
    if missing or frame.empty:
        raise ValueError(
            f"training history needs rows with epoch, train_loss, val_loss; missing: {missing}"
        )
    fig, ax = plt.subplots(figsize=(7, 4.5))
    ax.plot(frame["epoch"], frame["train_loss"], "o-", label="train loss")
    ax.plot(frame["epoch"], frame["val_loss"], "s-", label="validation loss")
    best = frame.loc[frame["val_loss"].idxmin()]
    ax.axvline(best["epoch"], color="0.6", ls="--", lw=1)
    ax.annotate(
        f"best: epoch {int(best['epoch'])}\nval {best['val_loss']:.3f}",
        (best["epoch"], best["val_loss"]),
        textcoords="offset points",
        xytext=(-70 if best["epoch"] == frame["epoch"].max() else 8, 14),
        fontsize=9,
    )
    ax.set_xlabel("epoch")
    ax.set_ylabel("cross-entropy loss")
    ax.set_xticks(frame["epoch"])
    ax.grid(alpha=0.3)
    ax.legend()
    return _finish(fig, "Training and validation loss", provenance, out_path)


def plot_bertscore(
    before: pd.DataFrame, after: pd.DataFrame, out_path: Path, provenance: str, scorer: str
) -> Figure:
    """``bertscore.png``: BERTScore F1 per test image before vs after fine-tuning."""
    column = "bertscore_f1"
    for name, frame in (("before", before), ("after", after)):
        if column not in frame.columns or frame.empty:
            raise ValueError(f"the {name} results need a non-empty {column!r} column")
    fig, (hist_ax, bar_ax) = plt.subplots(1, 2, figsize=(10, 4.2), width_ratios=(2, 1))
    values = [before[column].to_numpy(), after[column].to_numpy()]
    low = min(v.min() for v in values)
    high = max(v.max() for v in values)
    bins = np.linspace(low, high if high > low else low + 1e-3, 25)
    for label, data, color in zip(
        ("before", "after"), values, ("tab:gray", "tab:blue"), strict=True
    ):
        hist_ax.hist(
            data, bins=bins, alpha=0.6, label=f"{label} (mean {data.mean():.3f})", color=color
        )
    hist_ax.set_xlabel("BERTScore F1 per test image")
    hist_ax.set_ylabel("images")
    hist_ax.legend()
    means = [v.mean() for v in values]
    bars = bar_ax.bar(["before", "after"], means, color=("tab:gray", "tab:blue"))
    bar_ax.bar_label(bars, fmt="%.3f")
    bar_ax.set_ylabel("mean BERTScore F1")
    bar_ax.set_ylim(min(0.0, min(means)), max(1.0, max(means)) * 1.05)
    title = f"BERTScore before vs after fine-tuning (scorer: {scorer})"
    return _finish(fig, title, provenance, out_path)


def plot_metric_comparison(
    comparison: pd.DataFrame,
    out_path: Path,
    provenance: str,
    names: Mapping[str, str] | None = None,
) -> Figure:
    """``metrics_comparison.png``: every run's metrics as grouped bars with their 95% intervals
    as error bars (left) and the paired difference with its interval (right), from a
    ``helpers.eval.comparison.compare`` table. Metrics some run lacks and the diversity counts are
    left out. The rows drawn are saved next to the PNG as ``<name>.csv`` (same columns plus
    the provenance line)."""
    drawn = _comparison_rows(comparison)
    runs = drawn[drawn["kind"] == "run"]
    changes = drawn[drawn["kind"] == "difference"]
    metrics = list(dict.fromkeys(runs["metric"]))
    labels = [(names or {}).get(m, m) for m in metrics]
    fig, (ax, diff_ax) = plt.subplots(
        2, 1, figsize=(max(8, 0.9 * len(metrics) + 3), 8.5), height_ratios=(2, 1), sharex=True
    )
    run_names = list(dict.fromkeys(runs["run"]))
    width = 0.8 / len(run_names)
    x = np.arange(len(metrics))
    for i, name in enumerate(run_names):
        rows = runs[runs["run"] == name].set_index("metric").loc[metrics]
        offset = (i - (len(run_names) - 1) / 2) * width
        ax.bar(x + offset, rows["value"], width, yerr=_errors(rows), capsize=3, label=name)
    ax.set_ylabel("score (bars: 95% bootstrap interval)")
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8)
    if not changes.empty:
        rows = changes.set_index("metric").reindex(metrics)
        diff_ax.bar(
            x, rows["value"].fillna(0), 0.5, yerr=_errors(rows), capsize=3, color="tab:green"
        )
        diff_ax.axhline(0, color="0.3", lw=1)
        diff_ax.set_ylabel(f"{changes['run'].iloc[0]}\n(paired, 95% interval)", fontsize=9)
        diff_ax.grid(axis="y", alpha=0.3)
    diff_ax.set_xticks(x, labels, rotation=30, ha="right")
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(
        out_path.with_suffix(".csv"), drawn.assign(provenance=provenance).to_csv(index=False)
    )
    return _finish(fig, "Caption metrics: zero-shot, baselines, fine-tuned", provenance, out_path)


def _comparison_rows(comparison: pd.DataFrame) -> pd.DataFrame:
    """The rows of a comparison that the figure draws: metrics every run has, no counts."""
    scores = comparison[~comparison["metric"].str.startswith("distinct_")]
    runs = scores[scores["kind"] == "run"]
    complete = runs.groupby("metric", sort=False)["value"].apply(lambda v: v.notna().all())
    keep = [m for m, ok in complete.items() if ok]
    if not keep:
        raise ValueError("no metric is available in every run")
    return scores[scores["metric"].isin(keep) & scores["value"].notna()].reset_index(drop=True)


def _errors(rows: pd.DataFrame) -> np.ndarray:
    """Error-bar lengths below and above each value (0 where there is no interval)."""
    below = (rows["value"] - rows["low"]).fillna(0).clip(lower=0)
    above = (rows["high"] - rows["value"]).fillna(0).clip(lower=0)
    return np.vstack([below.to_numpy(), above.to_numpy()])


def plot_domain_confusion(table: pd.DataFrame, out_path: Path, provenance: str) -> Figure:
    """``domain_confusion.png``: what captions state against what is annotated, as counts
    (``helpers.eval.domain_scores.confusion_counts``): deformation (left), activity type (right)."""
    if table.empty:
        raise ValueError("the confusion figure needs a non-empty results table")
    panels = confusion_counts(table)
    fig, axes = plt.subplots(1, 2, figsize=(13, 5.2), width_ratios=(1, 1.6))
    titles = ("Deformation: caption says vs annotated", "Activity type: named vs annotated")
    for ax, counts, title in zip(axes, panels, titles, strict=True):
        ax.imshow(counts.to_numpy(), cmap="Blues")
        ax.set_xticks(range(counts.shape[1]), counts.columns, rotation=30, ha="right")
        ax.set_yticks(range(counts.shape[0]), counts.index)
        ax.set_xlabel("caption says")
        ax.set_ylabel("annotated")
        ax.set_title(title, fontsize=10)
        top = counts.to_numpy().max() or 1
        for (row, column), count in np.ndenumerate(counts.to_numpy()):
            color = "white" if count > top / 2 else "black"
            ax.text(column, row, str(count), ha="center", va="center", color=color, fontsize=9)
    return _finish(fig, "Facts stated vs annotated (image counts)", provenance, out_path)


def plot_examples(
    images: Sequence[Image.Image | Path],
    references: Sequence[str],
    before: Sequence[str],
    after: Sequence[str],
    out_path: Path,
    provenance: str,
    wrap: int = 72,
    max_lines: int = 4,
) -> Figure:
    """Side-by-side examples: the image, its reference, the caption before and after
    (each caption wrapped and cut after ``max_lines`` lines)."""
    count = len(images)
    if not count or not (count == len(references) == len(before) == len(after)):
        raise ValueError("examples need the same non-zero number of images and captions")
    fig, axes = plt.subplots(count, 2, figsize=(12, 3.6 * count), width_ratios=(1, 3.2))
    axes = np.atleast_2d(axes)
    for row, (image, ref, old, new) in enumerate(
        zip(images, references, before, after, strict=True)
    ):
        picture = Image.open(image) if isinstance(image, (str, Path)) else image
        axes[row, 0].imshow(picture.convert("RGB"))
        axes[row, 0].axis("off")
        text = "\n".join(
            f"{label}:\n{_wrapped(caption, wrap, max_lines)}"
            for label, caption in (("Reference", ref), ("Before", old), ("After", new))
        )
        axes[row, 1].text(0, 1, text, va="top", ha="left", fontsize=9, family="monospace")
        axes[row, 1].axis("off")
    return _finish(fig, "Captions before and after fine-tuning", provenance, out_path)


def plot_image_grid(
    images: Sequence[Image.Image | Path],
    captions: Sequence[str],
    out_path: Path,
    provenance: str,
    title: str = "Example interferograms and their captions",
    columns: int = 3,
    wrap: int = 44,
    max_lines: int = 7,
) -> Figure:
    """A grid of images, each above its caption (wrapped, cut after ``max_lines`` lines)."""
    if not images or len(images) != len(captions):
        raise ValueError("the grid needs the same non-zero number of images and captions")
    rows = -(-len(images) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(4 * columns, 5.6 * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, image, caption in zip(axes.flat, images, captions, strict=False):
        picture = Image.open(image) if isinstance(image, (str, Path)) else image
        ax.imshow(picture.convert("RGB"))
        ax.text(
            0, -0.03, textwrap.fill(caption, wrap), transform=ax.transAxes, va="top", fontsize=8
        )
    return _finish(fig, title, provenance, out_path)


def plot_dataset_overview(table: pd.DataFrame, out_path: Path, provenance: str) -> Figure:
    """Caption length, deformation balance and activity types per split (``records_table``)."""
    needed = {"split", "caption_words", "deformation", "activity_type"}
    if table.empty or needed - set(table.columns):
        raise ValueError(
            f"the overview needs a non-empty records table with columns {sorted(needed)}"
        )
    fig, (words_ax, label_ax, activity_ax) = plt.subplots(1, 3, figsize=(15, 4.5))
    words_ax.hist(table["caption_words"], bins=20, color="tab:blue")
    words_ax.set_xlabel("words per caption")
    words_ax.set_ylabel("records")
    words_ax.set_title("Caption length")
    balance = pd.crosstab(table["split"], table["deformation"]).rename(
        columns={True: "deformation", False: "no deformation"}
    )
    balance = balance.reindex([s for s in ("train", "val", "test", "unused") if s in balance.index])
    balance.plot.bar(ax=label_ax, rot=0)
    label_ax.set_title("Deformation vs none, per split")
    label_ax.set_ylabel("records")
    activities = table.loc[table["deformation"], "activity_type"].value_counts()
    activity_ax.barh(activities.index, activities.to_numpy(), color="tab:orange")
    activity_ax.set_title("Activity type (deformation records)")
    activity_ax.set_xlabel("records")
    return _finish(fig, "Dataset overview", provenance, out_path)
