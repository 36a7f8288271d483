"""The pointing score and its baselines on polygons and maps whose answer is known."""

from __future__ import annotations

import math

import numpy as np
import pytest

from helpers.eval.pointing import (
    centre_map,
    mean_interval,
    patch_coverage,
    point,
    point_centre,
    point_uniform,
    polygon_coverage,
    to_frame,
)


def square(x0: float, y0: float, x1: float, y1: float) -> list[float]:
    return [x0, y0, x1, y0, x1, y1, x0, y1]


def test_raw_polygon_moves_to_the_square_frame_without_keeping_aspect_ratio():
    # a 200 x 100 image squeezed to 32 x 32: x scales by 0.16, y by 0.32
    vertices = to_frame([50, 25, 200, 25, 200, 100], (200, 100), 32)
    np.testing.assert_allclose(vertices, [[8, 8], [32, 8], [32, 32]])


def test_right_half_in_raw_pixels_covers_the_right_half_of_the_frame():
    coverage = polygon_coverage([to_frame(square(100, 0, 200, 100), (200, 100), 32)], 32)
    assert coverage.shape == (32, 32)
    np.testing.assert_array_equal(coverage[:, 16:], 1.0)
    np.testing.assert_array_equal(coverage[:, :16], 0.0)


def test_coverage_counts_partial_pixels_and_merges_polygons():
    half_pixel = polygon_coverage([np.array(square(0, 0, 0.5, 1), float).reshape(-1, 2)], 4)
    assert half_pixel[0, 0] == pytest.approx(0.5) and half_pixel.sum() == pytest.approx(0.5)
    twice = [np.array(square(0, 0, 2, 2), float).reshape(-1, 2)] * 2
    assert polygon_coverage(twice, 4).sum() == pytest.approx(4.0)  # overlaps count once


def test_degenerate_polygon_is_refused():
    with pytest.raises(ValueError, match="3"):
        to_frame([1, 2, 3, 4], (10, 10), 8)


def frame_coverage(*boxes: tuple[float, float, float, float], side: int = 32) -> np.ndarray:
    return polygon_coverage([np.array(square(*b), float).reshape(-1, 2) for b in boxes], side)


def test_peak_inside_and_outside():
    coverage = frame_coverage((16, 16, 32, 32))  # bottom-right quarter; 4 x 4 patches of 8 px
    inside = np.zeros((4, 4))
    inside[3, 3] = 1.0
    assert point(inside, coverage) == point(inside * 7, coverage)  # scale-free
    assert (point(inside, coverage).hit, point(inside, coverage).inside_mass) == (1.0, 1.0)
    outside = np.zeros((4, 4))
    outside[0, 0] = 1.0
    assert (point(outside, coverage).hit, point(outside, coverage).inside_mass) == (0.0, 0.0)
    split = np.zeros((4, 4))
    split[0, 0], split[3, 3] = 0.6, 0.4  # peak outside, 40% of the mass inside
    assert point(split, coverage).hit == 0.0
    assert point(split, coverage).inside_mass == pytest.approx(0.4)


def test_margin_is_half_a_patch_around_the_peak():
    peak = np.zeros((4, 4))
    peak[1, 1] = 1.0  # the patch 8..16 x 8..16, centre (12, 12)
    touching = frame_coverage((15, 15, 20, 20))  # reaches 1 px into the peak patch
    assert point(peak, touching).hit == 1.0
    assert point(peak, touching).inside_mass == pytest.approx(1 / 64)  # 1 of its 64 px
    beside = frame_coverage((16, 16, 24, 24))  # the next patch diagonally
    assert point(peak, beside).hit == 0.0


def test_maps_must_be_square_and_non_negative():
    with pytest.raises(ValueError):
        point(np.ones((2, 4)), frame_coverage((0, 0, 8, 8)))
    with pytest.raises(ValueError):
        point(-np.ones((4, 4)), frame_coverage((0, 0, 8, 8)))


def test_centre_baseline():
    centred = frame_coverage((12, 12, 20, 20))
    corner = frame_coverage((0, 0, 8, 8))
    assert point_centre(centred, 4).hit == 1.0 and point_centre(corner, 4).hit == 0.0
    # a Gaussian of sigma 8 px cut to the 32 px frame: its mass within 4 px of the centre, per axis
    per_axis = math.erf(4 / (8 * math.sqrt(2))) / math.erf(16 / (8 * math.sqrt(2)))
    assert point_centre(centred, 4).inside_mass == pytest.approx(per_axis**2, abs=0.005)
    # same area, so the same uniform mass, but far less centre mass in the corner
    assert point_centre(corner, 4).inside_mass < point_centre(centred, 4).inside_mass / 7
    assert centre_map(32).sum() == pytest.approx(1.0)
    assert np.unravel_index(np.argmax(centre_map(31)), (31, 31)) == (15, 15)


def test_uniform_baseline_is_the_area_share_and_the_chance_of_a_random_peak():
    coverage = frame_coverage((16, 16, 32, 32))
    uniform = point_uniform(coverage, 4)
    assert uniform.inside_mass == pytest.approx(0.25)
    assert uniform.hit == pytest.approx(4 / 16)
    straddling = frame_coverage((12, 12, 20, 20))  # one patch of area over 4 patches
    assert point_uniform(straddling, 4).hit == pytest.approx(4 / 16)
    assert point_uniform(straddling, 4).inside_mass == pytest.approx(64 / 1024)
    # the uniform map scored by point() gives the same mass
    assert point(np.ones((4, 4)), coverage).inside_mass == pytest.approx(0.25)


def test_patch_coverage_needs_whole_patches():
    np.testing.assert_allclose(patch_coverage(frame_coverage((0, 0, 8, 8)), 4)[0, 0], 1.0)
    with pytest.raises(ValueError):
        patch_coverage(np.zeros((30, 30)), 4)


def test_mean_interval():
    values = [1, 0, 1, 1, 0, 1, 0, 1]
    result = mean_interval(values, 500, seed=3)
    assert result["value"] == pytest.approx(0.625)
    assert 0 <= result["low"] < 0.625 < result["high"] <= 1
    assert mean_interval(values, 500, seed=3) == result  # seeded
    assert mean_interval([0.4] * 5, 200, seed=0) == {"value": 0.4, "low": 0.4, "high": 0.4}
    assert mean_interval([], 200, seed=0) == {"value": None, "low": None, "high": None}
