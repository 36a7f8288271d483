"""The picture of a screened frame: the rendered frame with the patches whose caption states
deformation outlined and numbered (the numbers of the CSV's ``patch`` column)."""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from helpers.geo.licsar import LicsarProduct, grid_to_crs
from helpers.geo.tiles import Patch

OUTLINE = "white"


def plot_screening(
    image: np.ndarray,
    product: LicsarProduct,
    flagged: Sequence[Patch],
    provenance: str,
    path: Path,
    total: int,
) -> Path:
    """Draw ``image`` (the rendered frame) in its own coordinates, outline and number the
    ``flagged`` patches, write a PNG to ``path`` and return it."""
    height, width = product.shape
    (west, east), (north, south) = grid_to_crs(product.transform, [0, width], [0, height])
    figure = Figure(figsize=(10, 10 * height / width + 1.2), dpi=110)  # a file, not a window
    axes = figure.subplots()
    axes.imshow(image, extent=(west, east, south, north), interpolation="nearest")
    step_x, step_y = (east - west) / width, (south - north) / height
    for patch in flagged:
        x0, y0 = west + patch.col * step_x, north + patch.row * step_y
        x1, y1 = x0 + patch.width * step_x, y0 + patch.height * step_y
        axes.add_patch(
            Rectangle(
                (min(x0, x1), min(y0, y1)),
                abs(x1 - x0),
                abs(y1 - y0),
                fill=False,
                edgecolor=OUTLINE,
                linewidth=1.5,
            )
        )
        axes.text(
            (x0 + x1) / 2,
            (y0 + y1) / 2,
            str(patch.number),
            color="black",
            ha="center",
            va="center",
            fontsize=9,
            bbox={"facecolor": OUTLINE, "alpha": 0.8, "pad": 1.5},
        )
    geographic = product.crs.is_geographic
    axes.set_xlabel("longitude (degrees)" if geographic else f"x ({product.crs.to_string()})")
    axes.set_ylabel("latitude (degrees)" if geographic else f"y ({product.crs.to_string()})")
    axes.set_title(
        f"{product.path.name}: {len(flagged)} of {total} patches state deformation "
        f"(outlined, numbered as in the CSV)\n" + "\n".join(textwrap.wrap(provenance, 110)),
        fontsize=9,
    )
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)
    return path


__all__ = ["plot_screening"]
