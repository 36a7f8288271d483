"""Train/val/test splits by frame (every date of a frame in one split), saved and reused.

Usage::

    split = split_by_frame(records, val_fraction=0.1, test_fraction=0.1, seed=42)
"""

from __future__ import annotations

import hashlib
import json
import random
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from helpers.config import CaptionConfig
from helpers.files import write_text_atomic
from helpers.records import DatasetError, Record, id_sort_key


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


def split_by_frame(
    records: Iterable[Record], val_fraction: float, test_fraction: float, seed: int
) -> Split:
    """Split records into train/val/test so that no ``frame_id`` is in two splits.

    Frames are shuffled with ``seed`` (the input order does not matter), then test and val take
    the frames that bring their record counts closest to the fractions, each at least one frame.
    Needs at least 3 frames.
    """
    if not (0 < val_fraction < 1 and 0 < test_fraction < 1 and val_fraction + test_fraction < 1):
        raise ValueError(
            f"val_fraction={val_fraction} and test_fraction={test_fraction} must be > 0 "
            "and sum to less than 1"
        )
    groups: dict[str, list[str]] = defaultdict(list)
    for record in records:
        groups[record.frame_id].append(record.unique_id)
    if len(groups) < 3:
        raise DatasetError(
            f"Need records from at least 3 frames (frameID) to make train/val/test splits, "
            f"got {len(groups)}"
        )
    sizes = {frame: len(ids) for frame, ids in groups.items()}
    total = sum(sizes.values())
    frames = sorted(groups)
    random.Random(seed).shuffle(frames)
    test, frames = _take_frames(frames, sizes, test_fraction * total, keep=2)
    val, train = _take_frames(frames, sizes, val_fraction * total, keep=1)

    def ids(chosen: list[str]) -> list[str]:
        return sorted((i for frame in chosen for i in groups[frame]), key=id_sort_key)

    return Split(train=ids(train), val=ids(val), test=ids(test))


def _take_frames(
    frames: list[str], sizes: dict[str, int], target: float, keep: int
) -> tuple[list[str], list[str]]:
    """Pick frames (in order) that bring the count closer to ``target``; leave >= ``keep``."""
    picked, rest, count = [], [], 0
    for frame in frames:
        room = len(frames) - len(picked) - 1 >= keep
        if room and abs(count + sizes[frame] - target) < abs(count - target):
            picked.append(frame)
            count += sizes[frame]
        else:
            rest.append(frame)
    if not picked:  # every frame overshoots: take the smallest
        smallest = min(rest, key=sizes.__getitem__)
        picked.append(smallest)
        rest.remove(smallest)
    return picked, rest


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
    """The split saved in ``path`` while its settings and records still match, else a new
    ``split_by_frame`` split, saved there."""
    params = {
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
            print(f"{err}; making a new split.")
        else:
            if saved_params == params and split.fingerprint() == fingerprint:
                print(f"Reusing the split saved in {path}.")
                return split
            print(f"The split in {path} was made from other records or settings; replacing it.")
    split = split_by_frame(records, cfg.val_fraction, cfg.test_fraction, cfg.seed)
    save_split(split, path, params)
    print(f"Saved a new split to {path}.")
    return split
