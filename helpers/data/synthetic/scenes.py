"""What a synthetic scene holds (frames, deformation patterns, atmosphere...) and how one is
drawn at random, with the shares the real dataset has.

Each frame's volcano lies in one of the nine parts of the frame a caption names (eight compass
sectors and the central part, equally often), anywhere from the centre to near the edges; the
first pattern of an acquisition sits close to it, further ones in other parts of the frame. Every
position is drawn clearly inside its part (``helpers.data.synthetic.positions``), so the
caption's position words say where the pattern's outline is.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np

from helpers.data.synthetic.positions import PARTS, draw_position, part_of, settle
from helpers.data.synthetic.sources import Footprint, Pattern, footprint

SYNTHETIC_MARKER = "SYNTHETIC_README.txt"
# activity types with their share among deformation patterns (DESIGN.md section 4: Sill ~50%,
# Dyke ~20%, Mogi ~15%, Unidentified ~5%, Earthquake and Spheroid rare)
ACTIVITY_SHARES = {
    "Sill": 0.45,
    "Dyke": 0.2,
    "Mogi": 0.15,
    "Unidentified": 0.08,
    "Spheroid": 0.06,
    "Earthquake": 0.06,
}
ACTIVITY_TYPES = tuple(ACTIVITY_SHARES)
INTENSITY_LEVELS = ("Low", "Medium", "High")
PATTERN_COUNT_SHARES = (0.8, 0.15, 0.05)  # one, two or three patterns in a deforming scene
MIN_IMAGE_SIZE = 16
FRAMES_PER_SAMPLE = 1 / 8  # about eight acquisitions per frame
REVISIT_DAYS = 12  # Sentinel-1 repeat cycle

MAX_REACH = 0.25  # the farthest a pattern's footprint reaches from its centre (image fractions)
INSIDE_SHARE = 0.7  # a pattern's centre keeps this share of its footprint's reach from the edges
_PLACEMENT_TRIES = 20

# number of deformation fringes (full colour cycles) per intensity level
_FRINGES = {"Low": (2.0, 3.0), "Medium": (3.0, 4.0), "High": (4.0, 5.5)}


@dataclass(frozen=True)
class SyntheticSample:
    """One generated interferogram: its Hephaestus-style annotation and its HxWx3 uint8 image."""

    annotation: dict
    image: np.ndarray


@dataclass(frozen=True)
class Frame:
    """A fixed place (a "volcano") imaged at several dates."""

    frame_id: str
    volcano: tuple[float, float]  # x, y as fractions of the image width and height
    usual_activity: str
    activity_rate: float  # probability that an acquisition shows deformation
    strike: float  # radians; orientation of elongated sources
    first_date: date


@dataclass(frozen=True)
class Scene:
    """The physical facts of one interferogram; positions are fractions of the image."""

    patterns: tuple[Pattern, ...]  # empty when there is no deformation
    phase: str  # Rest / Unrest / Rebound
    volcano: tuple[float, float]
    atmosphere: int  # 0-3 (Hephaestus' atmospheric_fringes)
    turbulent: bool
    stratified: bool
    orbital: bool
    low_coherence: bool
    coherence_loss_center: tuple[float, float]
    processing_error: bool


# ---------------------------------------------------------------- physics: deformation sources


def _draw_activity(rng: np.random.Generator) -> str:
    return str(rng.choice(ACTIVITY_TYPES, p=list(ACTIVITY_SHARES.values())))


def make_frames(count: int, rng: np.random.Generator) -> list[Frame]:
    """Frames with LiCSAR-like IDs (e.g. "124D_05291_081406"), each with its own volcano, the
    volcanoes shared evenly among the parts of the frame a caption names."""
    middles = rng.choice(100_000, size=count, replace=False)
    parts = rng.permutation(count) % PARTS  # every part of the frame holds as many volcanoes
    frames = []
    for middle, part in zip(middles, parts, strict=True):
        track, direction = int(rng.integers(1, 176)), str(rng.choice(["A", "D"]))
        frames.append(
            Frame(
                frame_id=f"{track:03d}{direction}_{middle:05d}_{int(rng.integers(0, 10**6)):06d}",
                volcano=draw_position(int(part), rng),
                usual_activity=_draw_activity(rng),
                activity_rate=float(rng.uniform(0.55, 0.85)),
                strike=float(rng.uniform(0, np.pi)),
                first_date=date(2015, 6, 1) + timedelta(days=int(rng.integers(0, 5 * 365))),
            )
        )
    return frames


def _near(
    rng: np.random.Generator, point: tuple[float, float], spread: float
) -> tuple[float, float]:
    x, y = np.asarray(point) + rng.normal(0, spread, size=2)
    return float(x), float(y)


def pattern_position(
    frame: Frame, taken: Sequence[int], shape: Footprint, rng: np.random.Generator
) -> tuple[float, float]:
    """Where a source with footprint ``shape`` (in image fractions) lies: the first close to the
    frame's volcano, in the volcano's part of the frame; further ones in a part no earlier
    source of the scene holds. The footprint stays mostly inside the image (``INSIDE_SHARE``)
    and its centroid in the source's part (drawn again when a lopsided one strays)."""
    margins = (INSIDE_SHARE * shape.reach[0], INSIDE_SHARE * shape.reach[1])
    if taken:
        part = int(rng.choice([part for part in range(PARTS) if part not in taken]))
        center = draw_position(part, rng, margins)
    else:
        part = part_of(frame.volcano)
        center = settle(_near(rng, frame.volcano, 0.03), part, margins)
    for _ in range(_PLACEMENT_TRIES):
        if part_of((center[0] + shape.centroid[0], center[1] + shape.centroid[1])) == part:
            break
        center = draw_position(part, rng, margins)
    return center


def draw_pattern(
    frame: Frame, taken: Sequence[int], sign: int, rng: np.random.Generator
) -> Pattern:
    """One source (the first of a scene the larger) whose footprint reaches at most
    ``MAX_REACH`` from its centre, at ``pattern_position``."""
    first = not taken
    activity = frame.usual_activity if rng.random() < 0.8 else _draw_activity(rng)
    intensity = str(rng.choice(INTENSITY_LEVELS, p=[0.35, 0.4, 0.25]))
    strike = frame.strike + float(rng.normal(0, 0.2))
    aspect = float(rng.uniform(1.8, 3.0))
    fringes = float(sign * rng.uniform(*_FRINGES[intensity]))
    size = float(rng.uniform(0.08, 0.14) if first else rng.uniform(0.06, 0.1))
    unit = footprint(activity, aspect, fringes, strike)
    size = min(size, MAX_REACH / max(*unit.reach, 1e-9))
    shape = Footprint(
        (size * unit.reach[0], size * unit.reach[1]),
        (size * unit.centroid[0], size * unit.centroid[1]),
    )
    return Pattern(
        activity=activity,
        intensity=intensity,
        center=pattern_position(frame, taken, shape, rng),
        source_size=size,
        strike=strike,
        aspect=aspect,
        fringes=fringes,
    )


def draw_scene(frame: Frame, rng: np.random.Generator) -> Scene:
    """Draw one acquisition's facts; the frame fixes the place, activity varies over dates."""
    deforming = rng.random() < frame.activity_rate
    phase = ("Rebound" if rng.random() < 0.2 else "Unrest") if deforming else "Rest"
    count = int(rng.choice(len(PATTERN_COUNT_SHARES), p=PATTERN_COUNT_SHARES)) + 1
    sign = -1 if phase == "Rebound" else 1
    patterns: list[Pattern] = []
    for _ in range(count if deforming else 0):
        taken = [part_of(p.center) for p in patterns]
        patterns.append(draw_pattern(frame, taken, sign, rng))
    atmosphere = int(rng.choice(4, p=[0.12, 0.35, 0.33, 0.2]))
    stratified = bool(atmosphere > 0 and rng.random() < 0.3)
    return Scene(
        patterns=tuple(patterns),
        phase=phase,
        volcano=frame.volcano,
        atmosphere=atmosphere,
        turbulent=bool(atmosphere > 0 and (not stratified or rng.random() < 0.15)),
        stratified=stratified,
        orbital=bool(rng.random() < 0.12),
        low_coherence=bool(rng.random() < 0.2),
        coherence_loss_center=draw_position(int(rng.integers(PARTS)), rng),
        processing_error=bool(rng.random() < 0.05),
    )
