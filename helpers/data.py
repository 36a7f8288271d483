"""Hephaestus data: unzip, parse, validate, filter and split.

The usual entry point is ``prepare_dataset(cfg)``; the pieces are usable on their own::

    report = load_records(Path("my_images"), Path("my_annotations"))
    report.show()                                  # what was skipped and why
    records = unique_captions(report.records)
    split = split_by_frame(records, val_fraction=0.1, test_fraction=0.1, seed=42)

Batches for a model: ``helpers.batching``.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import warnings
import zipfile
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image
from tqdm.auto import tqdm

from helpers.config import CaptionConfig
from helpers.data_extract import JUNK_DIRS, extract_zip
from helpers.files import write_text_atomic
from helpers.synthetic import SYNTHETIC_MARKER, write_synthetic_dataset

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp"})
DATASET_README = "Hephaestus_dataset/README.md"


class DatasetError(ValueError):
    """The data cannot be used as given (the message says which file or folder and why)."""


@dataclass(frozen=True)
class Record:
    """One interferogram with its annotation; ``annotation`` keeps the raw JSON."""

    unique_id: str
    frame_id: str
    image_path: Path
    caption: str
    label: tuple[str, ...] = ()
    activity_type: tuple[str, ...] = ()
    atmospheric_fringes: int = 0
    orbital_fringes: int = 0
    low_coherence: int = 0
    primary_date: str = ""
    secondary_date: str = ""
    synthetic: bool = False
    annotation: dict[str, Any] = field(default_factory=dict, compare=False, hash=False, repr=False)

    @property
    def has_deformation(self) -> bool:
        return "Deformation" in self.label


@dataclass(frozen=True)
class SkippedItem:
    """A file that was left out, with a fixed ``reason`` (counted) and free-text ``detail``."""

    path: Path
    reason: str
    detail: str = ""

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}" + (f" ({self.detail})" if self.detail else "")


@dataclass
class LoadReport:
    """What ``load_records`` kept, skipped and warned about."""

    records: list[Record]
    skipped: list[SkippedItem] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def summary(self) -> str:
        lines = [f"Loaded {len(self.records)} records, skipped {len(self.skipped)} file(s)."]
        for reason, count in Counter(item.reason for item in self.skipped).most_common():
            lines.append(f"  {count:6d} x {reason}")
        if self.warnings:
            lines.append(f"{len(self.warnings)} warning(s).")
        return "\n".join(lines)

    def show(self, limit: int = 10) -> None:
        """Print the summary plus the first ``limit`` skipped files and warnings."""
        print(self.summary())
        for title, items in (("Skipped", self.skipped), ("Warnings", self.warnings)):
            if items:
                print(f"{title} (first {min(limit, len(items))} of {len(items)}):")
                for item in items[:limit]:
                    print(f"  {item}")


class InvalidRecord(Exception):
    """An annotation that cannot become a Record (reason, detail)."""


def id_sort_key(unique_id: str) -> tuple[int, int, str]:
    """Numeric ids in numeric order, then the others alphabetically."""
    return (0, int(unique_id), "") if unique_id.isdigit() else (1, 0, unique_id)


def normalize_caption(caption: str) -> str:
    """Collapse runs of whitespace to single spaces and strip the ends."""
    return " ".join(caption.split())


def load_records(*roots: Path, progress: bool = False) -> LoadReport:
    """Pair images and ``.json`` annotations by file stem anywhere under ``roots`` and validate.

    Every good pair becomes a ``Record``; every bad file is reported in ``LoadReport.skipped``.
    Files of other types are ignored. Raises ``DatasetError`` when nothing usable remains.
    """
    missing = [str(root) for root in roots if not Path(root).is_dir()]
    if missing:
        raise DatasetError(f"Data folder(s) not found: {', '.join(missing)}")
    report = LoadReport(records=[])
    images = files_by_stem(roots, IMAGE_SUFFIXES, report.skipped)
    annotations = files_by_stem(roots, {".json"}, report.skipped)
    for files, others, reason in (
        (images, annotations, "image without annotation"),
        (annotations, images, "annotation without image"),
    ):
        report.skipped += [SkippedItem(files[s], reason) for s in files.keys() - others.keys()]

    candidates = []
    for stem in sorted(images.keys() & annotations.keys(), key=id_sort_key):
        try:
            candidates.append(parse_record(stem, images[stem], annotations[stem], report.warnings))
        except InvalidRecord as err:
            report.skipped.append(SkippedItem(annotations[stem], *err.args))
    paths = [record.image_path for record in candidates]
    with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
        checks = pool.map(image_problem, paths)
        problems = list(tqdm(checks, total=len(paths), desc="check images", disable=not progress))
    for record, problem in zip(candidates, problems, strict=True):
        if problem:
            report.skipped.append(SkippedItem(record.image_path, *problem))
        else:
            report.records.append(record)

    if not report.records:
        first = "\n  ".join(map(str, report.skipped[:10])) or "(no image or .json files)"
        raise DatasetError(
            f"No usable image/caption pairs under {', '.join(map(str, roots))}. "
            f"First problems:\n  {first}"
        )
    report.skipped.sort(key=lambda item: str(item.path))
    return report


def files_by_stem(
    roots: Sequence[Path], suffixes: Iterable[str], skipped: list[SkippedItem]
) -> dict[str, Path]:
    """Files with these suffixes under ``roots`` by stem: the first one per stem (sorted path
    order); later ones are reported in ``skipped`` as duplicates."""
    found: dict[str, Path] = {}
    for root in roots:
        for path in sorted(Path(root).rglob("*")):
            parts = path.relative_to(root).parts
            if (
                path.suffix.lower() not in suffixes
                or any(part.startswith(".") or part in JUNK_DIRS for part in parts)
                or not path.is_file()
            ):
                continue
            if path.stem in found:
                skipped.append(
                    SkippedItem(path, "duplicate id", f"already have {found[path.stem]}")
                )
            else:
                found[path.stem] = path
    return found


def parse_record(stem: str, image_path: Path, json_path: Path, warn: list[str]) -> Record:
    """A ``Record`` from one annotation file; raises ``InvalidRecord`` (reason, detail)."""
    try:
        raw = json_path.read_bytes()
    except OSError as err:
        raise InvalidRecord("unreadable annotation", str(err)) from err
    if not raw.strip():
        raise InvalidRecord("annotation file is empty")
    try:
        data = json.loads(raw)
    except ValueError as err:
        raise InvalidRecord("invalid JSON", str(err)) from err
    if not isinstance(data, dict):
        raise InvalidRecord("annotation is not a JSON object", f"got {type(data).__name__}")
    caption = data.get("caption")
    if caption is None:
        raise InvalidRecord("missing caption")
    if not isinstance(caption, str):
        raise InvalidRecord("caption is not a string", f"got {type(caption).__name__}")
    if not caption.strip():
        raise InvalidRecord("empty caption")
    if str(data.get("uniqueID", stem)) != stem:
        warn.append(f"{json_path}: uniqueID {data['uniqueID']!r} differs from the file name")
    frame_id = data.get("frameID")
    if frame_id in (None, ""):
        warn.append(f"{json_path}: no frameID; the record is its own split group")
        frame_id = stem
    return Record(
        unique_id=stem,
        frame_id=str(frame_id),
        image_path=image_path,
        caption=normalize_caption(caption),
        label=_string_tuple(data, "label"),
        activity_type=_string_tuple(data, "activity_type"),
        atmospheric_fringes=int_field(data, "atmospheric_fringes"),
        orbital_fringes=int_field(data, "orbital_fringes"),
        low_coherence=int_field(data, "low_coherence"),
        primary_date=str(data.get("primary_date") or ""),
        secondary_date=str(data.get("secondary_date") or ""),
        synthetic=data.get("synthetic") is True,
        annotation=data,
    )


def _string_tuple(data: dict[str, Any], key: str) -> tuple[str, ...]:
    """A list of strings (a lone string or a missing field are tolerated)."""
    value = data.get(key)
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise InvalidRecord(f"wrong type for {key}", f"expected a list of strings, got {value!r}")


def int_field(data: dict[str, Any], key: str) -> int:
    """An integer flag (missing = 0; integral floats and digit strings are tolerated)."""
    value = data.get(key)
    if value is None:
        return 0
    if isinstance(value, (int, float)) and float(value).is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    raise InvalidRecord(f"wrong type for {key}", f"expected an integer, got {value!r}")


def image_problem(path: Path) -> tuple[str, ...] | None:
    """``None`` when the image decodes completely, else (reason, detail)."""
    try:
        if path.stat().st_size == 0:
            return ("image file is empty",)
        with Image.open(path) as image:
            image.load()
    except Exception as err:  # PIL raises many exception types for damaged files
        return ("unreadable image", f"{type(err).__name__}: {err}")
    return None


def unique_captions(records: Iterable[Record]) -> list[Record]:
    """Keep the first record (by id) of each distinct caption.

    Captions are compared case-insensitively after collapsing whitespace, so "No deformation."
    and "no  deformation." count as the same caption.
    """
    seen: set[str] = set()
    kept = []
    for record in sorted(records, key=lambda r: id_sort_key(r.unique_id)):
        key = normalize_caption(record.caption).casefold()
        if key not in seen:
            seen.add(key)
            kept.append(record)
    return kept


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


@dataclass
class PreparedData:
    """Validated records, the split, the load report, and whether the data is synthetic."""

    records_by_id: dict[str, Record]
    split: Split
    report: LoadReport
    synthetic: bool
    max_test_samples: int | None = None

    @property
    def train(self) -> list[Record]:
        return [self.records_by_id[i] for i in self.split.train]

    @property
    def val(self) -> list[Record]:
        return [self.records_by_id[i] for i in self.split.val]

    @property
    def test(self) -> list[Record]:
        """The test records, capped to the first ``max_test_samples`` ids (sorted)."""
        return [self.records_by_id[i] for i in self.split.test[: self.max_test_samples]]


def prepare_dataset(cfg: CaptionConfig, *, progress: bool = True) -> PreparedData:
    """Unzip, validate, filter and split the data in ``cfg.data_dir``.

    Uses ``images.zip`` + ``annotations.zip`` there; when both are missing, writes the synthetic
    stand-in set there first (announced loudly). The split is saved to ``split.json`` and reused
    while the parameters and the set of records stay the same.
    """
    data_dir = Path(cfg.data_dir)
    zips = [data_dir / "images.zip", data_dir / "annotations.zip"]
    missing = [z for z in zips if not z.is_file()]
    generated = len(missing) == 2
    if generated:
        write_synthetic_dataset(data_dir, cfg.synthetic_samples, seed=cfg.seed, progress=progress)
    elif missing:
        found = next(z for z in zips if z not in missing)
        raise DatasetError(
            f"{missing[0]} is missing (found {found.name}). "
            f"Put both images.zip and annotations.zip in {data_dir}; see {DATASET_README}."
        )
    folders = [extract_zip(z, data_dir / "extracted" / z.stem, progress=progress) for z in zips]
    report = load_records(*folders, progress=progress)
    synthetic = generated or any(map(_has_marker, zips)) or any(r.synthetic for r in report.records)
    if synthetic:
        _announce_synthetic(data_dir, generated, len(report.records))
    report.show()
    records = unique_captions(report.records) if cfg.unique_captions else report.records
    if cfg.unique_captions:
        print(f"Unique captions: kept {len(records)} of {len(report.records)} records.")
    split = _load_or_make_split(records, cfg, data_dir / "split.json")
    print(f"Split: {len(split.train)} train, {len(split.val)} val, {len(split.test)} test.")
    return PreparedData(
        {r.unique_id: r for r in records}, split, report, synthetic, cfg.max_test_samples
    )


def _has_marker(zip_path: Path) -> bool:
    with zipfile.ZipFile(zip_path) as archive:
        return any(Path(name).name == SYNTHETIC_MARKER for name in archive.namelist())


def _announce_synthetic(data_dir: Path, generated: bool, count: int) -> None:
    why = (
        f"images.zip and annotations.zip were missing: wrote {count} synthetic samples"
        if generated
        else f"The zips hold {count} synthetic samples"
    )
    message = (
        "SYNTHETIC STAND-IN DATA, not Hephaestus!\n"
        f"{why} (made by helpers.synthetic)\n"
        f"in {data_dir}.\n"
        "Results on it say nothing about real InSAR interferograms.\n"
        "For real data: put the real images.zip and annotations.zip in Hephaestus_dataset/\n"
        f"and use the full profile (see {DATASET_README})."
    )
    lines = message.splitlines()
    width = max(map(len, lines))
    border = "#" * (width + 6)
    print("\n".join([border, *(f"## {line:<{width}} ##" for line in lines), border]))
    warnings.warn(message, UserWarning, stacklevel=3)


def _load_or_make_split(records: list[Record], cfg: CaptionConfig, path: Path) -> Split:
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
