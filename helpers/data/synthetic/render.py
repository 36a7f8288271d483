"""The physics and colours of a synthetic interferogram: deformation phase (sources in
``helpers.data.synthetic.sources``), atmosphere, orbital ramps, bursts, speckle, the hue wheel,
lost coherence and swath edges.
"""

from __future__ import annotations

import numpy as np

from helpers.data.synthetic.scenes import Scene
from helpers.data.synthetic.sources import Pattern, deformation_displacement, footprint

NO_DATA = (0, 0, 0)  # colour outside the swath
SPECKLE_STD = 0.45  # radians of phase noise on every pixel
SPECKLE_RANDOM_SHARE = 0.02  # pixels whose phase is pure noise
SWATH_PAD = 0.03  # the swath's edge keeps this far from a deformation footprint


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


def shade(slope: np.ndarray, aspect: np.ndarray) -> np.ndarray:
    """Grey (uint8, 40-230) of ground of ``slope`` and ``aspect`` (radians) lit from the
    north-west, as a hillshade draws it."""
    azimuth, altitude = np.deg2rad(135.0), np.deg2rad(45.0)  # light from the upper left
    light = np.sin(altitude) * np.cos(slope) + np.cos(altitude) * np.sin(slope) * np.cos(
        azimuth - aspect
    )
    return np.round(40 + 190 * np.clip(light, 0, 1)).astype(np.uint8)


LEVEL_GROUND_GREY = int(shade(np.zeros(1), np.zeros(1))[0])  # lost coherence without relief


def hillshade(scene: Scene, image_size: int, rng: np.random.Generator) -> np.ndarray:
    """Grey shaded relief (HxW uint8) of a volcano on rough terrain, lit from the north-west."""
    height = _bump(image_size, scene.volcano, 0.3) + 0.15 * fractal_noise(image_size, rng, 3.0, 24)
    dz_dy, dz_dx = np.gradient(height * image_size / 8)
    return shade(np.arctan(np.hypot(dz_dx, dz_dy)), np.arctan2(-dz_dy, dz_dx))


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


def _across_span(pattern: Pattern, heading: float) -> tuple[float, float]:
    """The extent of a source's footprint across a swath of ``heading`` (from the image centre)."""
    shape = footprint(pattern.activity, pattern.aspect, pattern.fringes, pattern.strike)
    cos, sin = np.cos(heading), np.sin(heading)
    middle = (pattern.center[0] - 0.5) * cos + (pattern.center[1] - 0.5) * sin
    half = pattern.source_size * (shape.reach[0] * abs(cos) + shape.reach[1] * abs(sin))
    return middle - half - SWATH_PAD, middle + half + SWATH_PAD


def swath_edges(
    image: np.ndarray, scene: Scene, heading: float, rng: np.random.Generator
) -> np.ndarray:
    """No data (black) outside a swath rotated by ``heading``, in half the images; the swath is
    moved (or widened) so that it holds every deformation source's footprint, wherever it is."""
    if rng.random() < 0.5:
        return image
    x, y = _grid(image.shape[0])
    across = (x - 0.5) * np.cos(heading) + (y - 0.5) * np.sin(heading)
    offset = rng.uniform(-0.2, 0.2)
    half_width = rng.uniform(0.38, 0.55)
    if scene.patterns:
        spans = [_across_span(pattern, heading) for pattern in scene.patterns]
        low, high = min(s[0] for s in spans), max(s[1] for s in spans)
        half_width = max(half_width, (high - low) / 2)
        offset = float(np.clip(offset, high - half_width, low + half_width))
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
