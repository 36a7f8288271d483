"""Stratified frame-grouped splits, the official test frames, and the split file's rule."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from helpers.config import CaptionConfig
from helpers.data.records import DatasetError, Record
from helpers.data.splits import (
    OFFICIAL_TEST_FRAMES,
    Split,
    load_or_make_split,
    load_split,
    split_by_frame,
    split_official_test_frames,
    split_table,
)


def record(uid: int, frame: str, deformation: bool) -> Record:
    label = ("Deformation",) if deformation else ("Non_Deformation",)
    return Record(str(uid), frame, Path(f"{uid}.png"), f"caption {uid}", label=label)


def imbalanced(seed: int = 0, frames: int = 60) -> list[Record]:
    """About 90% deformation: most frames hold only deformation records, a few only quiet ones,
    some both."""
    rng = random.Random(seed)
    records, uid = [], 0
    for index in range(frames):
        kind = rng.random()
        for _ in range(rng.randint(1, 8)):
            quiet = kind < 0.05 or (kind < 0.15 and rng.random() < 0.5)
            records.append(record(uid, f"frame{index}", not quiet))
            uid += 1
    return records


def frames_of(records: list[Record], ids: list[str]) -> set[str]:
    frame = {r.unique_id: r.frame_id for r in records}
    return {frame[i] for i in ids}


def deformation_share(records: list[Record], ids: list[str]) -> float:
    deforming = {r.unique_id for r in records if r.has_deformation}
    return sum(i in deforming for i in ids) / len(ids)


def assert_frames_disjoint_and_complete(records: list[Record], split: Split) -> None:
    parts = [frames_of(records, ids) for ids in (split.train, split.val, split.test)]
    assert not (parts[0] & parts[1] or parts[0] & parts[2] or parts[1] & parts[2])
    ids = split.train + split.val + split.test
    assert sorted(ids) == sorted(r.unique_id for r in records) and len(set(ids)) == len(ids)


@pytest.mark.parametrize("seed", range(7))
def test_stratified_split_keeps_both_classes_and_the_balance(seed: int) -> None:
    records = imbalanced(seed)
    overall = deformation_share(records, [r.unique_id for r in records])
    assert 0.85 < overall < 0.95  # the fixture is as imbalanced as the real subset

    split = split_by_frame(records, val_fraction=0.1, test_fraction=0.1, seed=seed)

    assert_frames_disjoint_and_complete(records, split)
    for ids in (split.train, split.val, split.test):
        share = deformation_share(records, ids)
        assert 0 < share < 1  # both classes in every split
        assert abs(share - overall) < 0.1
    assert split_by_frame(list(reversed(records)), 0.1, 0.1, seed=seed) == split  # same seed


def test_rare_class_in_exactly_three_frames_reaches_every_split() -> None:
    records = [record(i, f"d{i % 30}", True) for i in range(90)]
    records += [record(100 + i, f"q{i}", False) for i in range(3)]
    for seed in range(10):
        split = split_by_frame(records, 0.1, 0.1, seed=seed)
        for ids in (split.train, split.val, split.test):
            assert 0 < deformation_share(records, ids) < 1


def test_official_rule_puts_exactly_the_official_frames_in_test() -> None:
    records = imbalanced(1, frames=40)
    official = OFFICIAL_TEST_FRAMES[:5]
    uid = 10_000
    for frame in official:
        for deformation in (True, True, False):
            records.append(record(uid, frame, deformation))
            uid += 1

    split = split_official_test_frames(records, val_fraction=0.1, seed=3)

    assert_frames_disjoint_and_complete(records, split)
    assert frames_of(records, split.test) == set(official)
    assert not frames_of(records, split.train + split.val) & set(OFFICIAL_TEST_FRAMES)
    assert 0 < deformation_share(records, split.val) < 1
    assert split_official_test_frames(records, 0.1, seed=3) == split
    with pytest.raises(DatasetError, match="None of the official test frames"):
        split_official_test_frames(imbalanced(1), 0.1, seed=3)


def test_split_file_records_the_rule_and_a_new_rule_or_seed_makes_a_new_split(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    records = imbalanced(2) + [record(50_000, OFFICIAL_TEST_FRAMES[0], True)]
    path = tmp_path / "split.json"
    cfg = CaptionConfig(data_dir=tmp_path)

    first = load_or_make_split(records, cfg, path)
    assert load_split(path)[1]["rule"] == "random-frames"
    assert load_or_make_split(records, cfg, path) == first
    assert "Reusing the split" in capsys.readouterr().out

    official = load_or_make_split(records, cfg.with_overrides(split="hephaestus-test-frames"), path)
    assert "replacing it" in capsys.readouterr().out
    assert load_split(path)[1]["rule"] == "hephaestus-test-frames"
    assert official.test == ["50000"]
    reseeded = load_or_make_split(records, cfg.with_overrides(seed=7), path)
    assert "replacing it" in capsys.readouterr().out and reseeded != first


def test_unknown_split_rule_is_refused() -> None:
    with pytest.raises(ValueError, match="random-frames, hephaestus-test-frames"):
        CaptionConfig(split="by-date")


def test_split_table_counts_images_frames_and_deformation_share() -> None:
    records = [record(1, "A", True), record(2, "A", False), record(3, "B", True)]
    records += [record(4, "C", False), record(5, "D", True)]
    split = Split(train=["1", "2", "3"], val=["4"], test=["5"])
    table = split_table(split, {r.unique_id: r for r in records})
    assert table.loc["train"].to_dict() == {"images": 3, "frames": 2, "deformation_share": 0.667}
    assert table.loc["val"].to_dict() == {"images": 1, "frames": 1, "deformation_share": 0.0}
    assert table.loc["test", "deformation_share"] == 1.0
