"""What a synthetic scene holds (frames, deformation patterns, atmosphere...) and how one is
drawn at random, with the shares the real dataset has.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np

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
class Pattern:
    """One deformation source; positions and sizes are fractions of the image."""

    activity: str  # one of ACTIVITY_TYPES
    intensity: str  # one of INTENSITY_LEVELS
    center: tuple[float, float]
    source_size: float
    strike: float
    aspect: float
    fringes: float  # signed: negative for subsidence


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
    """Frames with LiCSAR-like IDs (e.g. "124D_05291_081406"), each with its own volcano."""
    middles = rng.choice(100_000, size=count, replace=False)
    frames = []
    for middle in middles:
        track, direction = int(rng.integers(1, 176)), str(rng.choice(["A", "D"]))
        frames.append(
            Frame(
                frame_id=f"{track:03d}{direction}_{middle:05d}_{int(rng.integers(0, 10**6)):06d}",
                volcano=(float(rng.uniform(0.35, 0.65)), float(rng.uniform(0.35, 0.65))),
                usual_activity=_draw_activity(rng),
                activity_rate=float(rng.uniform(0.55, 0.85)),
                strike=float(rng.uniform(0, np.pi)),
                first_date=date(2015, 6, 1) + timedelta(days=int(rng.integers(0, 5 * 365))),
            )
        )
    return frames


def _point(rng: np.random.Generator, near: Sequence[float], spread: float) -> tuple[float, float]:
    center = np.clip(np.asarray(near) + rng.normal(0, spread, size=2), 0.2, 0.8)
    return float(center[0]), float(center[1])


def draw_pattern(frame: Frame, first: bool, sign: int, rng: np.random.Generator) -> Pattern:
    """One source: the first near the frame's volcano, further ones anywhere around it."""
    activity = frame.usual_activity if rng.random() < 0.8 else _draw_activity(rng)
    intensity = str(rng.choice(INTENSITY_LEVELS, p=[0.35, 0.4, 0.25]))
    return Pattern(
        activity=activity,
        intensity=intensity,
        center=_point(rng, frame.volcano, 0.03 if first else 0.22),
        source_size=float(rng.uniform(0.08, 0.14) if first else rng.uniform(0.06, 0.1)),
        strike=frame.strike + float(rng.normal(0, 0.2)),
        aspect=float(rng.uniform(1.8, 3.0)),
        fringes=float(sign * rng.uniform(*_FRINGES[intensity])),
    )


def draw_scene(frame: Frame, rng: np.random.Generator) -> Scene:
    """Draw one acquisition's facts; the frame fixes the place, activity varies over dates."""
    deforming = rng.random() < frame.activity_rate
    phase = ("Rebound" if rng.random() < 0.2 else "Unrest") if deforming else "Rest"
    count = int(rng.choice(len(PATTERN_COUNT_SHARES), p=PATTERN_COUNT_SHARES)) + 1
    sign = -1 if phase == "Rebound" else 1
    patterns = tuple(
        draw_pattern(frame, index == 0, sign, rng) for index in range(count if deforming else 0)
    )
    atmosphere = int(rng.choice(4, p=[0.12, 0.35, 0.33, 0.2]))
    stratified = bool(atmosphere > 0 and rng.random() < 0.3)
    return Scene(
        patterns=patterns,
        phase=phase,
        volcano=frame.volcano,
        atmosphere=atmosphere,
        turbulent=bool(atmosphere > 0 and (not stratified or rng.random() < 0.15)),
        stratified=stratified,
        orbital=bool(rng.random() < 0.12),
        low_coherence=bool(rng.random() < 0.2),
        coherence_loss_center=_point(rng, (0.5, 0.5), 0.2),
        processing_error=bool(rng.random() < 0.05),
    )
