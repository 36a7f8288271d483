"""Hand-made explanations and records for the grounding tests: answers known by construction."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
from PIL import Image

from helpers.data.records import Record
from helpers.eval.domain_facts import mention_spans
from helpers.eval.grounding import Explanation

FRAME, GRID = 32, 4  # processor frame side and patch grid: 8 px patches
RAW = (64, 48)  # raw image (width, height): x scales by 0.5, y by 2/3


def one_hot(row: int, col: int, grid: int = GRID) -> np.ndarray:
    grid_map = np.zeros((grid, grid))
    grid_map[row, col] = 1.0
    return grid_map


def explanation(caption: str, maps: dict[str, np.ndarray], default: np.ndarray) -> Explanation:
    """One token per word; a word's map is ``maps[word]``, else ``default``."""
    words = list(re.finditer(r"\S+", caption))
    return Explanation(
        caption=caption,
        tokens=tuple(w.group() for w in words),
        token_spans=tuple(w.span() for w in words),
        token_maps=np.stack([maps.get(w.group(), default) for w in words]),
        mentions=tuple(mention_spans(caption)),
        frame_size=FRAME,
    )


def record(folder: Path, uid: str, polygons: list[list[float]], deformation: bool = True) -> Record:
    """A record with a RAW-sized image and polygons in raw pixels."""
    path = folder / f"{uid}.png"
    Image.new("RGB", RAW, (90, 120, 200)).save(path)
    return Record(
        unique_id=uid,
        frame_id="F",
        image_path=path,
        caption="reference",
        label=("Deformation",) if deformation else ("Non_Deformation",),
        activity_type=("Dyke",) if deformation else (),
        segmentation_mask=tuple(tuple(p) for p in polygons),
    )


# the top-left frame patch (0..8 x 0..8) in raw pixels: x / 0.5, y / (2/3)
TOP_LEFT_PATCH = [0, 0, 16, 0, 16, 12, 0, 12]
# the bottom-right quarter of the frame (16..32 x 16..32) in raw pixels
BOTTOM_RIGHT_QUARTER = [32, 24, 64, 24, 64, 48, 32, 48]
