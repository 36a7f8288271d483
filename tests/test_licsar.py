"""Screening LiCSAR GeoTIFFs: the reader, the rendering, the patches, the outputs, the stand-in
frame and its benchmark, on small rasters written here."""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import rasterio
from rasterio.transform import from_origin

from helpers.config import load_config
from helpers.data.synthetic.render import LEVEL_GROUND_GREY, NO_DATA, colorize
from helpers.device import choose_device
from helpers.geo.licsar import LicsarError, read_licsar
from helpers.geo.render import render_phase
from helpers.geo.screening import screen_frame
from helpers.geo.stand_in import frame_to_screen
from helpers.geo.synthetic_frame import main as synthetic_frame_main
from helpers.geo.tiles import tile_frame, window_starts
from helpers.model.loading import load_captioner

WEST, NORTH, STEP = 15.123, 37.987, 0.001
PAIR = "20230104_20230116"


def write_tif(path: Path, values: np.ndarray, *, georeferenced: bool = True, **extra) -> Path:
    """One band GeoTIFF of ``values`` on the test grid (or none without ``georeferenced``)."""
    height, width = values.shape
    grid = {"crs": "EPSG:4326", "transform": from_origin(WEST, NORTH, STEP, STEP)}
    options = {"driver": "GTiff", "width": width, "height": height, "count": 1}
    options |= (grid if georeferenced else {}) | extra
    with rasterio.open(path, "w", dtype=values.dtype.name, **options) as target:
        target.write(values, 1)
    return path


def wrapped(height: int = 30, width: int = 40, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.uniform(-np.pi, np.pi, (height, width)).astype(np.float32)


def phase_file(folder: Path, values: np.ndarray | None = None, **extra) -> Path:
    values = wrapped() if values is None else values
    return write_tif(folder / f"{PAIR}.geo.diff_pha.tif", values, **extra)


def test_patch_centres_round_trip_to_lon_lat_within_a_pixel(tmp_path):
    values = wrapped(150, 210)
    product = read_licsar(phase_file(tmp_path, values))
    patches = tile_frame(product, size=64, overlap=16)
    assert len(patches) == 3 * 5  # rows 0, 48, 86; columns 0, 48, 96, 144, 146
    for patch in patches:
        row, col = patch.center
        lon, lat = WEST + col * STEP, NORTH - row * STEP  # the truth, from the grid written
        assert abs(patch.lon - lon) < STEP and abs(patch.lat - lat) < STEP
    last = patches[-1]  # the whole frame is covered, the last window at its corner
    assert (last.row + last.height, last.col + last.width) == values.shape


def test_windows_cover_the_frame_with_the_stated_overlap():
    assert window_starts(500, 224, 112) == [0, 112, 224, 276]
    assert window_starts(448, 224, 112) == [0, 112, 224]
    assert window_starts(100, 224, 112) == [0]  # a frame smaller than a patch: one window
    with pytest.raises(ValueError, match="overlap"):
        window_starts(500, 224, 224)


def test_rendering_uses_the_training_images_colour_scale(tmp_path):
    values = wrapped(30, 40)
    image = render_phase(read_licsar(phase_file(tmp_path, values)))
    assert np.array_equal(image, colorize(values))  # same function, same RGB for every phase
    assert len({tuple(c) for c in image.reshape(-1, 3)}) > 50  # the whole wheel, not one colour


@pytest.mark.parametrize("coherence_dtype", ["uint8", "float32"])
def test_no_data_and_low_coherence_are_masked_as_the_generator_draws_them(
    tmp_path, coherence_dtype
):
    values = wrapped(30, 40)
    values[0, :] = np.nan  # NaN
    values[1, :] = 0.0  # LiCSAR's zeros
    values[2, :] = -9999.0  # the nodata value
    coherence = np.full(values.shape, 0.9, np.float32)
    coherence[10:15, 10:20] = 0.05
    if coherence_dtype == "uint8":
        coherence = np.round(coherence * 255).astype(np.uint8)
    write_tif(tmp_path / f"{PAIR}.geo.cc.tif", coherence)
    product = read_licsar(phase_file(tmp_path, values, nodata=-9999.0))
    assert product.coherence_path.name == f"{PAIR}.geo.cc.tif"
    assert np.nanmax(product.coherence) == pytest.approx(0.9, abs=0.01)
    image = render_phase(product, threshold=0.2)
    assert (image[:3] == NO_DATA).all()
    assert (image[10:15, 10:20] == LEVEL_GROUND_GREY).all()
    assert np.array_equal(image[20:], colorize(values[20:]))


def bad_input(tmp_path: Path, case: str) -> tuple[Path, str]:
    """A file that is not what the reader expects, and the message it must give."""
    if case == "unwrapped name":
        return write_tif(tmp_path / f"{PAIR}.geo.unw.tif", wrapped()), "unwrapped"
    if case == "unwrapped values":
        return phase_file(tmp_path, wrapped() * 6), "beyond"
    if case == "no georeference":
        return phase_file(tmp_path, georeferenced=False), "no georeference"
    if case == "integer phase":
        return phase_file(tmp_path, np.ones((30, 40), np.int16)), "not a phase"
    if case == "truncated":
        path = phase_file(tmp_path, wrapped(300, 400))
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
        return path, "cannot be read"
    if case == "not a tif":
        path = tmp_path / f"{PAIR}.geo.diff_pha.tif"
        path.write_text("<html>not found</html>")
        return path, "cannot be read"
    if case == "empty":
        return phase_file(tmp_path, np.zeros((30, 40), np.float32)), "no data"
    raise AssertionError(case)


@pytest.mark.parametrize(
    "case",
    [
        "unwrapped name",
        "unwrapped values",
        "no georeference",
        "integer phase",
        "truncated",
        "not a tif",
        "empty",
    ],
)
def test_each_bad_phase_file_gives_its_message_naming_the_file(tmp_path, case):
    path, message = bad_input(tmp_path, case)
    with pytest.raises(LicsarError, match=message) as caught:
        read_licsar(path)
    assert path.name in str(caught.value)


@pytest.mark.parametrize("case", ["shape", "origin", "range"])
def test_a_bad_coherence_file_gives_its_message_naming_the_file(tmp_path, case):
    cc = tmp_path / f"{PAIR}.geo.cc.tif"
    if case == "shape":
        write_tif(cc, np.full((20, 40), 200, np.uint8))
    elif case == "origin":
        write_tif(
            cc,
            np.full((30, 40), 200, np.uint8),
            transform=from_origin(WEST + 0.1, NORTH, STEP, STEP),
        )
    else:
        write_tif(cc, np.full((30, 40), 5.0, np.float32))
    with pytest.raises(LicsarError, match="different grid" if case != "range" else "0-1") as caught:
        read_licsar(phase_file(tmp_path))
    assert cc.name in str(caught.value)


def listing(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))}


@pytest.fixture(scope="module")
def tiny_captioner():
    return load_captioner(load_config("smoke", model="random:tiny"))


def test_screening_writes_only_to_the_output_folder(tmp_path, monkeypatch, tiny_captioner):
    monkeypatch.setenv("CAPTION_WORKSPACE", str(tmp_path / "workspace"))
    cfg = load_config("smoke")
    user = tmp_path / "my_frames"
    user.mkdir()
    write_tif(user / f"{PAIR}.geo.cc.tif", np.full((150, 210), 230, np.uint8))
    product = read_licsar(phase_file(user, wrapped(150, 210)))
    before = listing(user)
    device = choose_device("cpu", "fp32")
    model, processor = tiny_captioner.model, tiny_captioner.processor
    with pytest.raises(ValueError, match="never writes beside your files"):
        screen_frame(product, model, processor, cfg, device, out_dir=user, progress=False)
    result = screen_frame(
        product, model, processor, cfg, device, patch_size=64, overlap=16, progress=False
    )
    assert listing(user) == before  # nothing added, nothing changed
    assert result.csv.parent == cfg.output_dir / "licsar"
    table = pd.read_csv(result.csv)
    assert list(table["patch"]) == list(range(1, 16))  # 3 x 5 windows, every one with data
    assert table["lon"].between(WEST, WEST + 210 * STEP).all()
    assert table["lat"].between(NORTH - 150 * STEP, NORTH).all()
    assert {"caption", "deformation", "p_deformation", "provenance"} <= set(table.columns)
    assert table["p_deformation"].between(0, 1).all()  # the smoke model has attribute heads
    assert table["provenance"].str.endswith("not a Hephaestus result").all()
    collection = json.loads(result.geojson.read_text())
    assert len(collection["features"]) == len(result.flagged)
    assert result.figure.stat().st_size > 0


def test_the_synthetic_frame_command_writes_a_licsar_shaped_frame(tmp_path):
    files = synthetic_frame_main(
        [str(tmp_path), "--seed", "3", "--width", "480", "--height", "360", "--sources", "1"]
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        p.name for p in (files.phase, files.coherence, files.sources)
    )
    assert files.phase.name.endswith(".geo.diff_pha.tif")
    product = read_licsar(files.phase)  # finds the .geo.cc.tif beside it
    assert product.synthetic and product.crs.to_epsg() == 4326
    assert product.transform.a == pytest.approx(0.001) and product.coherence is not None
    assert 0.02 < 1 - product.valid.mean() < 0.5  # no-data corners, as a tilted swath leaves
    (source,) = json.loads(files.sources.read_text())["sources"]
    lon, lat = product.lonlat(np.array([source["row"]]), np.array([source["col"]]))
    assert (float(lon[0]), float(lat[0])) == pytest.approx(
        (source["lon"], source["lat"]), abs=STEP / 10
    )
    assert product.valid[int(source["row"]), int(source["col"])]


def test_full_never_makes_up_a_frame(monkeypatch, tmp_path):
    monkeypatch.setenv("CAPTION_WORKSPACE", str(tmp_path))
    with pytest.raises(FileNotFoundError, match=r"\.geo\.diff_pha\.tif.*\.geo\.cc\.tif.*demo"):
        frame_to_screen(load_config("full"), None)
    assert not any(tmp_path.iterdir())


def test_the_benchmark_reports_both_rates_labelled(tmp_path, monkeypatch):
    monkeypatch.setenv("CAPTION_WORKSPACE", str(tmp_path / "workspace"))
    bench = str(Path(__file__).resolve().parent.parent / "bench")
    monkeypatch.syspath_prepend(bench)
    sys.modules.pop("licsar_screening", None)
    report = importlib.import_module("licsar_screening").main(
        ["--profile", "smoke", "--quick", "--out", str(tmp_path / "out")]
    )
    assert report["label"] == "synthetic frames, stand-in model: not a Hephaestus result"
    overall = report["overall"]
    assert overall["holds"]["patches"] >= 2 and overall["clear"]["patches"] >= 1
    for group in overall.values():
        assert 0 <= group["deformation_stated"] <= group["patches"]
    assert 1 <= report["distinct_captions"] <= report["patches"]
    assert 0 <= report["heads_auc"] <= 1  # the smoke model has heads
    written = json.loads((tmp_path / "out" / "licsar_screening.json").read_text())
    assert written["overall"] == overall and str(tmp_path) not in json.dumps(written)
    assert "not a Hephaestus result" in (tmp_path / "out" / "licsar_screening.md").read_text()
