"""Synthetic patterns lie where their captions say, spread over the whole frame."""

from __future__ import annotations

import math
import re
from collections import Counter

import numpy as np
import pytest
from matplotlib.path import Path as PolygonPath

from helpers.data.synthetic import generate_samples
from helpers.data.synthetic.positions import (
    CENTRAL,
    DIRECTIONS,
    PARTS,
    draw_position,
    part_of,
    settle,
    where,
)
from helpers.data.synthetic.scenes import draw_scene, make_frames
from helpers.data.synthetic.sources import deformation_displacement

SIZE = 64
_PHRASE = re.compile(r"(?:on the ([a-z-]+) side|in the (central) part) of the region", re.I)


@pytest.fixture(scope="module")
def annotations() -> list[dict]:
    return [s.annotation for s in generate_samples(400, seed=5, image_size=SIZE)]


def centroid(polygon: list[float]) -> tuple[float, float]:
    """Area centroid (shoelace) of a flat [x, y, ...] polygon, as image fractions."""
    x, y = np.array(polygon).reshape(-1, 2).T / SIZE
    x_next, y_next = np.roll(x, -1), np.roll(y, -1)
    cross = x * y_next - x_next * y
    area = cross.sum() / 2
    return float((x + x_next) @ cross / (6 * area)), float((y + y_next) @ cross / (6 * area))


def stated_parts(caption: str) -> list[int]:
    """The part of the frame each pattern sentence names, in the caption's order (pattern
    sentences are the ones stating an intensity; remarks name positions too)."""
    parts = []
    for sentence in re.split(r"(?<=\.)\s*", caption):
        if "intensity" in sentence and (found := _PHRASE.search(sentence)):
            direction, central = found.groups()
            parts.append(CENTRAL if central else DIRECTIONS.index(direction.lower()))
    return parts


def test_each_polygon_lies_in_the_part_its_caption_names(annotations: list[dict]) -> None:
    checked = 0
    for ann in annotations:
        named = stated_parts(ann["caption"])
        assert len(named) == len(ann["segmentation_mask"]), ann["caption"]
        for polygon, part in zip(ann["segmentation_mask"], named, strict=True):
            assert part_of(centroid(polygon)) == part, ann["caption"]
            vertices = np.array(polygon).reshape(-1, 2) / SIZE
            assert part_of(tuple(vertices.mean(axis=0))) == part, ann["caption"]
            checked += 1
    assert checked > 250


def test_positions_spread_over_every_part_and_out_to_the_edges(annotations: list[dict]) -> None:
    centroids = [centroid(p) for a in annotations for p in a["segmentation_mask"]]
    parts = Counter(part_of(c) for c in centroids)
    assert set(parts) == set(range(PARTS))
    assert min(parts.values()) > 0.05 * len(centroids), parts  # even: 1/9 each
    distance = [math.hypot(x - 0.5, y - 0.5) for x, y in centroids]
    assert np.mean(np.array(distance) > 0.3) > 0.15  # many near the edges
    # the frame centre lies inside few polygons: a centre map cannot win by construction
    middle = [
        PolygonPath(np.array(p).reshape(-1, 2)).contains_point((SIZE / 2, SIZE / 2))
        for a in annotations
        for p in a["segmentation_mask"]
    ]
    assert np.mean(middle) < 0.4  # 0.31 measured: the central part (1/9) and near it


def test_patterns_stay_mostly_inside_the_image() -> None:
    """At least 80% of each footprint (displacement of half a fringe or more) is in the image."""
    rng = np.random.default_rng(0)
    frames = make_frames(40, rng)
    axis = (np.arange(-SIZE, 2 * SIZE) + 0.5) / SIZE  # the image and a frame's width around it
    x, y = np.meshgrid(axis, axis)
    in_image = (x > 0) & (x < 1) & (y > 0) & (y < 1)
    shares = []
    for index in range(300):
        for pattern in draw_scene(frames[index % len(frames)], rng).patterns:
            print_ = np.abs(pattern.fringes * deformation_displacement(pattern, x, y)) >= 0.5
            shares.append((print_ & in_image).sum() / print_.sum())
    assert len(shares) > 150 and min(shares) >= 0.8


@pytest.mark.parametrize("part", range(PARTS))
def test_drawn_and_settled_points_lie_clearly_in_their_part(part: int) -> None:
    rng = np.random.default_rng(part)
    for _ in range(200):
        x, y = draw_position(part, rng, margins=(0.3, 0.1))
        assert part_of((x, y)) == part and 0.3 <= x <= 0.7 and 0.1 <= y <= 0.9
        anywhere = tuple(rng.uniform(-0.2, 1.2, size=2))
        assert part_of(settle(anywhere, part)) == part


def test_position_words() -> None:
    assert where((0.52, 0.47)) == "in the central part of the region"
    assert where((0.9, 0.5)) == "on the eastern side of the region"
    assert where((0.5, 0.1)) == "on the northern side of the region"  # rows grow downwards
    assert where((0.1, 0.9)) == "on the south-western side of the region"
