"""Cut a rendered frame into square patches the size of the training images, with overlap.

Hephaestus' images are 224 x 224 px crops of LiCSAR frames, so a frame is cut into windows of
``PATCH_SIZE`` frame pixels (the processor then resizes each to the model's input size). Windows
step by ``size - overlap``; the default overlap is half a patch (``OVERLAP``), so every point of
the frame lies at least a quarter of a patch inside some window, and a deformation pattern cut by
one window's edge is whole in its neighbour. The last row and column of windows are aligned to
the frame's bottom and right edges, so the whole frame is covered. Windows with less than
``MIN_VALID_SHARE`` of their pixels holding data (the no-data corners of a LiCSAR frame) are left
out. Each patch keeps its pixel window and the longitude/latitude of its centre.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from helpers.data.synthetic.render import NO_DATA
from helpers.geo.licsar import LicsarProduct

PATCH_SIZE = 224  # frame pixels per patch side, as Hephaestus' crops
OVERLAP = PATCH_SIZE // 2
MIN_VALID_SHARE = 0.25


@dataclass(frozen=True)
class Patch:
    """One window of the frame: rows ``row``..``row + height``, columns ``col``..``col + width``
    (pixels from the upper-left corner), numbered from 1 in reading order."""

    number: int
    row: int
    col: int
    height: int
    width: int
    lon: float  # the window centre, degrees (WGS 84)
    lat: float
    valid_share: float  # share of the window's pixels holding data

    @property
    def center(self) -> tuple[float, float]:
        """(row, col) of the window centre, in pixels."""
        return self.row + self.height / 2, self.col + self.width / 2

    def contains(self, row: float, col: float, margin: float = 0.0) -> bool:
        """Whether pixel position (``row``, ``col``) lies at least ``margin`` inside."""
        return (
            self.row + margin <= row < self.row + self.height - margin
            and self.col + margin <= col < self.col + self.width - margin
        )


def window_starts(length: int, size: int, overlap: int) -> list[int]:
    """Starts of windows of ``size`` along ``length`` pixels, ``size - overlap`` apart, the last
    one ending at the edge (one window at 0 when ``length`` <= ``size``)."""
    if not 0 <= overlap < size:
        raise ValueError(f"overlap must be from 0 to below the patch size {size}, got {overlap}")
    if length <= size:
        return [0]
    starts = list(range(0, length - size + 1, size - overlap))
    return starts if starts[-1] == length - size else [*starts, length - size]


def tile_frame(
    product: LicsarProduct,
    size: int = PATCH_SIZE,
    overlap: int = OVERLAP,
    min_valid_share: float = MIN_VALID_SHARE,
) -> list[Patch]:
    """The patches of a frame that hold enough data, in reading order."""
    frame_height, frame_width = product.shape
    valid = product.valid
    windows = [
        (row, col, min(size, frame_height), min(size, frame_width))
        for row in window_starts(frame_height, size, overlap)
        for col in window_starts(frame_width, size, overlap)
    ]
    shares = [float(valid[r : r + h, c : c + w].mean()) for r, c, h, w in windows]
    kept = [(w, s) for w, s in zip(windows, shares, strict=True) if s >= min_valid_share]
    rows = np.array([r + h / 2 for (r, _, h, _), _ in kept])
    cols = np.array([c + w / 2 for (_, c, _, w), _ in kept])
    lons, lats = product.lonlat(rows, cols) if kept else (np.array([]), np.array([]))
    return [
        Patch(number, r, c, h, w, float(lon), float(lat), share)
        for number, ((r, c, h, w), share), lon, lat in zip(
            range(1, len(kept) + 1), kept, lons, lats, strict=True
        )
    ]


def crop(image: np.ndarray, patch: Patch, size: int = PATCH_SIZE) -> np.ndarray:
    """The patch's pixels of a rendered frame, padded with no data to ``size`` x ``size`` when the
    frame is smaller than a patch."""
    out = np.empty((size, size, 3), dtype=np.uint8)
    out[:] = NO_DATA
    window = image[patch.row : patch.row + patch.height, patch.col : patch.col + patch.width]
    out[: window.shape[0], : window.shape[1]] = window
    return out


__all__ = ["MIN_VALID_SHARE", "OVERLAP", "PATCH_SIZE", "Patch", "crop", "tile_frame"]
