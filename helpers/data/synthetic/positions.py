"""The parts of the frame a synthetic caption names ("on the north-eastern side", "in the central
part") and points drawn clearly inside one of them, anywhere in the frame.

Positions are fractions of the image (x across columns, y down rows; north up). The parts are
those of ``helpers.data.attributes`` (``sector_index``): a centre disk, the "central part", and
around it eight 45-degree sectors named by compass direction. Drawn points keep clear of the
borders between parts (``SECTOR_MARGIN``, ``RING``) and of the image's edges (``EDGE_MARGIN``),
so a pattern's outline, clipped by the image, still has its centroid in the part its caption
names.
"""

from __future__ import annotations

import math

import numpy as np

from helpers.data.attributes import SECTORS, sector_index

DIRECTIONS = SECTORS[:-1]  # counter-clockwise from east, one per 45-degree sector
CENTRAL = len(DIRECTIONS)  # the index of the "central part"
PARTS = len(DIRECTIONS) + 1
RING = (0.035, 0.15)  # drawn points lie within RING[0] of the centre or beyond RING[1]
SECTOR_MARGIN = math.radians(10)  # drawn points keep this far from a sector's border
EDGE_MARGIN = 0.14  # drawn points keep this far from the image's edges, unless told otherwise
MAX_MARGIN = 0.3  # the most any margin may ask for: leaves room beyond RING[1] in every sector
_HALF_SECTOR = math.pi / len(DIRECTIONS)


def part_of(point: tuple[float, float]) -> int:
    """The index of the part of the frame ``point`` lies in: a sector of ``DIRECTIONS``, or
    ``CENTRAL``."""
    return sector_index(*point)


Margins = tuple[float, float]  # how far a point keeps from the left/right and top/bottom edges


def _reach(angle: float, margins: Margins) -> float:
    """How far from the centre a point may go along ``angle`` and keep ``margins`` inside."""
    cos, sin = abs(math.cos(angle)), abs(math.sin(angle))
    return min((0.5 - margins[0]) / max(cos, 1e-9), (0.5 - margins[1]) / max(sin, 1e-9))


def _from_polar(radius: float, angle: float) -> tuple[float, float]:
    return 0.5 + radius * math.cos(angle), 0.5 - radius * math.sin(angle)


def _clear_angles(part: int) -> tuple[float, float]:
    middle, spread = part * 2 * _HALF_SECTOR, _HALF_SECTOR - SECTOR_MARGIN
    return middle - spread, middle + spread


def _checked(margins: Margins) -> Margins:
    """Margins that leave every part room (clamped to ``MAX_MARGIN``)."""
    return min(margins[0], MAX_MARGIN), min(margins[1], MAX_MARGIN)


def settle(
    point: tuple[float, float], part: int, margins: Margins = (EDGE_MARGIN, EDGE_MARGIN)
) -> tuple[float, float]:
    """The nearest point to ``point`` (in polar terms) that lies clearly inside ``part`` and
    ``margins`` inside the image."""
    dx, dy = point[0] - 0.5, 0.5 - point[1]
    radius, angle = math.hypot(dx, dy), math.atan2(dy, dx)
    if part == CENTRAL:
        return _from_polar(min(radius, RING[0]), angle)
    low, high = _clear_angles(part)
    middle = (low + high) / 2
    angle = middle + float(
        np.clip((angle - middle + math.pi) % (2 * math.pi) - math.pi, low - middle, high - middle)
    )
    return _from_polar(float(np.clip(radius, RING[1], _reach(angle, _checked(margins)))), angle)


def draw_position(
    part: int, rng: np.random.Generator, margins: Margins = (EDGE_MARGIN, EDGE_MARGIN)
) -> tuple[float, float]:
    """A point spread evenly (uniform in area) over the clear inside of ``part``, ``margins``
    inside the image."""
    if part == CENTRAL:
        angle, inner, outer = rng.uniform(-math.pi, math.pi), 0.0, RING[0]
    else:
        angle = rng.uniform(*_clear_angles(part))
        inner, outer = RING[1], _reach(angle, _checked(margins))
    return _from_polar(math.sqrt(rng.uniform(inner**2, outer**2)), angle)


def where(point: tuple[float, float]) -> str:
    """Position words for a point given as image fractions."""
    part = part_of(point)
    if part == CENTRAL:
        return "in the central part of the region"
    return f"on the {DIRECTIONS[part]} side of the region"
