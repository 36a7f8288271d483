"""Train/val/test splits by frame (every date of a frame in one split), saved and reused.

Two rules (``cfg.split``): ``random-frames`` (the default: frames drawn at random with the seed,
stratified by deformation) and ``hephaestus-test-frames`` (the official benchmark's 13 test
frames are the test split). Usage::

    split = split_by_frame(records, val_fraction=0.1, test_fraction=0.1, seed=42)
    split = split_official_test_frames(records, val_fraction=0.1, seed=42)
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from helpers.config import CaptionConfig
from helpers.data.records import DatasetError, Record, id_sort_key
from helpers.files import write_text_atomic

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Split:
    """Unique ids per split, each list sorted."""

    train: list[str]
    val: list[str]
    test: list[str]

    def fingerprint(self) -> str:
        return ids_fingerprint(self.train + self.val + self.test)


def ids_fingerprint(ids: Iterable[str]) -> str:
    """SHA-256 of the sorted ids: identifies the set of records a split was made from."""
    return hashlib.sha256("\n".join(sorted(ids)).encode()).hexdigest()


OFFICIAL_TEST_FRAMES = (  # the official supervised benchmark's held-out volcano frames
    "124D_04854_171313",
    "022D_04826_121209",
    "087D_07004_060904",
    "174A_09133_131313",
    "021D_09150_131313",
    "109D_05390_141615",
    "162A_06192_060402",
    "076D_09725_121107",
    "115D_04999_131313",
    "152D_08915_131313",
    "164A_13146_131313",
    "151D_SM_REUN_S4",
    "144A_SM_REUN_S6",
)
Counts = tuple[int, int]  # records with deformation, records without


class _Frames:
    """Records grouped by frame, with each frame's class counts."""

    def __init__(self, records: Iterable[Record]) -> None:
        self.ids: dict[str, list[str]] = defaultdict(list)
        counts: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        for record in records:
            self.ids[record.frame_id].append(record.unique_id)
            counts[record.frame_id][0 if record.has_deformation else 1] += 1
        self.counts: dict[str, Counts] = {f: (c[0], c[1]) for f, c in counts.items()}
        self.totals = tuple(sum(c[k] for c in self.counts.values()) for k in (0, 1))

    def holding(self, frames: Iterable[str], cls: int) -> int:
        """How many of ``frames`` hold records of class ``cls``."""
        return sum(1 for frame in frames if self.counts[frame][cls])

    def record_ids(self, frames: Iterable[str]) -> list[str]:
        return sorted((i for frame in frames for i in self.ids[frame]), key=id_sort_key)


def split_by_frame(
    records: Iterable[Record], val_fraction: float, test_fraction: float, seed: int
) -> Split:
    """Split records into train/val/test so that no ``frame_id`` is in two splits, stratified by
    deformation.

    Frames are shuffled with ``seed`` (the input order does not matter). Test, then val, take the
    frames that bring their counts of deformation and of no-deformation records closest to the
    fractions of each class (both classes weigh the same, however rare one is). Whenever the data
    has at least three frames holding a class, each split gets at least one of them. Needs at
    least 3 frames.
    """
    _check_fractions(val_fraction, test_fraction)
    groups = _Frames(records)
    if len(groups.ids) < 3:
        raise DatasetError(
            f"Need records from at least 3 frames (frameID) to make train/val/test splits, "
            f"got {len(groups.ids)}"
        )
    frames = sorted(groups.ids)
    random.Random(seed).shuffle(frames)
    test, frames = _take_frames(groups, frames, test_fraction, later_splits=2)
    val, train = _take_frames(groups, frames, val_fraction, later_splits=1)
    return Split(groups.record_ids(train), groups.record_ids(val), groups.record_ids(test))


def split_official_test_frames(records: Iterable[Record], val_fraction: float, seed: int) -> Split:
    """The official benchmark's split: the ``OFFICIAL_TEST_FRAMES`` found in the data are the
    test split; the other frames are split into train and val by frame (stratified, seeded)."""
    _check_fractions(val_fraction, 0.0, test_needed=False)
    groups = _Frames(records)
    official = set(OFFICIAL_TEST_FRAMES)
    test = sorted(official & groups.ids.keys())
    if not test:
        raise DatasetError(
            "None of the official test frames (" + ", ".join(OFFICIAL_TEST_FRAMES) + ") is in "
            "the data: use split='random-frames'."
        )
    frames = sorted(groups.ids.keys() - official)
    if len(frames) < 2:
        raise DatasetError(
            f"Only {len(frames)} frame(s) outside the official test frames: need 2 for train/val."
        )
    random.Random(seed).shuffle(frames)
    val, train = _take_frames(groups, frames, val_fraction, later_splits=1)
    return Split(groups.record_ids(train), groups.record_ids(val), groups.record_ids(test))


def make_split(records: list[Record], cfg: CaptionConfig) -> Split:
    """The split ``cfg.split`` asks for (``random-frames`` or ``hephaestus-test-frames``)."""
    if cfg.split == "hephaestus-test-frames":
        return split_official_test_frames(records, cfg.val_fraction, cfg.seed)
    return split_by_frame(records, cfg.val_fraction, cfg.test_fraction, cfg.seed)


def _check_fractions(val_fraction: float, test_fraction: float, test_needed: bool = True) -> None:
    test_ok = 0 < test_fraction < 1 if test_needed else 0 <= test_fraction < 1
    if not (0 < val_fraction < 1 and test_ok and val_fraction + test_fraction < 1):
        raise ValueError(
            f"val_fraction={val_fraction} and test_fraction={test_fraction} must be > 0 "
            "and sum to less than 1"
        )


def _take_frames(
    groups: _Frames, frames: list[str], fraction: float, later_splits: int
) -> tuple[list[str], list[str]]:
    """Pick frames (in order) for one split; return (picked, rest).

    A frame is taken when it brings the split's class counts closer to ``fraction`` of each
    class's total (distance: the sum over classes of the gap relative to that class's total), as
    long as ``later_splits`` frames stay for the splits still to come, and, for each class held by
    at least 3 frames in all, as many frames holding it. Each class such guarantees cover is first
    seeded with one frame holding it (the one that fits best)."""
    targets = [fraction * total for total in groups.totals]
    guarded = [cls for cls in (0, 1) if groups.holding(groups.counts, cls) >= 3]
    picked: list[str] = []
    counts = [0, 0]

    def distance(extra: Counts = (0, 0)) -> float:
        return sum(
            abs(counts[c] + extra[c] - targets[c]) / max(groups.totals[c], 1) for c in (0, 1)
        )

    def can_take(frame: str) -> bool:
        rest = [f for f in frames if f not in picked and f != frame]
        return len(rest) >= later_splits and all(
            groups.holding(rest, cls) >= later_splits for cls in guarded
        )

    def take(frame: str) -> None:
        picked.append(frame)
        counts[0] += groups.counts[frame][0]
        counts[1] += groups.counts[frame][1]

    for cls in sorted(guarded, key=lambda c: groups.holding(frames, c)):
        if not any(groups.counts[f][cls] for f in picked):
            options = [f for f in frames if groups.counts[f][cls] and can_take(f)]
            if options:
                take(min(options, key=lambda f: distance(groups.counts[f])))
    for frame in frames:
        if frame not in picked and can_take(frame) and distance(groups.counts[frame]) < distance():
            take(frame)
    if not picked:  # every frame overshoots: take the smallest
        take(min(frames, key=lambda f: sum(groups.counts[f])))
    return picked, [frame for frame in frames if frame not in picked]


def split_table(split: Split, records_by_id: dict[str, Record]) -> pd.DataFrame:
    """Per split: images, frames and the share of images with deformation."""
    rows = {}
    for name in ("train", "val", "test"):
        chosen = [records_by_id[i] for i in getattr(split, name)]
        rows[name] = {
            "images": len(chosen),
            "frames": len({r.frame_id for r in chosen}),
            "deformation_share": round(
                sum(r.has_deformation for r in chosen) / max(len(chosen), 1), 3
            ),
        }
    return pd.DataFrame.from_dict(rows, orient="index")


def save_split(split: Split, path: Path, params: dict[str, Any]) -> None:
    """Write the split, the parameters that made it and the ids' fingerprint as JSON."""
    path = Path(path)
    payload = {"params": params, "fingerprint": split.fingerprint(), **split.__dict__}
    write_text_atomic(path, json.dumps(payload, indent=1))


def load_split(path: Path) -> tuple[Split, dict[str, Any]]:
    """Read a split file written by ``save_split``; returns the split and its parameters."""
    try:
        payload = json.loads(Path(path).read_text())
        split = Split(**{name: list(payload[name]) for name in ("train", "val", "test")})
        params, fingerprint = dict(payload["params"]), payload["fingerprint"]
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise DatasetError(f"Cannot read split file {path}: {err!r}") from err
    if fingerprint != split.fingerprint():
        raise DatasetError(f"Split file {path} is inconsistent (fingerprint does not match ids)")
    return split, params


def load_or_make_split(records: list[Record], cfg: CaptionConfig, path: Path) -> Split:
    """The split saved in ``path`` while its rule, settings and records still match, else a new
    ``make_split`` split, saved there."""
    params = {
        "rule": cfg.split,
        "val_fraction": cfg.val_fraction,
        "test_fraction": cfg.test_fraction,
        "seed": cfg.seed,
        "unique_captions": cfg.unique_captions,
    }
    fingerprint = ids_fingerprint(r.unique_id for r in records)
    if path.is_file():
        try:
            split, saved_params = load_split(path)
        except DatasetError as err:
            log.info(f"{err}; making a new split.")
        else:
            if saved_params == params and split.fingerprint() == fingerprint:
                log.info(f"Reusing the split saved in {path}.")
                return split
            log.info(f"The split in {path} was made from other records or settings; replacing it.")
    split = make_split(records, cfg)
    save_split(split, path, params)
    log.info(f"Saved a new split to {path}.")
    return split
