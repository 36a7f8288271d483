"""The pointing score: does a grounding map sit on the annotated deformation polygons?

Everything happens in the processor's frame: BLIP's processor resizes every image to a
``side x side`` square without keeping the aspect ratio, so a polygon vertex ``(x, y)`` of a
``width x height`` raw image moves to ``(x * side / width, y * side / height)``. Coordinates are
continuous pixel coordinates (pixel ``(i, j)`` covers ``[i, i+1) x [j, j+1)``, the COCO and
Hephaestus convention). :func:`polygon_coverage` gives each frame pixel the share of it inside
any polygon (4 x 4 sub-pixel samples), and :func:`patch_coverage` the same per patch.

Two scores per map, in the spirit of the pointing game (Zhang et al. 2016, "Top-down Neural
Attention by Excitation Backprop"):

- **hit**: the map's peak lies inside a polygon, with a margin of half a patch: the peak is the
  centre of the map's highest patch, and it hits when that patch (a patch-sized window around
  the peak) overlaps a polygon. A map cannot place its peak more finely than its patch grid.
- **inside mass**: the share of the map's mass inside the polygons (each patch's mass times the
  share of the patch inside them).

Two baselines on the same images: a **centre** map (an isotropic Gaussian at the frame's centre,
sigma a quarter of the side; its peak window is a patch-sized square at the centre) and a
**uniform** map (inside mass = the polygons' area share; hit = the expected hit of a peak at a
random patch, i.e. the share of patches overlapping a polygon).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from matplotlib.path import Path as PolygonPath

from helpers.eval import bootstrap

Polygon = Sequence[float]  # flat (x1, y1, x2, y2, ...)
SUPERSAMPLE = 4  # sub-pixel samples per side when rasterising polygons
CENTRE_SIGMA = 0.25  # the centre baseline's Gaussian width, as a share of the side


def to_frame(polygon: Polygon, raw_size: tuple[int, int], side: int) -> np.ndarray:
    """A flat polygon in raw-image pixels as ``(k, 2)`` vertices in the ``side x side`` frame
    (``raw_size`` is ``(width, height)``, as PIL gives it)."""
    points = np.asarray(polygon, dtype=np.float64)
    if points.size < 6 or points.size % 2:
        raise ValueError(f"a polygon needs at least 3 (x, y) vertices, got {points.size} values")
    width, height = raw_size
    return points.reshape(-1, 2) * np.array([side / width, side / height])


def polygon_coverage(polygons: Sequence[np.ndarray], side: int) -> np.ndarray:
    """``side x side`` array: the share of each pixel inside any of ``polygons`` (frame
    vertices), from ``SUPERSAMPLE``-squared sub-pixel samples."""
    fine = side * SUPERSAMPLE
    inside = np.zeros((fine, fine), dtype=bool)
    centres = (np.arange(fine) + 0.5) / SUPERSAMPLE
    for vertices in polygons:
        low = np.clip(np.floor(vertices.min(axis=0) * SUPERSAMPLE).astype(int), 0, fine)
        high = np.clip(np.ceil(vertices.max(axis=0) * SUPERSAMPLE).astype(int), 0, fine)
        xs, ys = np.meshgrid(centres[low[0] : high[0]], centres[low[1] : high[1]])
        if not xs.size:
            continue
        hits = PolygonPath(vertices).contains_points(np.column_stack([xs.ravel(), ys.ravel()]))
        inside[low[1] : high[1], low[0] : high[0]] |= hits.reshape(xs.shape)
    return inside.reshape(side, SUPERSAMPLE, side, SUPERSAMPLE).mean(axis=(1, 3))


def patch_coverage(coverage: np.ndarray, grid: int) -> np.ndarray:
    """``grid x grid``: the share of each patch inside the polygons."""
    side = coverage.shape[0]
    if side % grid:
        raise ValueError(f"the frame ({side} px) is not a whole number of {grid} patches")
    patch = side // grid
    return coverage.reshape(grid, patch, grid, patch).mean(axis=(1, 3))


@dataclass(frozen=True)
class Pointing:
    """One map's scores: ``hit`` (1.0/0.0, or an expectation for the uniform map) and
    ``inside_mass`` (0-1)."""

    hit: float
    inside_mass: float


def point(grid_map: np.ndarray, coverage: np.ndarray) -> Pointing:
    """Score a ``grid x grid`` map (any non-negative weights) against a frame coverage."""
    weights = np.asarray(grid_map, dtype=np.float64)
    if weights.ndim != 2 or weights.shape[0] != weights.shape[1] or weights.min() < 0:
        raise ValueError("a grounding map is a square grid of non-negative weights")
    per_patch = patch_coverage(coverage, weights.shape[0])
    peak = np.unravel_index(int(np.argmax(weights)), weights.shape)
    mass = float((weights * per_patch).sum() / weights.sum())
    return Pointing(hit=float(per_patch[peak] > 0), inside_mass=mass)


def centre_map(side: int) -> np.ndarray:
    """The centre baseline: a Gaussian at the frame's centre, per pixel, summing to 1."""
    axis = np.arange(side) + 0.5 - side / 2
    sigma = CENTRE_SIGMA * side
    bump = np.exp(-0.5 * (axis / sigma) ** 2)
    weights = np.outer(bump, bump)
    return weights / weights.sum()


def point_centre(coverage: np.ndarray, grid: int) -> Pointing:
    """The centre baseline's scores: its peak window is a patch-sized square at the centre."""
    side = coverage.shape[0]
    half = side / grid / 2
    low, high = int(np.floor(side / 2 - half)), int(np.ceil(side / 2 + half))
    hit = float(coverage[low:high, low:high].sum() > 0)
    return Pointing(hit=hit, inside_mass=float((centre_map(side) * coverage).sum()))


def point_uniform(coverage: np.ndarray, grid: int) -> Pointing:
    """The uniform baseline: expected hit of a random peak patch, and the polygons' area share."""
    per_patch = patch_coverage(coverage, grid)
    return Pointing(hit=float((per_patch > 0).mean()), inside_mass=float(coverage.mean()))


def mean_interval(values: Sequence[float], resamples: int, seed: int) -> dict[str, float | None]:
    """The mean of per-image values and its seeded bootstrap interval over images (the shared
    ``helpers.eval.bootstrap`` resamples; ``value``, ``low``, ``high``: all None without values)."""
    if not len(values):
        return {"value": None, "low": None, "high": None}
    weights = bootstrap.resample_weights(len(values), resamples, seed)
    return bootstrap.interval(bootstrap.mean_of(np.asarray(values, dtype=float)), weights).to_dict()


__all__ = [
    "CENTRE_SIGMA",
    "SUPERSAMPLE",
    "Pointing",
    "centre_map",
    "mean_interval",
    "patch_coverage",
    "point",
    "point_centre",
    "point_uniform",
    "polygon_coverage",
    "to_frame",
]
