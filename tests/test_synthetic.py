"""Tests for the synthetic InSAR-like stand-in dataset (helpers.data.synthetic)."""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
import zipfile
from collections import Counter
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest
from matplotlib.colors import rgb_to_hsv
from PIL import Image

from helpers.data.annotations import FLAGS, typed_fields
from helpers.data.caption_stats import has_typo, targets_missed
from helpers.data.records import Record
from helpers.data.synthetic import (
    ACTIVITY_TYPES,
    INTENSITY_LEVELS,
    NO_DEFORMATION_SENTENCES,
    SYNTHETIC_MARKER,
    caption_stats_report,
    generate_samples,
    write_synthetic_dataset,
)
from helpers.eval.domain_facts import check_captions
from helpers.eval.domain_scores import summarize_facts

REPO_ROOT = Path(__file__).resolve().parent.parent
FLAG_FIELDS = FLAGS  # the schema's 0/1 flags


@pytest.fixture(scope="module")
def annotations() -> list[dict]:
    """Many annotations (tiny images: the facts do not depend on the image size)."""
    return [sample.annotation for sample in generate_samples(300, seed=11, image_size=16)]


@pytest.fixture(scope="module")
def batch() -> list:
    return list(generate_samples(120, seed=7, image_size=96))


# ------------------------------------------------------------ image statistics (phase from hue)


def _phasor(image: np.ndarray) -> np.ndarray:
    """exp(i * phase), reading the phase back from the hue of the cyclic colour wheel; 0 where
    there is no colour (no-data, grey hillshade), so those pixels carry no phase."""
    return np.exp(2j * np.pi * rgb_to_hsv(image / 255.0)[..., 0]) * _coloured(image)


def _neighbour_products(z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """z[x+1] * conj(z[x]) along columns and rows: its angle is the wrapped phase step."""
    return z[:, 1:] * np.conj(z[:, :-1]), z[1:] * np.conj(z[:-1])


def _box_mean(z: np.ndarray, width: int) -> np.ndarray:
    sums = np.cumsum(np.cumsum(np.pad(z, ((1, 0), (1, 0))), axis=0), axis=1)
    w = width
    return (sums[w:, w:] - sums[:-w, w:] - sums[w:, :-w] + sums[:-w, :-w]) / w**2


def fringe_density(image: np.ndarray) -> float:
    """99th percentile of the local fringe rate (fringes per image width) in coherent areas."""
    dx, dy = _neighbour_products(_phasor(image))
    dx, dy = _box_mean(dx[:-1], 5), _box_mean(dy[:, :-1], 5)
    coherent = (np.abs(dx) > 0.5) & (np.abs(dy) > 0.5)
    rate = np.hypot(np.angle(dx), np.angle(dy))[coherent]
    return float(np.quantile(rate, 0.99) * image.shape[0] / (2 * np.pi))


def ramp_fringes(image: np.ndarray) -> float:
    """Fringes across the image of the image-wide mean phase gradient (a planar ramp)."""
    dx, dy = _neighbour_products(_phasor(image))
    return float(np.hypot(np.angle(dx.mean()), np.angle(dy.mean())) * image.shape[0] / (2 * np.pi))


def phase_jump_fraction(image: np.ndarray) -> float:
    """Fraction of coloured neighbour pairs whose phase differs by more than pi/2 (speckle)."""
    dx, _ = _neighbour_products(_phasor(image))
    coloured = _coloured(image)
    both = coloured[:, 1:] & coloured[:, :-1]
    return float((np.abs(np.angle(dx[both])) > np.pi / 2).mean())


def _coloured(image: np.ndarray) -> np.ndarray:
    """Pixels of the colour wheel: not no-data (black), not grey hillshade."""
    return rgb_to_hsv(image / 255.0)[..., 1] > 0.5


def grey_share(image: np.ndarray) -> float:
    """Share of grey pixels (hillshade where coherence is lost; black no-data excluded)."""
    hsv = rgb_to_hsv(image / 255.0)
    return float(((hsv[..., 1] < 0.15) & (hsv[..., 2] > 0.1)).mean())


def _accuracy(values: list[float], threshold: float, truth: list[bool]) -> float:
    return float(np.mean((np.array(values) > threshold) == np.array(truth)))


# ------------------------------------------------------------ determinism


def test_same_seed_gives_identical_samples_and_other_seed_differs() -> None:
    first = list(generate_samples(10, seed=3, image_size=32))
    again = list(generate_samples(10, seed=3, image_size=32))
    other = list(generate_samples(10, seed=4, image_size=32))
    assert [s.annotation for s in first] == [s.annotation for s in again]
    assert all(np.array_equal(a.image, b.image) for a, b in zip(first, again, strict=True))
    assert [s.annotation["caption"] for s in first] != [s.annotation["caption"] for s in other]
    assert not any(np.array_equal(a.image, b.image) for a, b in zip(first, other, strict=True))


def test_facts_do_not_depend_on_image_size() -> None:
    small = [s.annotation for s in generate_samples(8, seed=5, image_size=32)]
    large = [s.annotation for s in generate_samples(8, seed=5, image_size=128)]
    for a, b in zip(small, large, strict=True):
        a, b = dict(a), dict(b)
        assert bool(a.pop("segmentation_mask")) == bool(b.pop("segmentation_mask"))
        assert a == b


def test_bad_arguments_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="n must be at least 1"):
        generate_samples(0)
    with pytest.raises(ValueError, match="image_size"):
        generate_samples(4, image_size=8)
    with pytest.raises(ValueError, match="seed"):
        generate_samples(4, seed=-1)
    with pytest.raises(ValueError, match="n must be at least 1"):
        write_synthetic_dataset(tmp_path / "out", 0, progress=False)
    assert not (tmp_path / "out").exists()


# ------------------------------------------------------------ schema


def test_annotations_follow_the_hephaestus_schema(annotations: list[dict]) -> None:
    for ann in annotations:
        assert json.loads(json.dumps(ann)) == ann  # plain JSON types only
        assert isinstance(ann["uniqueID"], int)
        assert re.fullmatch(r"\d{3}[AD]_\d{5}_\d{6}", ann["frameID"])
        primary = datetime.strptime(ann["primary_date"], "%Y%m%d")
        assert datetime.strptime(ann["secondary_date"], "%Y%m%d") > primary
        for flag in FLAG_FIELDS:
            assert ann[flag] in (0, 1), flag
        assert ann["atmospheric_fringes"] in (0, 1, 2, 3)
        deforming = ann["label"] == ["Deformation"]
        assert deforming or ann["label"] == ["Non_Deformation"]
        if deforming:
            patterns = len(ann["activity_type"])
            assert 1 <= patterns <= 3 and set(ann["activity_type"]) <= set(ACTIVITY_TYPES)
            assert len(ann["intensity_level"]) == len(ann["segmentation_mask"]) == patterns
            assert set(ann["intensity_level"]) <= set(INTENSITY_LEVELS)
            assert ann["is_crowd"] == int(patterns > 1)
            assert ann["phase"] in ("Unrest", "Rebound")
        else:
            assert ann["activity_type"] == [] and ann["intensity_level"] == ["None"]
            assert ann["segmentation_mask"] == [] and ann["is_crowd"] == 0
            assert ann["phase"] == "Rest"
        assert isinstance(ann["confidence"], float) and 0 < ann["confidence"] <= 1
        assert isinstance(ann["caption"], str) and ann["caption"]
        assert ann["synthetic"] is True


def test_segmentation_mask_outlines_the_deformation() -> None:
    size = 64
    for sample in generate_samples(40, seed=2, image_size=size):
        ann = sample.annotation
        if "Deformation" not in ann["label"]:
            assert ann["segmentation_mask"] == []
            continue
        assert len(ann["segmentation_mask"]) == len(ann["activity_type"])
        for polygon in ann["segmentation_mask"]:
            points = np.array(polygon).reshape(-1, 2)
            assert len(polygon) % 2 == 0 and len(points) >= 3
            assert points.min() >= 0 and points.max() <= size
            width = np.ptp(points, axis=0)
            assert (width > 2).all()  # a real area, not a point


def test_frames_are_shared_by_several_dates(annotations: list[dict]) -> None:
    dates_by_frame: dict[str, list[str]] = {}
    for ann in annotations:
        dates_by_frame.setdefault(ann["frameID"], []).append(ann["primary_date"])
    assert len(dates_by_frame) >= len(annotations) // 10
    for dates in dates_by_frame.values():
        assert len(dates) >= 2 and len(set(dates)) == len(dates)
    # a frame's activity varies over its dates
    labels = {f: {a["label"][0] for a in annotations if a["frameID"] == f} for f in dates_by_frame}
    assert sum(len(found) == 2 for found in labels.values()) > len(labels) / 2
    assert len({ann["uniqueID"] for ann in annotations}) == len(annotations)


def test_class_balance_and_mix_of_activity_types(annotations: list[dict]) -> None:
    deforming = [a for a in annotations if "Deformation" in a["label"]]
    # before the unique-caption filter; after it, 85-95% (test_caption_figures_meet_targets)
    assert 0.6 < len(deforming) / len(annotations) < 0.85
    types = Counter(t for a in deforming for t in a["activity_type"])
    assert set(types) == set(ACTIVITY_TYPES)
    assert types.most_common(1)[0][0] == "Sill"  # Sill ~50% in the real captions
    assert {i for a in deforming for i in a["intensity_level"]} == set(INTENSITY_LEVELS)
    assert 0.05 < np.mean([len(a["activity_type"]) > 1 for a in deforming]) < 0.4
    for flag in ("orbital_fringes", "low_coherence", "processing_error"):
        assert 0.02 < np.mean([a[flag] > 0 for a in annotations]) < 0.5, flag
    assert np.mean([a["atmospheric_fringes"] > 0 for a in annotations]) > 0.8  # almost all


# ------------------------------------------------------------ captions


def test_captions_state_exactly_the_facts(annotations: list[dict]) -> None:
    for ann in annotations:
        caption, lower = ann["caption"], ann["caption"].lower()
        denies = any(sentence in caption for sentence in NO_DEFORMATION_SENTENCES)
        assert denies != ("Deformation" in ann["label"]), caption
        assert "deformation" in lower, caption
        for activity in ACTIVITY_TYPES:
            assert (activity.lower() in lower) == (activity in ann["activity_type"]), caption
        assert ("atmospher" in lower) == (ann["atmospheric_fringes"] > 0), caption
        assert ("orbital" in lower) == bool(ann["orbital_fringes"]), caption
        assert ("coherence" in lower) == bool(ann["low_coherence"]), caption


def test_domain_fact_reader_reads_the_captions_right(annotations: list[dict]) -> None:
    records = [
        Record(
            str(ann["uniqueID"]),
            ann["frameID"],
            Path("x.png"),
            ann["caption"],
            **typed_fields(ann, []),
        )
        for ann in annotations
    ]
    table = check_captions([r.caption for r in records], records)
    summary = summarize_facts(table)
    for key in ("deformation_accuracy", "activity_accuracy", "atmospheric_accuracy"):
        assert summary[key] == 1.0, key


def test_captions_are_sentences_with_a_few_typos(annotations: list[dict]) -> None:
    captions = [ann["caption"] for ann in annotations]
    typos = [caption for caption in captions if has_typo(caption)]
    assert 0.01 < len(typos) / len(captions) < 0.08
    assert any("  " in c for c in typos) and any(re.search(r"\.[A-Z]", c) for c in typos)
    for caption in captions:
        sentences = re.split(r"(?<=\.) *", caption.strip())
        sentences = [s for s in sentences if s]
        assert 1 <= len(sentences) <= 9, caption
        assert all(s[0].isupper() and s.endswith(".") for s in sentences), caption
        assert " ." not in caption and " ," not in caption, caption
    assert len(set(captions)) > 0.7 * len(captions)
    denials = {s for s in NO_DEFORMATION_SENTENCES for c in captions if s in c}
    assert denials == set(NO_DEFORMATION_SENTENCES)


# ------------------------------------------------------------ the images show the facts


def test_images_are_square_rgb() -> None:
    (sample,) = generate_samples(1, seed=1, image_size=40)
    assert sample.image.shape == (40, 40, 3) and sample.image.dtype == np.uint8


def test_deformation_shows_as_dense_fringes(batch: list) -> None:
    truth = ["Deformation" in s.annotation["label"] for s in batch]
    density = [fringe_density(s.image) for s in batch]
    assert 0.5 < np.mean(truth) < 0.9
    assert _accuracy(density, 11.0, truth) > 0.9


def test_orbital_ramp_and_low_coherence_are_visible(batch: list) -> None:
    clean = [s for s in batch if "Deformation" not in s.annotation["label"]]
    orbital = [bool(s.annotation["orbital_fringes"]) for s in clean]
    low_coherence = [bool(s.annotation["low_coherence"]) for s in clean]
    assert 0 < sum(orbital) < len(clean) and 0 < sum(low_coherence) < len(clean)
    assert _accuracy([ramp_fringes(s.image) for s in clean], 1.0, orbital) > 0.9
    low_coherence = [bool(s.annotation["low_coherence"]) for s in batch]
    assert _accuracy([grey_share(s.image) for s in batch], 0.05, low_coherence) > 0.95


def test_lost_coherence_shows_a_grey_hillshade(batch: list) -> None:
    for sample in batch:
        if sample.annotation["low_coherence"]:
            hsv = rgb_to_hsv(sample.image / 255.0)
            grey = (hsv[..., 1] < 0.15) & (hsv[..., 2] > 0.1)
            assert np.std(hsv[..., 2][grey]) > 0.05  # shaded relief, not a flat fill


def test_half_the_images_lose_a_rotated_swath_edge_but_never_a_pattern(batch: list) -> None:
    with_edges = 0
    for sample in batch:
        black = sample.image.max(axis=2) == 0
        if not black.any():
            continue
        with_edges += 1
        # the no-data area touches the left or right border, in a straight slanted edge
        assert black[:, 0].any() or black[:, -1].any()
        size = sample.image.shape[0]
        for polygon in sample.annotation["segmentation_mask"]:
            xs, ys = np.array(polygon).reshape(-1, 2).T
            cx, cy = int(xs.mean()), int(ys.mean())
            assert not black[min(cy, size - 1), min(cx, size - 1)]
    assert 0.3 < with_edges / len(batch) < 0.7


def test_speckle_is_dense_but_fringes_stay_readable(batch: list) -> None:
    jumps = [phase_jump_fraction(s.image) for s in batch if not s.annotation["low_coherence"]]
    assert 0.02 < np.median(jumps) < 0.15


# ------------------------------------------------------------ zips and command line


def _read_zip(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def test_write_synthetic_dataset_writes_matching_zips(tmp_path: Path) -> None:
    images_zip, annotations_zip = write_synthetic_dataset(
        tmp_path, 6, seed=1, image_size=32, progress=False
    )
    assert (images_zip, annotations_zip) == (tmp_path / "images.zip", tmp_path / "annotations.zip")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["annotations.zip", "images.zip"]
    images, notes = _read_zip(images_zip), _read_zip(annotations_zip)
    for entries in (images, notes):
        assert b"SYNTHETIC" in entries.pop(SYNTHETIC_MARKER)
    expected = list(generate_samples(6, seed=1, image_size=32))
    stems = [str(s.annotation["uniqueID"]) for s in expected]
    assert sorted(images) == sorted(f"images/{stem}.png" for stem in stems)
    assert sorted(notes) == sorted(f"annotations/{stem}.json" for stem in stems)
    for sample, stem in zip(expected, stems, strict=True):
        decoded = np.asarray(Image.open(io.BytesIO(images[f"images/{stem}.png"])).convert("RGB"))
        assert np.array_equal(decoded, sample.image)
        assert json.loads(notes[f"annotations/{stem}.json"]) == sample.annotation


def test_write_refuses_to_overwrite_and_is_byte_identical(tmp_path: Path) -> None:
    paths = write_synthetic_dataset(tmp_path, 3, seed=2, image_size=32, progress=False)
    before = [p.read_bytes() for p in paths]
    with pytest.raises(FileExistsError, match="images.zip"):
        write_synthetic_dataset(tmp_path, 3, seed=9, image_size=32, progress=False)
    assert [p.read_bytes() for p in paths] == before
    write_synthetic_dataset(tmp_path, 3, seed=2, image_size=32, progress=False, overwrite=True)
    assert [p.read_bytes() for p in paths] == before
    write_synthetic_dataset(tmp_path, 3, seed=5, image_size=32, progress=False, overwrite=True)
    assert [p.read_bytes() for p in paths] != before


def test_command_line(tmp_path: Path) -> None:
    out = tmp_path / "synthetic"
    command = [sys.executable, "-m", "helpers.data.synthetic", "--n", "4", "--out", str(out)]
    command += ["--size", "32", "--seed", "3"]
    done = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "SYNTHETIC" in done.stdout and str(out / "images.zip") in done.stdout
    assert len(_read_zip(out / "annotations.zip")) == 5  # 4 annotations + the marker
    refused = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=60)
    assert refused.returncode != 0 and "already exists" in refused.stderr


# ------------------------------------------------------------ calibrated to the real captions


def test_caption_figures_meet_the_targets_on_300_samples() -> None:
    figures, table = caption_stats_report(300, seed=0)
    assert targets_missed(figures) == [], table
    # the figures of DESIGN.md section 4, spelled out
    assert abs(figures["tokens_mean"] / 54 - 1) <= 0.15
    assert abs(figures["tokens_p90"] / 90 - 1) <= 0.2
    assert figures["tokens_max"] > 110
    assert figures["repeat_3gram_share"] >= 0.7
    assert 0.85 <= figures["deformation_share"] <= 0.95
    assert figures["unique_captions"] < 300  # the filter removed repeated "no deformation" ones


def test_captions_use_the_real_phrase_families(annotations: list[dict]) -> None:
    captions = [a["caption"].lower() for a in annotations]

    def share(*phrases: str) -> float:
        return float(np.mean([any(p in c for p in phrases) for c in captions]))

    assert share("-type deformation pattern", "-type pattern", "of unidentified type") > 0.3
    assert share("intensity") > 0.5 and share("side of the region") > 0.5
    assert share("deformation patterns") > 0.05  # several patterns in one caption
    assert share("stratified") > 0.1 and share("high-altitude") > 0.1
    assert share("turbulent mixing") > 0.2 and share("wide area") > 0.2
    assert share("low coherence") > 0.1 and share("debursting") > 0.01
    assert share("high displacement") > 0.02
    assert share("can be detected") > 0.7
    deforming = [a for a in annotations if "Deformation" in a["label"]]
    for ann in deforming:  # each pattern's intensity is stated
        for level in ann["intensity_level"]:
            assert f"{level.lower()} intensity" in ann["caption"], ann["caption"]


def test_stats_command_prints_figures_beside_targets() -> None:
    command = [
        sys.executable,
        "-m",
        "helpers.data.synthetic",
        "--stats",
        "--n",
        "60",
        "--seed",
        "2",
    ]
    done = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    figures, table = caption_stats_report(60, seed=2)
    assert table in done.stdout
    for name in ("tokens_mean", "tokens_p90", "repeat_3gram_share", "deformation_share"):
        assert name in done.stdout
    assert f"{figures['tokens_mean']:.3f}" in done.stdout
