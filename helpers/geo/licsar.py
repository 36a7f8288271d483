"""Read a LiCSAR geocoded interferogram: wrapped phase, coherence, georeference, no-data areas.

LiCSAR (COMET's Sentinel-1 processor) publishes, per frame and per pair of dates, GeoTIFFs named
``<primary>_<secondary>.geo.<product>.tif``: ``diff_pha`` is the wrapped phase in radians
(float, within +-pi), ``cc`` the coherence (uint8 0-255 in recent products, float 0-1 in older
ones), ``unw`` the unwrapped phase (not what Hephaestus shows). They are geocoded on a regular
longitude/latitude grid (EPSG:4326, about 0.001 degree per pixel). Outside the frame's swath
the phase is no data: the file's nodata value, NaN, or zeros (which LiCSAR writes there);
``read_licsar`` turns all three into NaN.

Every problem is a ``LicsarError`` naming the file: an unwrapped product where wrapped phase is
expected (by its name, or by values beyond +-pi), a file without georeference, one that is
truncated or not a GeoTIFF, a coherence raster on another grid than the phase.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import rasterio
from rasterio.crs import CRS
from rasterio.errors import NotGeoreferencedWarning, RasterioError
from rasterio.transform import Affine
from rasterio.warp import transform as warp_transform

PHASE_SUFFIX = ".geo.diff_pha.tif"
COHERENCE_SUFFIX = ".geo.cc.tif"
UNWRAPPED_SUFFIX = ".geo.unw.tif"
PAIR = re.compile(r"(\d{8})_(\d{8})")
WRAP_TOLERANCE = 1e-3  # radians beyond pi still read as wrapped (float32 rounding)
SYNTHETIC_TAG = "SYNTHETIC"  # GeoTIFF tag that helpers.geo.synthetic_frame writes
LONLAT = CRS.from_epsg(4326)


def grid_to_crs(
    transform: Affine, cols: np.ndarray | float, rows: np.ndarray | float
) -> tuple[np.ndarray, np.ndarray]:
    """The CRS coordinates (x, y) of pixel positions (``cols``, ``rows`` from the upper-left
    corner) under an affine ``transform``."""
    a, b, c, d, e, f = tuple(transform)[:6]
    cols, rows = np.asarray(cols, float), np.asarray(rows, float)
    return a * cols + b * rows + c, d * cols + e * rows + f


class LicsarError(ValueError):
    """A file that is not the LiCSAR product expected; the message names it."""


@dataclass(frozen=True)
class Raster:
    """One band as read: values (float32, NaN where no data) and where they lie."""

    values: np.ndarray
    transform: Affine
    crs: CRS
    tags: dict[str, str]


@dataclass(frozen=True)
class LicsarProduct:
    """A wrapped interferogram on its grid; ``coherence`` is None without a ``.geo.cc.tif``."""

    path: Path
    phase: np.ndarray  # float32 radians within +-pi, NaN where no data
    coherence: np.ndarray | None  # float32 0-1, NaN where no data
    coherence_path: Path | None
    transform: Affine
    crs: CRS
    synthetic: bool  # written by helpers.geo.synthetic_frame, not by LiCSAR

    @property
    def pair(self) -> str:
        """``<primary>_<secondary>`` from the file name (or the file's stem)."""
        found = PAIR.search(self.path.name)
        return found.group(0) if found else self.path.name.split(".")[0]

    @property
    def shape(self) -> tuple[int, int]:
        return self.phase.shape

    @property
    def valid(self) -> np.ndarray:
        """True where the phase holds data."""
        return ~np.isnan(self.phase)

    def lonlat(self, rows: np.ndarray, cols: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Longitude and latitude (degrees, WGS 84) of pixel positions: ``rows`` and ``cols`` in
        pixels from the upper-left corner of the frame (a pixel's centre is at +0.5)."""
        xs, ys = grid_to_crs(self.transform, cols, rows)
        if self.crs.is_geographic:
            return xs, ys
        lons, lats = warp_transform(self.crs, LONLAT, np.ravel(xs), np.ravel(ys))
        return np.reshape(lons, np.shape(xs)), np.reshape(lats, np.shape(ys))

    def describe(self) -> str:
        """A few lines on what was read."""
        height, width = self.shape
        (west, east), (north, south) = grid_to_crs(self.transform, [0, width], [0, height])
        coherence = self.coherence_path.name if self.coherence_path else "none"
        return (
            f"{self.path.name}{' (SYNTHETIC stand-in frame)' if self.synthetic else ''}: "
            f"{width} x {height} px, {self.crs.to_string()}, pixel "
            f"{abs(self.transform.a):.5f} x {abs(self.transform.e):.5f}\n"
            f"  extent: x {west:.4f} to {east:.4f}, y {south:.4f} to {north:.4f}\n"
            f"  no data: {100 * (1 - self.valid.mean()):.1f}% of pixels; coherence: {coherence}"
        )


def find_phase_file(path: str | Path) -> Path:
    """``path`` itself, or the one ``*.geo.diff_pha.tif`` inside a folder (a LiCSAR pair
    folder as downloaded)."""
    path = Path(path)
    if path.is_dir():
        found = sorted(path.glob(f"*{PHASE_SUFFIX}"))
        if len(found) != 1:
            raise LicsarError(
                f"{path}: expected one *{PHASE_SUFFIX} in this folder, found {len(found)}; "
                "name the file instead."
            )
        return found[0]
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    return path


def coherence_beside(phase_path: Path) -> Path | None:
    """The ``<pair>.geo.cc.tif`` beside a ``<pair>.geo.diff_pha.tif``, if there is one."""
    name = phase_path.name
    if not name.endswith(PHASE_SUFFIX):
        return None
    candidate = phase_path.with_name(name[: -len(PHASE_SUFFIX)] + COHERENCE_SUFFIX)
    return candidate if candidate.is_file() else None


def read_band(path: Path) -> tuple[np.ndarray, Raster]:
    """The first band as stored (raw values) and as floats with NaN where no data; refuses
    files that cannot be read whole or that carry no georeference."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            with rasterio.open(path) as source:
                raw = source.read(1)
                nodata, crs, transform = source.nodata, source.crs, source.transform
                tags = source.tags()
    except RasterioError as error:
        raise LicsarError(
            f"{path}: cannot be read as a GeoTIFF (truncated, corrupt or another format): {error}"
        ) from error
    if crs is None or transform == Affine.identity():
        raise LicsarError(
            f"{path}: no georeference ({'no CRS' if crs is None else 'no geotransform'}). "
            "LiCSAR's .geo.* products are geocoded (EPSG:4326); was the file converted without it?"
        )
    values = raw.astype(np.float32)
    missing = ~np.isfinite(values)
    if nodata is not None and not np.isnan(nodata):
        missing |= raw == nodata
    values[missing] = np.nan
    return raw, Raster(values, transform, crs, tags)


def wrapped_phase(path: Path) -> Raster:
    """The wrapped phase of ``path`` (radians, NaN where no data: nodata, NaN or zeros)."""
    if path.name.endswith(UNWRAPPED_SUFFIX):
        raise LicsarError(
            f"{path}: an unwrapped product ({UNWRAPPED_SUFFIX}); screening reads the wrapped "
            f"phase, the {PHASE_SUFFIX} of the same pair."
        )
    raw, raster = read_band(path)
    if not np.issubdtype(raw.dtype, np.floating):
        raise LicsarError(f"{path}: holds {raw.dtype} values, not a phase in radians (float).")
    values = raster.values
    values[values == 0] = np.nan  # LiCSAR writes zeros outside the swath
    if np.isnan(values).all():
        raise LicsarError(f"{path}: holds no data (every pixel is nodata, NaN or zero).")
    largest = float(np.nanmax(np.abs(values)))
    if largest > np.pi + WRAP_TOLERANCE:
        raise LicsarError(
            f"{path}: values reach {largest:.2f} rad, beyond +-pi: this is not a wrapped phase "
            f"(an unwrapped {UNWRAPPED_SUFFIX}?); use the pair's {PHASE_SUFFIX}."
        )
    return raster


def coherence_on(path: Path, grid: Raster) -> np.ndarray:
    """The coherence of ``path`` as 0-1 floats (uint8 0-255 scaled), on the phase's ``grid``."""
    raw, raster = read_band(path)
    if (
        raster.values.shape != grid.values.shape
        or raster.crs != grid.crs
        or not np.allclose(tuple(raster.transform)[:6], tuple(grid.transform)[:6], atol=1e-9)
    ):
        height, width = raster.values.shape
        expected_height, expected_width = grid.values.shape
        raise LicsarError(
            f"{path}: coherence on a different grid ({width} x {height} px from "
            f"{raster.transform.c:.4f}, {raster.transform.f:.4f}, {raster.crs}) than the phase "
            f"({expected_width} x {expected_height} px from {grid.transform.c:.4f}, "
            f"{grid.transform.f:.4f}, {grid.crs})."
        )
    values = raster.values
    if raw.dtype == np.uint8:
        return values / 255.0
    largest = float(np.nanmax(values)) if not np.isnan(values).all() else 0.0
    if np.issubdtype(raw.dtype, np.floating) and largest <= 1 + 1e-6:
        return values
    raise LicsarError(
        f"{path}: coherence must be uint8 0-255 or float 0-1; found {raw.dtype} up to {largest:g}."
    )


def read_licsar(path: str | Path, coherence: str | Path | None = "auto") -> LicsarProduct:
    """Read a LiCSAR ``<pair>.geo.diff_pha.tif`` (or the pair's folder) and its coherence:
    ``"auto"`` the ``<pair>.geo.cc.tif`` beside it when there is one, a path, or None."""
    phase_path = find_phase_file(path)
    phase = wrapped_phase(phase_path)
    coherence_path = coherence_beside(phase_path) if coherence == "auto" else coherence
    coherence_path = Path(coherence_path) if coherence_path is not None else None
    if coherence_path is not None and not coherence_path.is_file():
        raise FileNotFoundError(f"{coherence_path}: no such coherence file")
    return LicsarProduct(
        path=phase_path,
        phase=phase.values,
        coherence=coherence_on(coherence_path, phase) if coherence_path else None,
        coherence_path=coherence_path,
        transform=phase.transform,
        crs=phase.crs,
        synthetic=SYNTHETIC_TAG in phase.tags,
    )


__all__ = [
    "COHERENCE_SUFFIX",
    "PHASE_SUFFIX",
    "SYNTHETIC_TAG",
    "UNWRAPPED_SUFFIX",
    "LicsarError",
    "LicsarProduct",
    "coherence_beside",
    "find_phase_file",
    "grid_to_crs",
    "read_licsar",
]
