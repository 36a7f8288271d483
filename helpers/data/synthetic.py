"""Synthetic InSAR-like stand-in for the Hephaestus dataset (offline ``demo``/``smoke`` profiles).

Each sample is a wrapped interferogram: an unwrapped phase field built from simple physics
(one to three deformation sources: Mogi point source, dyke, sill, spheroid, earthquake or an
irregular unidentified one; turbulent and stratified atmosphere, orbital ramp, burst
discontinuities from processing errors), wrapped to [-pi, pi), sprinkled with speckle and
coloured with a cyclic hue wheel. As in the official Hephaestus examples, areas where coherence
is lost show a grey hillshade of the terrain with a noisy rim, and half the images have no-data
areas (black) outside a rotated swath. Its annotation follows the Hephaestus schema (one
``activity_type``/``intensity_level``/``segmentation_mask`` entry per pattern, ``is_crowd`` for
several), with a caption composed from the attributes (``helpers.data.synthetic_captions``,
calibrated to the real captions' length, repetition and phrase families) and
``"synthetic": true``. Everything is deterministic by seed. This is NOT Hephaestus data: results
on it only show that the code runs and learns.

Command line::

    uv run python -m helpers.data.synthetic --n 1000 --out Hephaestus_dataset/synthetic-demo
    uv run python -m helpers.data.synthetic --stats      # caption figures beside the real ones
"""

from __future__ import annotations

import argparse
import io
import json
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm.auto import tqdm

from helpers.data.synthetic_captions import NO_DEFORMATION_SENTENCES, compose_caption
from helpers.files import replaced_together, write_zip_entry

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
PNG_COMPRESS_LEVEL = 1
FRAMES_PER_SAMPLE = 1 / 8  # about eight acquisitions per frame
REVISIT_DAYS = 12  # Sentinel-1 repeat cycle
NO_DATA = (0, 0, 0)  # colour outside the swath

# number of deformation fringes (full colour cycles) per intensity level
_FRINGES = {"Low": (2.0, 3.0), "Medium": (3.0, 4.0), "High": (4.0, 5.5)}
SPECKLE_STD = 0.45  # radians of phase noise on every pixel
SPECKLE_RANDOM_SHARE = 0.02  # pixels whose phase is pure noise


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


def _rotated(x: np.ndarray, y: np.ndarray, pattern: Pattern) -> tuple[np.ndarray, np.ndarray]:
    """Coordinates across (a) and along (b) the source's strike, centred on the source."""
    dx, dy = x - pattern.center[0], y - pattern.center[1]
    cos, sin = np.cos(pattern.strike), np.sin(pattern.strike)
    return dx * cos + dy * sin, -dx * sin + dy * cos


def _mogi(a: np.ndarray, b: np.ndarray, depth: float) -> np.ndarray:
    """Uplift of a point pressure source, d^3 / (r^2 + d^2)^1.5 (peak 1): concentric fringes."""
    return (depth**2 / (a**2 + b**2 + depth**2)) ** 1.5


def _lobe(s: np.ndarray) -> np.ndarray:
    """s^2 exp(1 - s^2): zero at s = 0, peak 1 at |s| = 1."""
    return s**2 * np.exp(1 - s**2)


def deformation_displacement(pattern: Pattern, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Line-of-sight displacement of one source, scaled to a peak magnitude of about 1."""
    a, b = _rotated(x, y, pattern)
    size, aspect = pattern.source_size, pattern.aspect
    if pattern.activity == "Mogi":
        return _mogi(a, b, 1.3 * size)
    if pattern.activity == "Spheroid":  # elongated concentric ellipses
        return _mogi(a, b / aspect, 1.3 * size)
    if pattern.activity == "Sill":  # one flat-topped, boxy, elongated lobe
        return 1 / (1 + (a / size) ** 4 + (b / (size * aspect)) ** 4)
    if pattern.activity == "Dyke":  # two lobes flanking the dyke, a trough above it
        across, along = a / (1.5 * size), b / (size * aspect)
        return np.exp(-(along**4)) * (_lobe(across) - 0.3 * np.exp(-(across**2)))
    if pattern.activity == "Earthquake":  # two lobes of opposite sign across the fault
        return np.sign(a) * np.sqrt(_lobe(a / (1.5 * size)) * _lobe(np.hypot(a, b) / (2 * size)))
    if pattern.activity == "Unidentified":  # a lopsided blob that fits no model
        across, along = a / (1.4 * size), b / (1.4 * size * np.sqrt(aspect))
        return np.exp(-(across**2) - along**2) * (1 + 0.6 * np.tanh(2 * across)) / 1.6
    raise ValueError(
        f"Unknown activity type {pattern.activity!r}; expected one of {ACTIVITY_TYPES}"
    )


def pattern_phase(pattern: Pattern, image_size: int) -> np.ndarray:
    """Unwrapped phase of one source in radians."""
    x, y = _grid(image_size)
    return 2 * np.pi * pattern.fringes * deformation_displacement(pattern, x, y)


def deformation_phase(scene: Scene, image_size: int) -> np.ndarray:
    """Unwrapped deformation phase of all the scene's sources (zeros without deformation)."""
    phase = np.zeros((image_size, image_size))
    for pattern in scene.patterns:
        phase += pattern_phase(pattern, image_size)
    return phase


# ---------------------------------------------------------------- physics: nuisance signals


def _grid(image_size: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel-centre coordinates as fractions of the image: x across columns, y down rows."""
    axis = (np.arange(image_size) + 0.5) / image_size
    return np.meshgrid(axis, axis)


def fractal_noise(
    image_size: int, rng: np.random.Generator, beta: float = 11 / 3, cutoff: float = 12.0
) -> np.ndarray:
    """Power-law random field (power ~ k^-beta, smooth above `cutoff` cycles per image), std 1."""
    ky = np.fft.fftfreq(image_size) * image_size
    kx = np.fft.rfftfreq(image_size) * image_size
    k = np.hypot(ky[:, None], kx[None, :])
    power_law = np.where(k > 0, np.maximum(k, 1e-9) ** (-beta / 2), 0.0)
    amplitude = power_law * np.exp(-((k / cutoff) ** 2))
    noise = rng.standard_normal(k.shape) + 1j * rng.standard_normal(k.shape)
    field = np.fft.irfft2(amplitude * noise, s=(image_size, image_size))
    return (field - field.mean()) / field.std()


def _bump(image_size: int, center: tuple[float, float], radius: float) -> np.ndarray:
    """exp(-r^2 / radius^2) around ``center``: a cone-like volcano or a blob of lost coherence."""
    x, y = _grid(image_size)
    return np.exp(-((x - center[0]) ** 2 + (y - center[1]) ** 2) / radius**2)


def atmosphere_phase(scene: Scene, image_size: int, rng: np.random.Generator) -> np.ndarray:
    """Turbulent screen (std 0.75 rad per level, 0.25 rad otherwise) plus stratification."""
    std = 0.75 * scene.atmosphere if scene.turbulent else 0.25
    phase = std * fractal_noise(image_size, rng)
    if scene.stratified:  # delay proportional to the height of a cone-shaped volcano
        height = _bump(image_size, scene.volcano, rng.uniform(0.25, 0.35))
        strength = 0.4 + 0.25 * scene.atmosphere
        phase += 2 * np.pi * rng.choice([-1, 1]) * strength * height
    return phase


def orbital_phase(image_size: int, rng: np.random.Generator) -> np.ndarray:
    """Linear ramp of 1.5-3.5 parallel fringes across the image in a random direction."""
    x, y = _grid(image_size)
    angle, fringes = rng.uniform(0, 2 * np.pi), rng.uniform(1.5, 3.5)
    return 2 * np.pi * fringes * (np.cos(angle) * x + np.sin(angle) * y)


def burst_phase(image_size: int, heading: float, rng: np.random.Generator) -> np.ndarray:
    """Processing errors at burst edges: 1-2 straight phase steps across the swath."""
    x, y = _grid(image_size)
    along = -(x - 0.5) * np.sin(heading) + (y - 0.5) * np.cos(heading)
    steps = np.zeros((image_size, image_size))
    for edge in rng.uniform(-0.35, 0.35, size=int(rng.integers(1, 3))):
        steps += rng.choice([-1, 1]) * rng.uniform(0.5 * np.pi, np.pi) * (along > edge)
    return steps


def speckle(phase: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Phase noise on every pixel and a sprinkling of pixels whose phase is pure noise."""
    noisy = phase + SPECKLE_STD * rng.standard_normal(phase.shape)
    lost = rng.random(phase.shape) < SPECKLE_RANDOM_SHARE
    noisy[lost] = rng.uniform(-np.pi, np.pi, size=int(lost.sum()))
    return noisy


def high_displacement_noise(
    scene: Scene, phase: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """Inside high-intensity sources, fringes too dense to resolve: a third of pixels are noise."""
    size = phase.shape[0]
    for pattern in scene.patterns:
        if pattern.intensity == "High":
            inside = _bump(size, pattern.center, pattern.source_size) > np.exp(-0.5)
            noisy = inside & (rng.random(phase.shape) < 1 / 3)
            phase[noisy] = rng.uniform(-np.pi, np.pi, size=int(noisy.sum()))
    return phase


def _hue_wheel(entries: int = 256, saturation: float = 0.9, value: float = 0.95) -> np.ndarray:
    """Cyclic rainbow colour map (HSV hue wheel) as an (entries, 3) uint8 table."""
    hue = np.arange(entries) / entries
    k = (np.array([5.0, 3.0, 1.0]) + 6 * hue[:, None]) % 6
    rgb = value * (1 - saturation * np.clip(np.minimum(k, 4 - k), 0, 1))
    return np.round(255 * rgb).astype(np.uint8)


_COLOURS = _hue_wheel()


def colorize(phase: np.ndarray) -> np.ndarray:
    """Wrap phase to [-pi, pi) and map it through the cyclic colour wheel: HxWx3 uint8."""
    cycles = (phase + np.pi) / (2 * np.pi)
    index = np.floor((cycles - np.floor(cycles)) * len(_COLOURS)).astype(np.int64)
    return _COLOURS[index % len(_COLOURS)]


def hillshade(scene: Scene, image_size: int, rng: np.random.Generator) -> np.ndarray:
    """Grey shaded relief (HxW uint8) of a volcano on rough terrain, lit from the north-west."""
    height = _bump(image_size, scene.volcano, 0.3) + 0.15 * fractal_noise(image_size, rng, 3.0, 24)
    dz_dy, dz_dx = np.gradient(height * image_size / 8)
    slope = np.arctan(np.hypot(dz_dx, dz_dy))
    aspect = np.arctan2(-dz_dy, dz_dx)
    azimuth, altitude = np.deg2rad(135.0), np.deg2rad(45.0)  # light from the upper left
    shade = np.sin(altitude) * np.cos(slope) + np.cos(altitude) * np.sin(slope) * np.cos(
        azimuth - aspect
    )
    return np.round(40 + 190 * np.clip(shade, 0, 1)).astype(np.uint8)


def lose_coherence(image: np.ndarray, scene: Scene, rng: np.random.Generator) -> np.ndarray:
    """Blotchy patches (15-35 % of the image, mostly around ``coherence_loss_center``) where the
    phase means nothing: grey hillshade in their core, random colours on their rim."""
    size = image.shape[0]
    blobs = fractal_noise(size, rng, beta=4.0, cutoff=8.0)
    blobs += 2.5 * _bump(size, scene.coherence_loss_center, 0.25)
    share = rng.uniform(0.15, 0.35)
    patches = blobs > np.quantile(blobs, 1 - share)
    core = blobs > np.quantile(blobs, 1 - 0.7 * share)
    rim = patches & ~core
    out = image.copy()
    out[rim] = _COLOURS[rng.integers(len(_COLOURS), size=int(rim.sum()))]
    out[core] = hillshade(scene, size, rng)[core][:, None]
    return out


def swath_edges(
    image: np.ndarray, scene: Scene, heading: float, rng: np.random.Generator
) -> np.ndarray:
    """No data (black) outside a swath rotated by ``heading``, in half the images; the swath
    always holds the deformation sources."""
    if rng.random() < 0.5:
        return image
    x, y = _grid(image.shape[0])
    across = (x - 0.5) * np.cos(heading) + (y - 0.5) * np.sin(heading)
    offset = rng.uniform(-0.2, 0.2)
    half_width = rng.uniform(0.38, 0.55)
    for pattern in scene.patterns:
        cx, cy = pattern.center[0] - 0.5, pattern.center[1] - 0.5
        reach = abs(cx * np.cos(heading) + cy * np.sin(heading) - offset) + pattern.source_size
        half_width = max(half_width, reach + 0.1)
    out = image.copy()
    out[np.abs(across - offset) > half_width] = NO_DATA
    return out


def render_interferogram(scene: Scene, image_size: int, rng: np.random.Generator) -> np.ndarray:
    """The wrapped, coloured interferogram of a scene (HxWx3 uint8)."""
    heading = rng.uniform(-0.25, 0.25)  # the satellite track, radians from north
    phase = deformation_phase(scene, image_size) + atmosphere_phase(scene, image_size, rng)
    if scene.orbital:
        phase += orbital_phase(image_size, rng)
    if scene.processing_error:
        phase += burst_phase(image_size, heading, rng)
    image = colorize(high_displacement_noise(scene, speckle(phase, rng), rng))
    if scene.low_coherence:
        image = lose_coherence(image, scene, rng)
    return swath_edges(image, scene, heading, rng)


def deformation_polygon(pattern: Pattern, image_size: int, vertices: int = 16) -> list[float]:
    """Star polygon around the pixels displaced by at least half a fringe, flat [x, y, ...]."""
    rows, cols = np.nonzero(np.abs(pattern_phase(pattern, image_size)) >= np.pi)
    if rows.size == 0:
        return []
    cx, cy = pattern.center[0] * image_size, pattern.center[1] * image_size
    dx, dy = cols + 0.5 - cx, rows + 0.5 - cy
    bins = ((np.arctan2(dy, dx) + np.pi) / (2 * np.pi) * vertices).astype(int) % vertices
    radius = np.zeros(vertices)
    np.maximum.at(radius, bins, np.hypot(dx, dy) + 0.5)
    angles = (np.arange(vertices) + 0.5) * 2 * np.pi / vertices - np.pi
    xs = np.clip(cx + radius * np.cos(angles), 0, image_size)
    ys = np.clip(cy + radius * np.sin(angles), 0, image_size)
    return [round(float(v), 1) for point in zip(xs, ys, strict=True) for v in point]


# ---------------------------------------------------------------- attributes


def _draw_activity(rng: np.random.Generator) -> str:
    return str(rng.choice(ACTIVITY_TYPES, p=list(ACTIVITY_SHARES.values())))


def _make_frames(count: int, rng: np.random.Generator) -> list[Frame]:
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


# ---------------------------------------------------------------- annotations


def make_annotation(
    unique_id: int,
    frame: Frame,
    visit: int,
    scene: Scene,
    image_size: int,
    rng: np.random.Generator,
) -> dict:
    """The Hephaestus-schema annotation of one scene (plus ``"synthetic": True``): one
    ``activity_type``, ``intensity_level`` and ``segmentation_mask`` entry per pattern."""
    primary = frame.first_date + timedelta(days=2 * REVISIT_DAYS * visit)
    secondary = primary + timedelta(days=int(rng.choice([6, 12, 12, 24])))
    deforming = bool(scene.patterns)
    return {
        "uniqueID": unique_id,
        "frameID": frame.frame_id,
        "primary_date": primary.strftime("%Y%m%d"),
        "secondary_date": secondary.strftime("%Y%m%d"),
        "corrupted": 0,
        "processing_error": int(scene.processing_error),
        "glacier_fringes": 0,
        "orbital_fringes": int(scene.orbital),
        "atmospheric_fringes": scene.atmosphere,
        "low_coherence": int(scene.low_coherence),
        "no_info": 0,
        "image_artifacts": 0,
        "label": ["Deformation" if deforming else "Non_Deformation"],
        "activity_type": [p.activity for p in scene.patterns],
        "intensity_level": [p.intensity for p in scene.patterns] if deforming else ["None"],
        "phase": scene.phase,
        "confidence": float(rng.choice([0.6, 0.7, 0.8, 0.9, 1.0])),
        "segmentation_mask": [deformation_polygon(p, image_size) for p in scene.patterns],
        "is_crowd": int(len(scene.patterns) > 1),
        "caption": compose_caption(scene, rng),
        "synthetic": True,
    }


# ---------------------------------------------------------------- samples and zips


def generate_samples(n: int, seed: int = 0, image_size: int = 224) -> Iterator[SyntheticSample]:
    """Yield `n` samples, deterministic by `seed`; max(2, n/8) frames share the acquisitions.

    Each sample draws its facts and its pixels from its own child generators, so the annotations
    (apart from pixel coordinates of the mask) do not depend on `image_size`.
    """
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    if seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed}")
    if image_size < MIN_IMAGE_SIZE:
        raise ValueError(f"image_size must be at least {MIN_IMAGE_SIZE} px, got {image_size}")
    return _iterate_samples(n, seed, image_size)


def _iterate_samples(n: int, seed: int, image_size: int) -> Iterator[SyntheticSample]:
    frames = _make_frames(max(2, round(n * FRAMES_PER_SAMPLE)), np.random.default_rng(seed))
    for index in range(n):
        facts_rng, pixel_rng = (
            np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(index, part)))
            for part in (0, 1)
        )
        frame = frames[index % len(frames)]
        scene = draw_scene(frame, facts_rng)
        visit = index // len(frames)
        annotation = make_annotation(index + 1, frame, visit, scene, image_size, facts_rng)
        yield SyntheticSample(annotation, render_interferogram(scene, image_size, pixel_rng))


def png_bytes(image: np.ndarray) -> bytes:
    """PNG encoding of an HxWx3 uint8 image (moderate compression, for speed)."""
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG", compress_level=PNG_COMPRESS_LEVEL)
    return buffer.getvalue()


def _readme(n: int, seed: int, image_size: int) -> str:
    return (
        "SYNTHETIC DATA - NOT the Hephaestus dataset.\n"
        f"Generated by helpers.data.synthetic: {n} simulated wrapped interferograms of "
        f"{image_size} px, seed {seed}.\nImages are made from simple physics (point sources, "
        "dykes, sills, spheroids, earthquakes, atmosphere, orbital ramps, decorrelation) and "
        "captions are composed from the simulated attributes.\nResults on it only show that the "
        "code runs and learns; never report them as results on Hephaestus.\n"
    )


def write_synthetic_dataset(
    out_dir: Path,
    n: int,
    seed: int = 0,
    image_size: int = 224,
    progress: bool = True,
    overwrite: bool = False,
) -> tuple[Path, Path]:
    """Write ``out_dir/images.zip`` and ``out_dir/annotations.zip``; return their paths.

    Entries are ``images/<uniqueID>.png`` and ``annotations/<uniqueID>.json``, and each zip holds
    ``SYNTHETIC_README.txt``. Both zips are written to temporary files and renamed at the end, so
    a crash never leaves a half-written zip. Existing zips are kept unless ``overwrite=True``.
    """
    out_dir = Path(out_dir)
    targets = (out_dir / "images.zip", out_dir / "annotations.zip")
    for target in targets:
        if target.exists() and not overwrite:
            raise FileExistsError(
                f"{target} already exists; pass overwrite=True (CLI: --overwrite) to replace it."
            )
    samples = generate_samples(n, seed, image_size)  # checks the arguments before any writing
    out_dir.mkdir(parents=True, exist_ok=True)
    readme = _readme(n, seed, image_size)
    with (
        replaced_together(targets) as temps,
        zipfile.ZipFile(temps[0], "w") as images,
        zipfile.ZipFile(temps[1], "w") as annotations,
    ):
        for archive in (images, annotations):
            write_zip_entry(archive, SYNTHETIC_MARKER, readme, zipfile.ZIP_DEFLATED)
        for sample in tqdm(samples, total=n, desc="synthetic InSAR", disable=not progress):
            stem = sample.annotation["uniqueID"]
            write_zip_entry(
                images, f"images/{stem}.png", png_bytes(sample.image), zipfile.ZIP_STORED
            )
            text = json.dumps(sample.annotation)
            write_zip_entry(annotations, f"annotations/{stem}.json", text, zipfile.ZIP_DEFLATED)
    return targets


STATS_SAMPLES = 300  # default size of the set --stats measures


def caption_stats_report(n: int = STATS_SAMPLES, seed: int = 0) -> tuple[dict, str]:
    """The caption figures of ``n`` generated samples (after the unique-caption filter) and a
    table of them beside the real captions' figures and the targets."""
    from helpers.data.caption_stats import caption_figures, figures_table

    annotations = [s.annotation for s in generate_samples(n, seed, image_size=MIN_IMAGE_SIZE)]
    figures = caption_figures(annotations)
    header = (
        f"{n} synthetic samples (seed {seed}), {figures['unique_captions']} distinct captions "
        "kept; tokens: BLIP's WordPiece, [CLS]/[SEP] included; real = Intel's 138 test captions"
    )
    return figures, f"{header}\n{figures_table(figures)}"


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m helpers.data.synthetic",
        description="Write a synthetic InSAR-like stand-in for the Hephaestus zips, or print "
        "its caption statistics beside the real captions' (--stats).",
    )
    parser.add_argument("--n", type=int, help=f"number of images (--stats: {STATS_SAMPLES})")
    parser.add_argument("--out", type=Path, help="folder for the two zips")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--size", type=int, default=224, help="image side in pixels")
    parser.add_argument("--overwrite", action="store_true", help="replace existing zips")
    parser.add_argument(
        "--stats", action="store_true", help="print caption figures vs targets; write nothing"
    )
    args = parser.parse_args(argv)
    if args.stats:
        try:
            print(caption_stats_report(args.n or STATS_SAMPLES, args.seed)[1])
        except ValueError as error:
            parser.error(str(error))
        return
    if args.n is None or args.out is None:
        parser.error("--n and --out are required (or --stats)")
    try:
        paths = write_synthetic_dataset(
            args.out, args.n, seed=args.seed, image_size=args.size, overwrite=args.overwrite
        )
    except (ValueError, FileExistsError) as error:
        parser.error(str(error))
    print(f"Wrote {args.n} samples (seed {args.seed}, {args.size} px):")
    for path in paths:
        print(f"  {path}")
    print("NOTE: this is SYNTHETIC data from helpers.data.synthetic, not the Hephaestus dataset.")


__all__ = [
    "ACTIVITY_TYPES",
    "INTENSITY_LEVELS",
    "MIN_IMAGE_SIZE",
    "NO_DEFORMATION_SENTENCES",
    "SYNTHETIC_MARKER",
    "Pattern",
    "Scene",
    "SyntheticSample",
    "caption_stats_report",
    "generate_samples",
    "png_bytes",
    "write_synthetic_dataset",
]


if __name__ == "__main__":
    main()
