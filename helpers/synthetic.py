"""Synthetic InSAR-like stand-in for the Hephaestus dataset (offline ``demo``/``smoke`` profiles).

Each sample is a wrapped interferogram: an unwrapped phase field built from simple physics
(Mogi point source, dyke, sill, spheroid, earthquake, turbulent and stratified atmosphere,
orbital ramp, low-coherence noise), wrapped to [-pi, pi) and coloured with a cyclic hue wheel.
Its annotation follows the Hephaestus schema, with a caption composed from the attributes and
``"synthetic": true``. Everything is deterministic by seed. This is NOT Hephaestus data: results
on it only show that the code runs and learns.

Command line::

    uv run python -m helpers.synthetic --n 1000 --out Hephaestus_dataset/synthetic-demo
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

from helpers.files import replaced_together, write_zip_entry

SYNTHETIC_MARKER = "SYNTHETIC_README.txt"
ACTIVITY_TYPES = ("Mogi", "Dyke", "Sill", "Spheroid", "Earthquake")
INTENSITY_LEVELS = ("Low", "Medium", "High")
NO_DEFORMATION_SENTENCES = (
    "No deformation activity can be detected.",
    "There is no sign of ground deformation.",
    "No ground deformation is visible in the interferogram.",
)
MIN_IMAGE_SIZE = 16
PNG_COMPRESS_LEVEL = 1
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
class Scene:
    """The physical facts of one interferogram; positions and sizes are fractions of the image."""

    activity: str | None  # one of ACTIVITY_TYPES, None when there is no deformation
    intensity: str  # one of INTENSITY_LEVELS, or "None"
    phase: str  # Rest / Unrest / Rebound
    center: tuple[float, float]
    source_size: float
    strike: float
    aspect: float
    fringes: float  # signed: negative for subsidence
    volcano: tuple[float, float]
    atmosphere: int  # 0-3 (Hephaestus' atmospheric_fringes)
    stratified: bool
    orbital: bool
    low_coherence: bool


# ---------------------------------------------------------------- physics: deformation sources


def _rotated(x: np.ndarray, y: np.ndarray, scene: Scene) -> tuple[np.ndarray, np.ndarray]:
    """Coordinates across (a) and along (b) the source's strike, centred on the source."""
    dx, dy = x - scene.center[0], y - scene.center[1]
    cos, sin = np.cos(scene.strike), np.sin(scene.strike)
    return dx * cos + dy * sin, -dx * sin + dy * cos


def _mogi(a: np.ndarray, b: np.ndarray, depth: float) -> np.ndarray:
    """Uplift of a point pressure source, d^3 / (r^2 + d^2)^1.5 (peak 1): concentric fringes."""
    return (depth**2 / (a**2 + b**2 + depth**2)) ** 1.5


def _lobe(s: np.ndarray) -> np.ndarray:
    """s^2 exp(1 - s^2): zero at s = 0, peak 1 at |s| = 1."""
    return s**2 * np.exp(1 - s**2)


def deformation_displacement(scene: Scene, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Line-of-sight displacement of the scene's source, scaled to a peak magnitude of 1."""
    a, b = _rotated(x, y, scene)
    size, aspect = scene.source_size, scene.aspect
    if scene.activity == "Mogi":
        return _mogi(a, b, 1.3 * size)
    if scene.activity == "Spheroid":  # elongated concentric ellipses
        return _mogi(a, b / aspect, 1.3 * size)
    if scene.activity == "Sill":  # one flat-topped, boxy, elongated lobe
        return 1 / (1 + (a / size) ** 4 + (b / (size * aspect)) ** 4)
    if scene.activity == "Dyke":  # two lobes flanking the dyke, a trough above it
        across, along = a / (1.5 * size), b / (size * aspect)
        return np.exp(-(along**4)) * (_lobe(across) - 0.3 * np.exp(-(across**2)))
    if scene.activity == "Earthquake":  # two lobes of opposite sign across the fault
        return np.sign(a) * np.sqrt(_lobe(a / (1.5 * size)) * _lobe(np.hypot(a, b) / (2 * size)))
    raise ValueError(f"Unknown activity type {scene.activity!r}; expected one of {ACTIVITY_TYPES}")


def deformation_phase(scene: Scene, image_size: int) -> np.ndarray:
    """Unwrapped deformation phase in radians (zeros when the scene has no deformation)."""
    if scene.activity is None:
        return np.zeros((image_size, image_size))
    x, y = _grid(image_size)
    return 2 * np.pi * scene.fringes * deformation_displacement(scene, x, y)


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


def atmosphere_phase(scene: Scene, image_size: int, rng: np.random.Generator) -> np.ndarray:
    """Turbulent screen (std 0.75 rad per level, 0.25 rad at level 0) plus stratification."""
    std = 0.75 * scene.atmosphere if scene.atmosphere else 0.25
    phase = std * fractal_noise(image_size, rng)
    if scene.stratified:  # delay proportional to the height of a cone-shaped volcano
        x, y = _grid(image_size)
        radius = rng.uniform(0.25, 0.35)
        height = np.exp(-((x - scene.volcano[0]) ** 2 + (y - scene.volcano[1]) ** 2) / radius**2)
        phase += 2 * np.pi * rng.choice([-1, 1]) * rng.uniform(0.5, 1.0) * height
    return phase


def orbital_phase(image_size: int, rng: np.random.Generator) -> np.ndarray:
    """Linear ramp of 1.5-3.5 parallel fringes across the image in a random direction."""
    x, y = _grid(image_size)
    angle, fringes = rng.uniform(0, 2 * np.pi), rng.uniform(1.5, 3.5)
    return 2 * np.pi * fringes * (np.cos(angle) * x + np.sin(angle) * y)


def decorrelate(phase: np.ndarray, low_coherence: bool, rng: np.random.Generator) -> np.ndarray:
    """Mild phase noise everywhere; random phase in blotchy patches (15-40 %) if low coherence."""
    noisy = phase + 0.3 * rng.standard_normal(phase.shape)
    if low_coherence:
        blobs = fractal_noise(phase.shape[0], rng, beta=4.0, cutoff=8.0)
        patches = blobs > np.quantile(blobs, 1 - rng.uniform(0.15, 0.4))
        noisy[patches] = rng.uniform(-np.pi, np.pi, size=int(patches.sum()))
    return noisy


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


def render_interferogram(scene: Scene, image_size: int, rng: np.random.Generator) -> np.ndarray:
    """The wrapped, coloured interferogram of a scene (HxWx3 uint8)."""
    phase = deformation_phase(scene, image_size) + atmosphere_phase(scene, image_size, rng)
    if scene.orbital:
        phase += orbital_phase(image_size, rng)
    return colorize(decorrelate(phase, scene.low_coherence, rng))


def deformation_polygon(scene: Scene, image_size: int, vertices: int = 16) -> list[float]:
    """Star polygon around the pixels displaced by at least half a fringe, flat [x, y, ...]."""
    rows, cols = np.nonzero(np.abs(deformation_phase(scene, image_size)) >= np.pi)
    if rows.size == 0:
        return []
    cx, cy = scene.center[0] * image_size, scene.center[1] * image_size
    dx, dy = cols + 0.5 - cx, rows + 0.5 - cy
    bins = ((np.arctan2(dy, dx) + np.pi) / (2 * np.pi) * vertices).astype(int) % vertices
    radius = np.zeros(vertices)
    np.maximum.at(radius, bins, np.hypot(dx, dy) + 0.5)
    angles = (np.arange(vertices) + 0.5) * 2 * np.pi / vertices - np.pi
    xs = np.clip(cx + radius * np.cos(angles), 0, image_size)
    ys = np.clip(cy + radius * np.sin(angles), 0, image_size)
    return [round(float(v), 1) for point in zip(xs, ys, strict=True) for v in point]


# ---------------------------------------------------------------- attributes and captions


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
                usual_activity=str(rng.choice(ACTIVITY_TYPES)),
                activity_rate=float(rng.uniform(0.2, 0.7)),
                strike=float(rng.uniform(0, np.pi)),
                first_date=date(2015, 6, 1) + timedelta(days=int(rng.integers(0, 5 * 365))),
            )
        )
    return frames


def draw_scene(frame: Frame, rng: np.random.Generator) -> Scene:
    """Draw one acquisition's facts; the frame fixes the place, activity varies over dates."""
    deforming = rng.random() < frame.activity_rate
    activity = frame.usual_activity if rng.random() < 0.8 else str(rng.choice(ACTIVITY_TYPES))
    intensity = str(rng.choice(INTENSITY_LEVELS, p=[0.35, 0.4, 0.25]))
    phase = "Rebound" if rng.random() < 0.2 else "Unrest"
    center = np.clip(np.array(frame.volcano) + rng.normal(0, 0.03, size=2), 0.25, 0.75)
    fringes = rng.uniform(*_FRINGES[intensity]) * (-1 if phase == "Rebound" else 1)
    atmosphere = int(rng.choice(4, p=[0.35, 0.3, 0.2, 0.15]))
    return Scene(
        activity=activity if deforming else None,
        intensity=intensity if deforming else "None",
        phase=phase if deforming else "Rest",
        center=(float(center[0]), float(center[1])),
        source_size=float(rng.uniform(0.08, 0.14)),
        strike=frame.strike + float(rng.normal(0, 0.2)),
        aspect=float(rng.uniform(1.8, 3.0)),
        fringes=float(fringes),
        volcano=frame.volcano,
        atmosphere=atmosphere,
        stratified=bool(atmosphere > 0 and rng.random() < 0.3),
        orbital=bool(rng.random() < 0.2),
        low_coherence=bool(rng.random() < 0.2),
    )


_SOURCES = {
    "Mogi": ("a Mogi point source", "a Mogi-type spherical source", "a point (Mogi) source"),
    "Dyke": ("a dyke intrusion", "an intruding dyke", "a dyke"),
    "Sill": ("a sill intrusion", "a sill", "a horizontal sill intrusion"),
    "Spheroid": ("a spheroid source", "a spheroidal magma source", "a spheroid"),
    "Earthquake": ("an earthquake", "earthquake faulting", "a shallow earthquake"),
}
_SHAPES = {
    "Mogi": "concentric fringes",
    "Dyke": "two elongated lobes",
    "Sill": "one broad elongated lobe",
    "Spheroid": "elongated concentric fringes",
    "Earthquake": "two lobes of opposite sign",
}
# adjectives start with a consonant so that "a {adjective}deformation pattern" stays grammatical
_INTENSITY_WORDS = {
    "Low": ("weak ", "low-intensity ", "slight "),
    "Medium": ("moderate ", "medium-intensity "),
    "High": ("strong ", "high-intensity ", "large "),
}
_DEFORMATION_TEMPLATES = (
    "{adjective}ground deformation caused by {source} can be detected {where}.",
    "A {adjective}deformation pattern of {shape} is visible {where}, consistent with {source}.",
    "The interferogram shows {shape} {where}, a sign of {adjective}ground deformation "
    "due to {source}.",
    "Fringes caused by {adjective}deformation from {source} appear {where}.",
)
_LEVEL_WORDS = {1: "weak", 2: "moderate", 3: "strong"}
_TURBULENT_TEMPLATES = (
    "Turbulent mixing effect or wave-like patterns caused by liquid and solid particles of the "
    "atmosphere can be detected around the area.",
    "{level} atmospheric fringes caused by turbulence are visible across the image.",
    "A {level} turbulent atmospheric contribution can be seen around the area.",
)
_STRATIFIED_TEMPLATES = (
    "Stratified atmospheric fringes that follow the topography are visible around the volcano.",
    "An atmospheric contribution correlated with the topography can be seen around the volcano.",
)
_OTHER_PHRASES = {
    "orbital": ("orbital fringes", "an orbital ramp", "parallel orbital fringes"),
    "low_coherence": (
        "low coherence areas",
        "decorrelation noise due to low coherence",
        "patches of low coherence",
    ),
}
_OTHER_TEMPLATES = (
    "The image also shows {phrase}.",
    "{phrase} can also be seen.",
    "{phrase} can be noticed as well.",
)


def _pick(options: Sequence[str], rng: np.random.Generator) -> str:
    return options[int(rng.integers(len(options)))]


def _capitalised(sentence: str) -> str:
    return sentence[0].upper() + sentence[1:]


def _where(center: tuple[float, float]) -> str:
    """Position words for a point given as image fractions (rows grow downwards)."""
    vertical = "upper " if center[1] < 0.42 else "lower " if center[1] > 0.58 else ""
    horizontal = "left " if center[0] < 0.42 else "right " if center[0] > 0.58 else ""
    if not vertical and not horizontal:
        return "in the centre of the image"
    return f"in the {vertical}{horizontal}part of the image"


def compose_caption(scene: Scene, rng: np.random.Generator) -> str:
    """A 1-3 sentence caption in Hephaestus' style stating exactly the scene's facts."""
    if scene.activity is None:
        deformation = _pick(NO_DEFORMATION_SENTENCES, rng)
    else:
        adjective = _pick(_INTENSITY_WORDS[scene.intensity], rng) if rng.random() < 0.6 else ""
        deformation = _pick(_DEFORMATION_TEMPLATES, rng).format(
            adjective=adjective,
            source=_pick(_SOURCES[scene.activity], rng),
            shape=_SHAPES[scene.activity],
            where=_where(scene.center),
        )
    others = []
    if scene.atmosphere:
        templates = _STRATIFIED_TEMPLATES if scene.stratified else _TURBULENT_TEMPLATES
        others.append(_pick(templates, rng).format(level=_LEVEL_WORDS[scene.atmosphere]))
    extras = [
        _pick(_OTHER_PHRASES[name], rng)
        for name, present in (("orbital", scene.orbital), ("low_coherence", scene.low_coherence))
        if present
    ]
    if extras:
        others.append(_pick(_OTHER_TEMPLATES, rng).format(phrase=" and ".join(extras)))
    sentences = [deformation, *others] if rng.random() < 0.5 else [*others, deformation]
    return " ".join(_capitalised(sentence) for sentence in sentences)


def make_annotation(
    unique_id: int,
    frame: Frame,
    visit: int,
    scene: Scene,
    image_size: int,
    rng: np.random.Generator,
) -> dict:
    """The Hephaestus-schema annotation of one scene (plus ``"synthetic": True``)."""
    primary = frame.first_date + timedelta(days=2 * REVISIT_DAYS * visit)
    secondary = primary + timedelta(days=int(rng.choice([6, 12, 12, 24])))
    polygon = deformation_polygon(scene, image_size)
    deforming = scene.activity is not None
    return {
        "uniqueID": unique_id,
        "frameID": frame.frame_id,
        "primary_date": primary.strftime("%Y%m%d"),
        "secondary_date": secondary.strftime("%Y%m%d"),
        "corrupted": 0,
        "processing_error": 0,
        "glacier_fringes": 0,
        "orbital_fringes": int(scene.orbital),
        "atmospheric_fringes": scene.atmosphere,
        "low_coherence": int(scene.low_coherence),
        "no_info": 0,
        "image_artifacts": 0,
        "label": ["Deformation" if deforming else "Non_Deformation"],
        "activity_type": [scene.activity] if deforming else [],
        "intensity_level": [scene.intensity],
        "phase": scene.phase,
        "confidence": float(rng.choice([0.6, 0.7, 0.8, 0.9, 1.0])),
        "segmentation_mask": [polygon] if polygon else [],
        "is_crowd": 0,
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
        f"Generated by helpers.synthetic: {n} simulated wrapped interferograms of {image_size} px,"
        f" seed {seed}.\nImages are made from simple physics (point sources, dykes, sills, "
        "spheroids, earthquakes, atmosphere, orbital ramps, decorrelation) and captions are "
        "composed from the simulated attributes.\nResults on it only show that the code runs and "
        "learns; never report them as results on Hephaestus.\n"
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


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m helpers.synthetic",
        description="Write a synthetic InSAR-like stand-in for the Hephaestus zips.",
    )
    parser.add_argument("--n", type=int, required=True, help="number of images")
    parser.add_argument("--out", type=Path, required=True, help="folder for the two zips")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--size", type=int, default=224, help="image side in pixels")
    parser.add_argument("--overwrite", action="store_true", help="replace existing zips")
    args = parser.parse_args(argv)
    try:
        paths = write_synthetic_dataset(
            args.out, args.n, seed=args.seed, image_size=args.size, overwrite=args.overwrite
        )
    except (ValueError, FileExistsError) as error:
        parser.error(str(error))
    print(f"Wrote {args.n} samples (seed {args.seed}, {args.size} px):")
    for path in paths:
        print(f"  {path}")
    print("NOTE: this is SYNTHETIC data from helpers.synthetic, not the Hephaestus dataset.")


if __name__ == "__main__":
    main()
