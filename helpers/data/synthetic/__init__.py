"""Synthetic InSAR-like stand-in for the Hephaestus dataset (offline ``demo``/``smoke`` profiles).

Each sample is a wrapped interferogram: an unwrapped phase field built from simple physics
(one to three deformation sources: Mogi point source, dyke, sill, spheroid, earthquake or an
irregular unidentified one; turbulent and stratified atmosphere, orbital ramp, burst
discontinuities from processing errors), wrapped to [-pi, pi), sprinkled with speckle and
coloured with a cyclic hue wheel. Each source lies where its caption's position phrase says
(one of eight compass sectors or the central part, ``helpers.data.synthetic.positions``),
spread evenly over the whole frame out to near its edges, its fringes mostly inside the image.
As in the official Hephaestus examples, areas where coherence is lost show a grey hillshade of
the terrain with a noisy rim, and half the images have no-data areas (black) outside a rotated
swath. Its annotation follows the Hephaestus schema (one
``activity_type``/``intensity_level``/``segmentation_mask`` entry per pattern, ``is_crowd`` for
several), with a caption composed from the attributes (``helpers.data.synthetic.captions``,
calibrated to the real captions' length, repetition and phrase families) and
``"synthetic": true``. Everything is deterministic by seed. This is NOT Hephaestus data: results
on it only show that the code runs and learns.

Command line::

    uv run python -m helpers.data.synthetic --n 1000 --out Hephaestus_dataset/synthetic-demo
    uv run python -m helpers.data.synthetic --stats      # caption figures beside the real ones
"""

from helpers.data.synthetic.captions import NO_DEFORMATION_SENTENCES, compose_caption
from helpers.data.synthetic.dataset import (
    STATS_SAMPLES,
    caption_stats_report,
    generate_samples,
    make_annotation,
    png_bytes,
    write_synthetic_dataset,
)
from helpers.data.synthetic.render import render_interferogram
from helpers.data.synthetic.scenes import (
    ACTIVITY_TYPES,
    INTENSITY_LEVELS,
    MIN_IMAGE_SIZE,
    SYNTHETIC_MARKER,
    Pattern,
    Scene,
    SyntheticSample,
    draw_scene,
)

__all__ = [
    "ACTIVITY_TYPES",
    "INTENSITY_LEVELS",
    "MIN_IMAGE_SIZE",
    "NO_DEFORMATION_SENTENCES",
    "STATS_SAMPLES",
    "SYNTHETIC_MARKER",
    "Pattern",
    "Scene",
    "SyntheticSample",
    "caption_stats_report",
    "compose_caption",
    "draw_scene",
    "generate_samples",
    "make_annotation",
    "png_bytes",
    "render_interferogram",
    "write_synthetic_dataset",
]
