"""A synthetic LiCSAR-shaped frame: wrapped phase and coherence GeoTIFFs named as LiCSAR names
them, made by the synthetic stand-in's physics (``helpers.data.synthetic``). Offline stand-in
only: NOT LiCSAR data.

    uv run python -m helpers.geo.synthetic_frame out_dir --seed 0
    uv run python -m helpers.geo.synthetic_frame out_dir --width 480 --height 360 --sources 1

writes ``<primary>_<secondary>.geo.diff_pha.tif`` (float32 radians, zeros outside the swath, as
LiCSAR writes them), ``<primary>_<secondary>.geo.cc.tif`` (uint8 0-255) and
``<primary>_<secondary>.synthetic_sources.json``: where the deformation sources lie, for tests and
benchmarks only (a real frame has no such file). The frame lies on a 0.001 degree grid (EPSG:4326)
around Mount Etna, its corners cut by a swath tilted as a Sentinel-1 track. Sources are drawn
as the training images' are (``helpers.data.synthetic.scenes.draw_pattern``: activity, intensity,
size, fringes), at the training images' scale: one training image spans ``SCALE`` frame pixels,
so a source in a 224 px patch looks like one in a training image. Turbulent atmosphere, a weak
orbital ramp, speckle and blotches of lost coherence (pure phase noise) come on top, the blotches
kept away from the sources. Each GeoTIFF carries the tag ``SYNTHETIC``.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import rasterio
from rasterio.transform import from_origin

from helpers.data.synthetic.render import fractal_noise, speckle
from helpers.data.synthetic.scenes import draw_pattern, make_frames
from helpers.data.synthetic.sources import Pattern, deformation_displacement
from helpers.files import replaced_together
from helpers.geo.licsar import COHERENCE_SUFFIX, PHASE_SUFFIX, SYNTHETIC_TAG, grid_to_crs

SCALE = 224  # frame pixels per training image: the unit of the generator's positions and sizes
PIXEL_DEG = 0.001  # LiCSAR's geocoded grid, about 100 m
ORIGIN = (14.55, 38.05)  # upper-left corner (lon, lat): Mount Etna lies inside the default frame
SIZE = (1000, 800)  # width, height in pixels
SMOKE = {"width": 480, "height": 360, "sources": 1}  # a small frame for the smoke profile
SOURCES = 3
EDGE_MARGIN = 120  # px a source's centre keeps from the frame's edges and from no data
SEPARATION = 300  # px between two sources' centres
LOW_COHERENCE_SHARE = 0.12
SOURCES_SUFFIX = ".synthetic_sources.json"
NOTE = "SYNTHETIC LiCSAR-shaped frame from helpers.geo.synthetic_frame: NOT LiCSAR data"


@dataclass(frozen=True)
class SyntheticFrame:
    """The files of one synthetic frame."""

    phase: Path
    coherence: Path
    sources: Path


def _grid(width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel-centre columns and rows."""
    return np.meshgrid(np.arange(width) + 0.5, np.arange(height) + 0.5)


def _swath(width: int, height: int, heading: float) -> np.ndarray:
    """Signed distance (px) inside a swath tilted by ``heading``: corners outside are no data."""
    cols, rows = _grid(width, height)
    across = (cols - width / 2) * np.cos(heading) + (rows - height / 2) * np.sin(heading)
    return 0.45 * width - np.abs(across)


def _noise(
    width: int, height: int, rng: np.random.Generator, beta: float, cutoff: float
) -> np.ndarray:
    """The generator's power-law field, square, cut to the frame (cutoff per training image)."""
    side = max(width, height)
    return fractal_noise(side, rng, beta, cutoff * side / SCALE)[:height, :width]


def place_sources(
    count: int, inside: np.ndarray, rng: np.random.Generator, tries: int = 500
) -> list[tuple[float, float]]:
    """``count`` (row, col) centres at least ``EDGE_MARGIN`` inside and ``SEPARATION`` apart."""
    height, width = inside.shape
    centres: list[tuple[float, float]] = []
    for _ in range(tries):
        if len(centres) == count:
            return centres
        row, col = (
            rng.uniform(EDGE_MARGIN, height - EDGE_MARGIN),
            rng.uniform(EDGE_MARGIN, width - EDGE_MARGIN),
        )
        if inside[int(row), int(col)] >= EDGE_MARGIN and all(
            np.hypot(row - r, col - c) >= SEPARATION for r, c in centres
        ):
            centres.append((row, col))
    raise ValueError(
        f"a {width} x {height} px frame has no room for {count} sources {SEPARATION} px apart "
        f"and {EDGE_MARGIN} px inside; make it larger or ask for fewer (--sources)"
    )


def draw_sources(count: int, inside: np.ndarray, rng: np.random.Generator) -> list[Pattern]:
    """Sources drawn as the training images' (one synthetic frame each, its usual activity),
    moved to frame positions in ``SCALE`` units."""
    frames = make_frames(max(count, 2), rng)
    patterns = []
    for frame, (row, col) in zip(frames, place_sources(count, inside, rng), strict=False):
        pattern = draw_pattern(frame, [], int(rng.choice([1, 1, 1, -1])), rng)  # 1 in 4 subsides
        patterns.append(replace(pattern, center=(col / SCALE, row / SCALE)))
    return patterns


def frame_fields(
    width: int,
    height: int,
    patterns: Sequence[Pattern],
    inside: np.ndarray,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """Wrapped phase (float32, 0 outside the swath) and coherence (uint8, 0 outside)."""
    cols, rows = _grid(width, height)
    x, y = cols / SCALE, rows / SCALE
    phase = np.zeros((height, width))
    near_source = np.zeros((height, width))
    for pattern in patterns:
        phase += 2 * np.pi * pattern.fringes * deformation_displacement(pattern, x, y)
        distance = np.hypot(x - pattern.center[0], y - pattern.center[1])
        near_source = np.maximum(near_source, np.exp(-((distance / 0.6) ** 2)))
    level = int(rng.integers(1, 4))  # atmospheric fringes 1-3, as Hephaestus grades them
    phase += 0.75 * level * _noise(width, height, rng, 11 / 3, 12.0)
    angle = rng.uniform(0, 2 * np.pi)
    phase += np.pi * (np.cos(angle) * cols + np.sin(angle) * rows) / max(width, height)
    phase = speckle(phase, rng)
    blobs = _noise(width, height, rng, 4.0, 8.0) - 4 * near_source
    lost = blobs > np.quantile(blobs, 1 - LOW_COHERENCE_SHARE)
    phase[lost] = rng.uniform(-np.pi, np.pi, size=int(lost.sum()))
    coherence = np.clip(0.75 + 0.08 * rng.standard_normal((height, width)), 0.3, 1.0)
    coherence[lost] = rng.uniform(0.02, 0.15, size=int(lost.sum()))
    wrapped = np.angle(np.exp(1j * phase)).astype(np.float32)
    outside = inside < 0
    wrapped[outside] = 0.0
    cc = np.round(255 * coherence).astype(np.uint8)
    cc[outside] = 0
    return wrapped, cc


def footprint_box(pattern: Pattern, width: int, height: int) -> list[int] | None:
    """[row0, col0, row1, col1] around the pixels a source displaces by half a fringe or more."""
    cols, rows = _grid(width, height)
    moved = np.abs(pattern.fringes * deformation_displacement(pattern, cols / SCALE, rows / SCALE))
    found_rows, found_cols = np.nonzero(moved >= 0.5)
    if found_rows.size == 0:
        return None
    return [
        int(found_rows.min()),
        int(found_cols.min()),
        int(found_rows.max()) + 1,
        int(found_cols.max()) + 1,
    ]


def write_synthetic_frame(
    out_dir: str | Path,
    seed: int = 0,
    width: int = SIZE[0],
    height: int = SIZE[1],
    sources: int = SOURCES,
) -> SyntheticFrame:
    """Write a synthetic frame's three files into ``out_dir`` (replacing an earlier one of the
    same dates) and return their paths; deterministic by ``seed``."""
    if min(width, height) < 2 * EDGE_MARGIN + 1 or sources < 0:
        raise ValueError(f"frame {width} x {height} px with {sources} sources: too small")
    rng = np.random.default_rng(seed)
    primary = date(2021, 1, 4) + timedelta(days=12 * int(rng.integers(0, 150)))
    pair = f"{primary:%Y%m%d}_{primary + timedelta(days=12):%Y%m%d}"
    inside = _swath(width, height, float(rng.uniform(-0.25, -0.15)))
    patterns = draw_sources(sources, inside, rng)
    phase, coherence = frame_fields(width, height, patterns, inside, rng)
    transform = from_origin(*ORIGIN, PIXEL_DEG, PIXEL_DEG)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    files = SyntheticFrame(
        *(
            out_dir / f"{pair}{suffix}"
            for suffix in (PHASE_SUFFIX, COHERENCE_SUFFIX, SOURCES_SUFFIX)
        )
    )
    placed = []
    for pattern in patterns:
        col, row = pattern.center[0] * SCALE, pattern.center[1] * SCALE
        lon, lat = (float(v) for v in grid_to_crs(transform, col, row))
        placed.append(
            {
                "activity": pattern.activity,
                "intensity": pattern.intensity,
                "fringes": round(pattern.fringes, 2),
                "row": round(row, 1),
                "col": round(col, 1),
                "lon": round(lon, 6),
                "lat": round(lat, 6),
                "footprint": footprint_box(pattern, width, height),
            }
        )
    sidecar = {
        "note": NOTE,
        "seed": seed,
        "width": width,
        "height": height,
        "transform": list(transform)[:6],
        "crs": "EPSG:4326",
        "sources": placed,
    }
    grid = {
        "driver": "GTiff",
        "width": width,
        "height": height,
        "count": 1,
        "crs": "EPSG:4326",
        "transform": transform,
        "nodata": 0,
        "compress": "deflate",
    }
    with replaced_together([files.phase, files.coherence, files.sources]) as temps:
        for temp, values in zip(temps, (phase, coherence), strict=False):
            with rasterio.open(temp, "w", dtype=values.dtype.name, **grid) as target:
                target.write(values, 1)
                target.update_tags(**{SYNTHETIC_TAG: NOTE})
        temps[2].write_text(json.dumps(sidecar, indent=1) + "\n", encoding="utf-8")
    return files


def main(argv: Sequence[str] | None = None) -> SyntheticFrame:
    parser = argparse.ArgumentParser(
        prog="python -m helpers.geo.synthetic_frame", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("out_dir", type=Path, help="folder for the three files")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--width", type=int, default=SIZE[0], help="pixels")
    parser.add_argument("--height", type=int, default=SIZE[1], help="pixels")
    parser.add_argument("--sources", type=int, default=SOURCES, help="deformation sources")
    args = parser.parse_args(argv)
    try:
        files = write_synthetic_frame(
            args.out_dir, args.seed, args.width, args.height, args.sources
        )
    except ValueError as error:
        parser.error(str(error))
    for path in (files.phase, files.coherence, files.sources):
        print(f"wrote {path}")
    print(f"NOTE: {NOTE}.")
    return files


if __name__ == "__main__":
    main()
