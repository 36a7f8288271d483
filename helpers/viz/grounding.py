"""``grounding_examples.png``: where the model looks when it states deformation.

Each row: the image in the processor's frame with the annotated polygons outlined; the same
image under the deformation phrase's grounding map (upsampled), polygons and peak marked; the
caption with the mentions the domain check read highlighted, and the scores. The function
returns the figure *and* the data it drew, so tests check the plotted data itself.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Polygon as PolygonPatch
from PIL import Image

from helpers.eval.domain_facts import ATMOSPHERIC
from helpers.eval.grounding import PHRASES, Explanation, upsample
from helpers.eval.grounding_eval import GroundingRun, frame_polygons
from helpers.eval.pointing import point, polygon_coverage
from helpers.viz.figures import _finish

MENTION_COLORS = {"deformation": "#ffb000", "atmospheric": "#7fd3ff", "negated": "#d9d9d9"}
CHAR_WIDTH = 0.602  # DejaVu Sans Mono's advance, in em
FONT_SIZE = 9.0


@dataclass(frozen=True)
class GroundingPanel:
    """What one row of the figure shows."""

    image_id: str
    image_path: Path
    caption: str
    phrase: str  # "deformation phrase", or "whole caption" when it states no deformation
    grid_map: np.ndarray  # the patch-grid map drawn
    overlay: np.ndarray  # grid_map upsampled to the frame: the pixels drawn
    polygons: list[np.ndarray]  # frame vertices outlined
    peak: tuple[float, float]  # (x, y) of the peak patch's centre in the frame
    highlights: list[tuple[int, int, str]]  # (start, end, colour key) in the caption
    hit: bool
    inside_mass: float


@dataclass(frozen=True)
class GroundingFigure:
    figure: Figure
    panels: list[GroundingPanel]


def example_panels(run: GroundingRun, count: int) -> list[GroundingPanel]:
    """The panels of up to ``count`` images: scored ones (deformation stated) first."""
    order = sorted(range(len(run.records)), key=lambda i: not bool(run.table["scored"].iloc[i]))
    return [_panel(run, i) for i in order[:count]]


def _panel(run: GroundingRun, index: int) -> GroundingPanel:
    explanation = run.explanations[index]
    side, grid = explanation.frame_size, explanation.grid
    polygons = frame_polygons(run.records[index], side)
    phrase_map = explanation.phrase_map("deformation")
    scored = bool(run.table["scored"].iloc[index])
    grid_map = phrase_map if scored else explanation.caption_map()
    row, col = np.unravel_index(int(np.argmax(grid_map)), grid_map.shape)
    patch = side / grid
    score = point(grid_map, polygon_coverage(polygons, side))
    return GroundingPanel(
        image_id=run.records[index].unique_id,
        image_path=run.records[index].image_path,
        caption=explanation.caption,
        phrase="deformation phrase" if scored else "whole caption (no deformation stated)",
        grid_map=grid_map,
        overlay=upsample(grid_map, side),
        polygons=polygons,
        peak=((col + 0.5) * patch, (row + 0.5) * patch),
        highlights=_highlights(explanation),
        hit=bool(score.hit),
        inside_mass=score.inside_mass,
    )


def _highlights(explanation: Explanation) -> list[tuple[int, int, str]]:
    marks = []
    for mention in explanation.mentions:
        if not mention.stated:
            key = "negated"
        elif mention.topic in PHRASES["deformation"]:
            key = "deformation"
        elif mention.topic == ATMOSPHERIC:
            key = "atmospheric"
        else:
            continue
        marks.append((mention.start, mention.end, key))
    return marks


def _lines(text: str, width: int) -> list[tuple[int, int]]:
    """Word-wrap ``text`` to ``width`` columns, as (start, end) character ranges."""
    lines: list[tuple[int, int]] = []
    for word in re.finditer(r"\S+", text):
        if lines and word.end() - lines[-1][0] <= width:
            lines[-1] = (lines[-1][0], word.end())
        else:
            lines.append(word.span())
    return lines


def _draw_caption(ax: plt.Axes, panel: GroundingPanel, width: int = 60) -> None:
    """The caption in monospace, mentions boxed in their colour, then the scores."""
    step = FONT_SIZE * CHAR_WIDTH  # points per character
    lines = _lines(panel.caption or "(empty caption)", width)
    text = panel.caption or "(empty caption)"
    for number, (start, end) in enumerate(lines):
        offset = (0, -1.5 * FONT_SIZE * number)
        _text(ax, text[start:end], offset)
        for m_start, m_end, key in panel.highlights:
            lo, hi = max(m_start, start), min(m_end, end)
            if lo < hi:
                where = ((lo - start) * step, offset[1])
                _text(ax, text[lo:hi], where, box=MENTION_COLORS[key])
    verdict = "inside a polygon" if panel.hit else "outside the polygons"
    note = (
        f"map: {panel.phrase}\npeak {verdict}; {panel.inside_mass:.0%} of the map's mass "
        "inside the polygons"
    )
    _text(ax, note, (0, -1.5 * FONT_SIZE * (len(lines) + 1)), family="sans-serif")
    ax.axis("off")


def _text(
    ax: plt.Axes,
    text: str,
    offset: tuple[float, float],
    box: str | None = None,
    family: str = "monospace",
) -> None:
    ax.annotate(
        text,
        xy=(0, 1),
        xycoords="axes fraction",
        xytext=offset,
        textcoords="offset points",
        va="top",
        ha="left",
        fontsize=FONT_SIZE,
        family=family,
        bbox={"boxstyle": "square,pad=0", "facecolor": box, "edgecolor": "none"} if box else None,
    )


def _outline(ax: plt.Axes, polygons: list[np.ndarray]) -> None:
    for vertices in polygons:
        ax.add_patch(PolygonPatch(vertices, closed=True, fill=False, edgecolor="white", lw=1.8))


def plot_grounding_examples(
    run: GroundingRun, out_path: Path, provenance: str, count: int = 3
) -> GroundingFigure:
    """Draw ``grounding_examples.png`` from a run's first ``count`` examples (scored first)."""
    panels = example_panels(run, count)
    if not panels:
        raise ValueError("no test image with deformation and polygons to show")
    fig, axes = plt.subplots(
        len(panels), 3, figsize=(13, 3.6 * len(panels)), width_ratios=(1, 1, 2.2), squeeze=False
    )
    for row, panel in zip(axes, panels, strict=True):
        side = panel.overlay.shape[0]
        with Image.open(panel.image_path) as opened:
            picture = opened.convert("RGB").resize((side, side))
        for ax, shown in zip(row[:2], (picture, picture.convert("L")), strict=True):
            ax.imshow(np.asarray(shown), extent=(0, side, side, 0), cmap="gray")
            ax.set_xlim(0, side)
            ax.set_ylim(side, 0)
            ax.set_xticks([])
            ax.set_yticks([])
        row[0].set_title(f"image {panel.image_id}, polygons outlined", fontsize=9)
        row[1].imshow(panel.overlay, extent=(0, side, side, 0), cmap="inferno", alpha=0.6)
        row[1].plot(*panel.peak, marker="+", color="cyan", markersize=14, mew=2)
        row[1].set_title("grounding map (on the grey image), peak +", fontsize=9)
        for ax in row[:2]:
            _outline(ax, panel.polygons)
        _draw_caption(row[2], panel)
    title = "Where does the model look when it states deformation?"
    return GroundingFigure(_finish(fig, title, provenance, out_path), panels)


__all__ = ["GroundingFigure", "GroundingPanel", "example_panels", "plot_grounding_examples"]
