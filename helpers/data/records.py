"""Records: pair images with annotation files, validate them, keep unique captions.

Usage::

    report = load_records(Path("my_images"), Path("my_annotations"))
    report.show()                                  # what was skipped and why
    records = unique_captions(report.records)
"""

from __future__ import annotations

import json
import logging
import os
from collections import Counter
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image
from tqdm.auto import tqdm

from helpers.data.annotations import InvalidRecord, Polygon, typed_fields
from helpers.data.archives import JUNK_DIRS

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp"})


class DatasetError(ValueError):
    """The data cannot be used as given (the message says which file or folder and why)."""


@dataclass(frozen=True)
class Record:
    """One interferogram with its annotation, every field typed (see ``helpers.data.annotations``
    for how each is read): the annotation file is parsed once, here, and nowhere else."""

    unique_id: str
    frame_id: str
    image_path: Path
    caption: str
    label: tuple[str, ...] = ()
    activity_type: tuple[str, ...] = ()  # one per deformation pattern
    intensity_level: tuple[str, ...] = ()
    phase: str = ""
    confidence: float | None = None
    atmospheric_fringes: int = 0  # 0 (none) to 3
    corrupted: bool = False
    processing_error: bool = False
    glacier_fringes: bool = False
    orbital_fringes: bool = False
    low_coherence: bool = False
    no_info: bool = False
    image_artifacts: bool = False
    is_crowd: bool = False  # several deformation patterns
    segmentation_mask: tuple[Polygon, ...] = ()
    primary_date: str = ""
    secondary_date: str = ""
    synthetic: bool = False

    @property
    def has_deformation(self) -> bool:
        """The label says ``Deformation`` (compared exactly, never as a substring)."""
        return "Deformation" in self.label

    @property
    def polygon_count(self) -> int:
        return len(self.segmentation_mask)


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
    # optional schema field -> how many kept records lacked it (read as its default)
    missing_fields: Counter[str] = field(default_factory=Counter)

    def summary(self) -> str:
        lines = [f"Loaded {len(self.records)} records, skipped {len(self.skipped)} file(s)."]
        for reason, count in self.skipped_by_reason().items():
            lines.append(f"  {count:6d} x {reason}")
        if self.missing_fields:
            absent = ", ".join(f"{name} ({n})" for name, n in self.missing_fields.most_common())
            lines.append(f"Fields absent, read as their defaults (records): {absent}.")
        if self.warnings:
            lines.append(f"{len(self.warnings)} warning(s).")
        return "\n".join(lines)

    def skipped_by_reason(self) -> dict[str, int]:
        return dict(Counter(item.reason for item in self.skipped).most_common())

    def show(self, limit: int = 10) -> None:
        """Report the summary plus the first ``limit`` skipped files and warnings."""
        lines = [self.summary()]
        for title, items in (("Skipped", self.skipped), ("Warnings", self.warnings)):
            if items:
                lines.append(f"{title} (first {min(limit, len(items))} of {len(items)}):")
                lines += [f"  {item}" for item in items[:limit]]
        log.info("\n".join(lines))


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

    candidates, absent = [], []
    for stem in sorted(images.keys() & annotations.keys(), key=id_sort_key):
        missing: list[str] = []
        try:
            record = parse_record(stem, images[stem], annotations[stem], report.warnings, missing)
        except InvalidRecord as err:
            report.skipped.append(SkippedItem(annotations[stem], *err.args))
        else:
            candidates.append(record)
            absent.append(missing)
    paths = [record.image_path for record in candidates]
    with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
        checks = pool.map(image_problem, paths)
        problems = list(tqdm(checks, total=len(paths), desc="check images", disable=not progress))
    for record, missing, problem in zip(candidates, absent, problems, strict=True):
        if problem:
            report.skipped.append(SkippedItem(record.image_path, *problem))
        else:
            report.records.append(record)
            report.missing_fields.update(missing)

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


def parse_record(
    stem: str,
    image_path: Path,
    json_path: Path,
    warn: list[str],
    missing: list[str] | None = None,
) -> Record:
    """A ``Record`` from one annotation file; raises ``InvalidRecord`` (reason, detail).

    Warnings go to ``warn``; the optional schema fields the file lacks are appended to
    ``missing`` (they get their defaults)."""
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
        synthetic=data.get("synthetic") is True,
        **typed_fields(data, [] if missing is None else missing),
    )


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


def caption_key(caption: str) -> str:
    """What makes two captions the same for ``unique_captions``: case and spacing ignored."""
    return normalize_caption(caption).casefold()


def unique_captions(records: Iterable[Record]) -> list[Record]:
    """Keep the first record (by id) of each distinct caption.

    Captions are compared case-insensitively after collapsing whitespace, so "No deformation."
    and "no  deformation." count as the same caption.
    """
    seen: set[str] = set()
    kept = []
    for record in sorted(records, key=lambda r: id_sort_key(r.unique_id)):
        key = caption_key(record.caption)
        if key not in seen:
            seen.add(key)
            kept.append(record)
    return kept
