"""Render a LiCSAR wrapped phase as the images the captioners were trained on.

The colour scale is the synthetic stand-in's own, reused, not redrawn:
``helpers.data.synthetic.render.colorize``, a cyclic hue wheel (HSV, saturation 0.9, value 0.95)
on which one full turn of colours is one fringe (2 pi of phase), so the same phase gives the same
RGB here as in every synthetic training image. Which figure it was checked against: the
generator's documentation cites the official Hephaestus examples for its lost coherence and
no-data areas, and describes its colours only as a cyclic hue wheel, naming no figure. The
reference taken here is the figure of cropped 224 x 224 patches in the Hephaestus repository's
README (``examples.png``), and what is matched is the kind of scale only: wrapped phase on a
cyclic colour wheel, one turn per fringe. No hue-for-hue comparison was made (no Hephaestus
image is available to this repository), so a model fine-tuned on the real PNGs may see these
renderings somewhat differently (docs/notebooks.md says so).

Masks, as the generator draws them: pixels whose coherence is below ``coherence_threshold``
show grey (the generator's hillshade of level ground: no elevation model is read here), and
pixels without data show black (``NO_DATA``), as outside the generator's swaths.
"""

from __future__ import annotations

import numpy as np

from helpers.data.synthetic.render import LEVEL_GROUND_GREY, NO_DATA, colorize
from helpers.geo.licsar import LicsarProduct

COHERENCE_THRESHOLD = 0.2  # below it a pixel's phase is noise: masked grey


def low_coherence(product: LicsarProduct, threshold: float = COHERENCE_THRESHOLD) -> np.ndarray:
    """True where the coherence is below ``threshold`` or unknown (NaN in a coherence file);
    all False without a coherence file."""
    if product.coherence is None:
        return np.zeros(product.shape, dtype=bool)
    with np.errstate(invalid="ignore"):
        return ~(product.coherence >= threshold)


def render_phase(product: LicsarProduct, threshold: float = COHERENCE_THRESHOLD) -> np.ndarray:
    """The frame as an HxWx3 uint8 image: wrapped phase through the training images' colour
    scale, low coherence grey, no data black."""
    phase = np.nan_to_num(product.phase, nan=0.0)
    image = colorize(phase)
    image[low_coherence(product, threshold)] = LEVEL_GROUND_GREY
    image[~product.valid] = NO_DATA
    return image


__all__ = ["COHERENCE_THRESHOLD", "low_coherence", "render_phase"]
