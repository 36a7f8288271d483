"""Deformation sources of the synthetic stand-in: what one is, the line-of-sight displacement it
causes, and how far its fringes reach.

Every source's displacement is a function of the offset from its centre in units of its size
(``source_size``), across (a) and along (b) its strike, so a source's footprint (the pixels
displaced by at least half a fringe, which its annotation polygon outlines) scales with its size.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np


@dataclass(frozen=True)
class Pattern:
    """One deformation source; positions and sizes are fractions of the image."""

    activity: str  # one of helpers.data.synthetic.scenes.ACTIVITY_TYPES
    intensity: str  # one of INTENSITY_LEVELS
    center: tuple[float, float]
    source_size: float
    strike: float
    aspect: float
    fringes: float  # signed: negative for subsidence


def _mogi(a: np.ndarray, b: np.ndarray, aspect: float) -> np.ndarray:
    """Uplift of a point pressure source at depth 1.3, d^3 / (r^2 + d^2)^1.5 (peak 1)."""
    depth = 1.3
    return (depth**2 / (a**2 + b**2 + depth**2)) ** 1.5


def _spheroid(a: np.ndarray, b: np.ndarray, aspect: float) -> np.ndarray:
    """Elongated concentric ellipses."""
    return _mogi(a, b / aspect, aspect)


def _sill(a: np.ndarray, b: np.ndarray, aspect: float) -> np.ndarray:
    """One flat-topped, boxy, elongated lobe."""
    return 1 / (1 + a**4 + (b / aspect) ** 4)


def _lobe(s: np.ndarray) -> np.ndarray:
    """s^2 exp(1 - s^2): zero at s = 0, peak 1 at |s| = 1."""
    return s**2 * np.exp(1 - s**2)


def _dyke(a: np.ndarray, b: np.ndarray, aspect: float) -> np.ndarray:
    """Two lobes flanking the dyke, a trough above it."""
    across, along = a / 1.5, b / aspect
    return np.exp(-(along**4)) * (_lobe(across) - 0.3 * np.exp(-(across**2)))


def _earthquake(a: np.ndarray, b: np.ndarray, aspect: float) -> np.ndarray:
    """Two lobes of opposite sign across the fault."""
    return np.sign(a) * np.sqrt(_lobe(a / 1.5) * _lobe(np.hypot(a, b) / 2))


def _unidentified(a: np.ndarray, b: np.ndarray, aspect: float) -> np.ndarray:
    """A lopsided blob that fits no model."""
    across, along = a / 1.4, b / (1.4 * np.sqrt(aspect))
    return np.exp(-(across**2) - along**2) * (1 + 0.6 * np.tanh(2 * across)) / 1.6


_DISPLACEMENTS: dict[str, Callable[[np.ndarray, np.ndarray, float], np.ndarray]] = {
    "Mogi": _mogi,
    "Spheroid": _spheroid,
    "Sill": _sill,
    "Dyke": _dyke,
    "Earthquake": _earthquake,
    "Unidentified": _unidentified,
}


def unit_displacement(activity: str, a: np.ndarray, b: np.ndarray, aspect: float) -> np.ndarray:
    """Displacement (peak magnitude about 1) at offsets ``a`` across and ``b`` along the strike,
    in units of the source's size."""
    if activity not in _DISPLACEMENTS:
        raise ValueError(
            f"Unknown activity type {activity!r}; expected one of {tuple(_DISPLACEMENTS)}"
        )
    return _DISPLACEMENTS[activity](a, b, aspect)


def deformation_displacement(pattern: Pattern, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Line-of-sight displacement of one source at image positions ``x``, ``y`` (fractions)."""
    dx, dy = x - pattern.center[0], y - pattern.center[1]
    cos, sin = np.cos(pattern.strike), np.sin(pattern.strike)
    a, b = dx * cos + dy * sin, -dx * sin + dy * cos
    size = pattern.source_size
    return unit_displacement(pattern.activity, a / size, b / size, pattern.aspect)


class Footprint(NamedTuple):
    """Where a source of size 1 centred at the origin displaces the ground by at least half a
    fringe: its half-width and half-height along the image's x and y axes, and its centroid."""

    reach: tuple[float, float]
    centroid: tuple[float, float]


def footprint(activity: str, aspect: float, fringes: float, strike: float) -> Footprint:
    """The ``Footprint`` of a source of size 1 (scale both by ``source_size`` for the image)."""
    radius = np.linspace(0, 12, 241)[:, None]
    angle = np.linspace(-np.pi, np.pi, 96, endpoint=False)[None, :]
    a, b = radius * np.cos(angle), radius * np.sin(angle)
    inside = np.abs(fringes * unit_displacement(activity, a, b, aspect)) >= 0.5
    if not inside.any():
        return Footprint((0.0, 0.0), (0.0, 0.0))
    cos, sin = np.cos(strike), np.sin(strike)
    dx, dy = (a * cos - b * sin)[inside], (a * sin + b * cos)[inside]
    area = np.broadcast_to(radius, inside.shape)[inside]  # polar samples: area grows with r
    centroid = (float(np.average(dx, weights=area)), float(np.average(dy, weights=area)))
    return Footprint((float(np.abs(dx).max()), float(np.abs(dy).max())), centroid)


__all__ = ["Pattern", "deformation_displacement", "Footprint", "footprint", "unit_displacement"]
