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
    short = textwrap.shorten(text or "(empty)", width * max_lines, placeholder=" ...")
    return textwrap.fill(short, width)


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
    before: Mapping[str, float | None],
    after: Mapping[str, float | None],
    out_path: Path,
    provenance: str,
) -> Figure:
    """Grouped bars of every corpus metric both runs have (unavailable metrics are left out)."""
    names = [k for k in before if before.get(k) is not None and after.get(k) is not None]
    if not names:
        raise ValueError("no metric is available in both the before and after summaries")
    x = np.arange(len(names))
    fig, ax = plt.subplots(figsize=(max(6, 1.1 * len(names) + 2), 4.5))
    width = 0.38
    for offset, label, summary, color in (
        (-width / 2, "before", before, "tab:gray"),
        (width / 2, "after", after, "tab:blue"),
    ):
        bars = ax.bar(x + offset, [summary[n] for n in names], width, label=label, color=color)
        ax.bar_label(bars, fmt="%.2f", fontsize=8)
    ax.set_xticks(x, names, rotation=30, ha="right")
    ax.set_ylabel("score")
    ax.grid(axis="y", alpha=0.3)
    ax.legend()
    return _finish(fig, "Caption metrics before vs after fine-tuning", provenance, out_path)


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
