"""Build ``images.zip`` + ``annotations.zip`` from the official Hephaestus release.

The release (Orion-AI-Lab/Hephaestus on GitHub) comes as an annotation folder, one
``<uniqueID>.json`` per InSAR, and the raw InSAR tree
``<frameID>/interferograms/<primary_date>_<secondary_date>/``. In that folder the InSAR is
``<primary>_<secondary>.geo.diff.png`` (the LiCSAR name the official code reads) or ``InSAR.png``
(the name the release's README gives); the coherence is ``<primary>_<secondary>.geo.cc.png`` or
``Coherence.png``. Both namings are accepted (see ``find_raw_files``). ``build_release_zips``
pairs them and writes this project's layout (``images/<uniqueID>.png``, each image resized to a
square, and ``annotations/<uniqueID>.json``, the original file byte for byte) plus
``manifest.json``: what was kept, and every skipped annotation file with the reason.

Records are validated exactly as ``helpers.data.records.load_records`` will validate them later
(non-empty caption, readable image, ...). Options: ``unique_captions`` keeps one record per
distinct caption with ``helpers.data.records.unique_captions`` (the Intel sample's subset),
``exclude_corrupted`` drops records flagged ``corrupted`` or ``no_info``, and
``crop_to_deformation`` crops around the annotated polygons before resizing (see ``crop_box``).
The source folders are only read.

Command line::

    uv run python -m helpers.data.release --annotations annotations \\
        --raw Hephaestus_Raw --out Hephaestus_dataset --unique-captions
"""

from __future__ import annotations

import json
import logging
import os
import zipfile
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
from PIL import Image
from tqdm.auto import tqdm

from helpers.data import records, synthetic
from helpers.data.annotations import InvalidRecord, polygons
from helpers.data.records import DatasetError, LoadReport, Record, SkippedItem
from helpers.files import replaced_together, write_zip_entry

log = logging.getLogger(__name__)

INSAR_NAMES = ("{dates}.geo.diff.png", "InSAR.png")  # LiCSAR name first, then the README's
COHERENCE_NAMES = ("{dates}.geo.cc.png", "Coherence.png")
OUTPUT_NAMES = ("images.zip", "annotations.zip", "manifest.json")
EXCLUDE_FLAGS = ("corrupted", "no_info")
LOCATION_FIELDS = ("frameID", "primary_date", "secondary_date")
CROP_MARGIN = 0.1  # of the polygons' bounding-box side, on each side
DUPLICATE_CAPTION = "duplicate caption dropped"
_DUPLICATE_DETAIL = "a record with a lower id has the same caption (case and whitespace ignored)"
_WORKERS = min(8, os.cpu_count() or 1)


@dataclass
class BuildResult:
    """The files written and what was kept (``report.records``; image paths point into the raw
    tree) or skipped (``report.skipped``, one item per annotation file left out)."""

    paths: tuple[Path, ...]  # images.zip, annotations.zip, manifest.json
    report: LoadReport

    def show(self, limit: int = 10) -> None:
        """Report what was kept and skipped, and the files written."""
        total = len(self.report.records) + len(self.report.skipped)
        log.info(f"Kept {len(self.report.records)} of {total} annotation files.")
        self.report.show(limit)
        log.info("\n".join(["Wrote:", *(f"  {path}" for path in self.paths)]))


@dataclass(frozen=True)
class RawFiles:
    """The files of one interferogram folder of the raw tree (``coherence`` may be absent)."""

    insar: Path | None
    coherence: Path | None


def find_raw_files(folder: Path) -> RawFiles:
    """The InSAR and coherence PNGs in ``<frameID>/interferograms/<primary>_<secondary>/``.

    Each is looked up under its LiCSAR name (``<primary>_<secondary>.geo.diff.png`` /
    ``.geo.cc.png``) first, then under the README's (``InSAR.png`` / ``Coherence.png``)."""

    def first(names: tuple[str, ...]) -> Path | None:
        candidates = (folder / name.format(dates=folder.name) for name in names)
        return next((path for path in candidates if path.is_file()), None)

    return RawFiles(insar=first(INSAR_NAMES), coherence=first(COHERENCE_NAMES))


def deformation_polygons(annotation: dict[str, Any]) -> list[list[float]]:
    """The ``segmentation_mask`` polygons of a raw annotation as lists (see
    ``helpers.data.annotations.polygons``); raises ``ValueError`` for a malformed mask."""
    try:
        return [list(polygon) for polygon in polygons(annotation)]
    except InvalidRecord as err:
        raise ValueError(f"segmentation_mask: {err.args[-1]}") from err


def crop_box(
    polygons: Sequence[Sequence[float]], width: int, height: int, min_side: int
) -> tuple[int, int, int, int]:
    """A square (left, top, right, bottom) inside a ``width`` x ``height`` image.

    It is centred on the polygons' bounding box (clipped to the image), with ``CROP_MARGIN`` of
    the box's longer side added on each side, at least ``min_side`` pixels (small patterns are
    not blown up) and at most the image's shorter side, shifted to stay inside the image. Without
    polygons it is the centred square of ``min_side`` pixels (or the shorter side if smaller).
    """
    xs = [min(max(x, 0.0), width) for polygon in polygons for x in polygon[0::2]]
    ys = [min(max(y, 0.0), height) for polygon in polygons for y in polygon[1::2]]
    x0, x1 = (min(xs), max(xs)) if xs else (width / 2, width / 2)
    y0, y1 = (min(ys), max(ys)) if ys else (height / 2, height / 2)
    side = max(x1 - x0, y1 - y0) * (1 + 2 * CROP_MARGIN)
    side = min(max(round(side), min_side), width, height)
    left = min(max(round((x0 + x1 - side) / 2), 0), width - side)
    top = min(max(round((y0 + y1 - side) / 2), 0), height - side)
    return left, top, left + side, top + side


def render_image(record: Record, size: int, crop_to_deformation: bool = False) -> bytes:
    """The record's InSAR as an RGB PNG of ``size`` x ``size`` (cropped first if asked)."""
    with Image.open(record.image_path) as image:
        rgb = image.convert("RGB")
    if crop_to_deformation:
        rgb = rgb.crop(crop_box(record.segmentation_mask, *rgb.size, size))
    resized = rgb.resize((size, size), Image.Resampling.LANCZOS)
    return synthetic.png_bytes(np.asarray(resized))


def build_release_zips(
    annotations_dir: Path,
    raw_dir: Path,
    out_dir: Path,
    *,
    unique_captions: bool = False,
    exclude_corrupted: bool = False,
    size: int = 224,
    crop_to_deformation: bool = False,
    overwrite: bool = False,
    progress: bool = True,
) -> BuildResult:
    """Write ``out_dir/images.zip``, ``annotations.zip`` and ``manifest.json`` from the release.

    Bad records (missing InSAR image, unreadable image, invalid JSON, missing or empty caption...)
    are skipped and reported; ``DatasetError`` when none is usable. Refuses an ``out_dir`` inside
    either source folder and existing outputs unless ``overwrite``. The outputs are written to
    temporary files and renamed at the end, so a crash never leaves a half-written zip.
    """
    annotations_dir, raw_dir, out_dir = Path(annotations_dir), Path(raw_dir), Path(out_dir)
    targets = _check_arguments(annotations_dir, raw_dir, out_dir, size, overwrite)
    report, json_paths = _select_records(
        annotations_dir, raw_dir, unique_captions, exclude_corrupted, progress
    )
    if not report.records:
        first = "\n  ".join(map(str, report.skipped[:10])) or "(no .json files)"
        raise DatasetError(
            f"No usable records in {annotations_dir} with images in {raw_dir}. "
            f"First problems:\n  {first}"
        )
    options = {
        "unique_captions": unique_captions,
        "exclude_corrupted": exclude_corrupted,
        "size": size,
        "crop_to_deformation": crop_to_deformation,
    }
    manifest = _manifest(report, annotations_dir, raw_dir, options)
    render = partial(render_image, size=size, crop_to_deformation=crop_to_deformation)
    _write_outputs(targets, report.records, json_paths, render, manifest, progress)
    return BuildResult(targets, report)


def _select_records(
    annotations_dir: Path,
    raw_dir: Path,
    unique_captions: bool,
    exclude_corrupted: bool,
    progress: bool,
) -> tuple[LoadReport, dict[str, Path]]:
    """Validate every annotation file and its InSAR, then filter; also return id -> JSON path."""
    report = LoadReport(records=[])
    json_paths = records.files_by_stem([annotations_dir], {".json"}, report.skipped)
    candidates = []
    for stem in sorted(json_paths, key=records.id_sort_key):
        notes: list[str] = []  # the parser's warnings, kept only for records that are kept
        try:
            candidates.append(_candidate(stem, json_paths[stem], raw_dir, exclude_corrupted, notes))
        except records.InvalidRecord as err:
            report.skipped.append(SkippedItem(json_paths[stem], *err.args))
        else:
            report.warnings += notes

    images = [record.image_path for record in candidates]
    usable = []
    with ThreadPoolExecutor(max_workers=_WORKERS) as pool:
        checks = pool.map(records.image_problem, images)
        problems = tqdm(checks, total=len(images), desc="check InSAR", disable=not progress)
        for record, problem in zip(candidates, problems, strict=True):
            if problem:
                detail = ": ".join((str(record.image_path), *problem[1:]))
                report.skipped.append(SkippedItem(json_paths[record.unique_id], problem[0], detail))
            else:
                usable.append(record)
    # duplicates are dropped among usable records only, so a broken record never wins a caption
    report.records = records.unique_captions(usable) if unique_captions else usable
    kept_ids = {record.unique_id for record in report.records}
    report.skipped += [
        SkippedItem(json_paths[r.unique_id], DUPLICATE_CAPTION, _DUPLICATE_DETAIL)
        for r in usable
        if r.unique_id not in kept_ids
    ]
    report.skipped.sort(key=lambda item: str(item.path))
    return report, json_paths


def _check_arguments(
    annotations_dir: Path, raw_dir: Path, out_dir: Path, size: int, overwrite: bool
) -> tuple[Path, ...]:
    """Fail fast on bad arguments; return the output paths."""
    if size < synthetic.MIN_IMAGE_SIZE:
        raise ValueError(f"size must be at least {synthetic.MIN_IMAGE_SIZE} px, got {size}")
    for name, folder in (("Annotation", annotations_dir), ("Raw InSAR", raw_dir)):
        if not folder.is_dir():
            raise DatasetError(f"{name} folder not found: {folder}")
        if out_dir.resolve().is_relative_to(folder.resolve()):
            raise DatasetError(
                f"Output folder {out_dir} is inside the source folder {folder}; "
                "the release is only read: choose an output folder outside it."
            )
    targets = tuple(out_dir / name for name in OUTPUT_NAMES)
    existing = [str(target) for target in targets if target.exists()]
    if existing and not overwrite:
        raise FileExistsError(
            f"{', '.join(existing)} already exist(s); pass overwrite=True (CLI: --overwrite) "
            "to replace them."
        )
    return targets


def _candidate(
    stem: str,
    json_path: Path,
    raw_dir: Path,
    exclude_corrupted: bool,
    warnings: list[str],
) -> Record:
    """Parse and check one annotation file and locate its InSAR; raises ``InvalidRecord``."""
    record = records.parse_record(stem, json_path, json_path, warnings)  # image located below
    for flag in EXCLUDE_FLAGS if exclude_corrupted else ():
        if getattr(record, flag):
            raise records.InvalidRecord(f"{flag} excluded")
    parts = [record.frame_id, record.primary_date, record.secondary_date]
    if not all(part not in ("", ".", "..") and PurePosixPath(part).name == part for part in parts):
        raise records.InvalidRecord(
            "cannot locate the InSAR", f"{', '.join(LOCATION_FIELDS)} = {parts}"
        )
    folder = raw_dir / parts[0] / "interferograms" / f"{parts[1]}_{parts[2]}"
    insar = find_raw_files(folder).insar
    if insar is None:
        names = " or ".join(name.format(dates=folder.name) for name in INSAR_NAMES)
        raise records.InvalidRecord("missing InSAR image", f"expected {names} in {folder}")
    return replace(record, image_path=insar)


def _manifest(
    report: LoadReport, annotations_dir: Path, raw_dir: Path, options: dict[str, Any]
) -> dict[str, Any]:
    reasons = Counter(item.reason for item in report.skipped)
    return {
        "annotations": str(annotations_dir),
        "raw": str(raw_dir),
        "options": options,
        "annotation_files": len(report.records) + len(report.skipped),
        "kept": len(report.records),
        "skipped": len(report.skipped),
        "skipped_by_reason": dict(reasons.most_common()),
        "kept_ids": [record.unique_id for record in report.records],
        "skipped_files": [
            {"file": str(item.path), "reason": item.reason, "detail": item.detail}
            for item in report.skipped
        ],
        "warnings": report.warnings,
    }


def _write_outputs(
    targets: tuple[Path, ...],
    records: list[Record],
    json_paths: dict[str, Path],
    render: Callable[[Record], bytes],
    manifest: dict[str, Any],
    progress: bool,
) -> None:
    """Render and zip every record into temporary files, then rename them all into place."""
    targets[0].parent.mkdir(parents=True, exist_ok=True)
    with replaced_together(targets) as temps:
        with (
            zipfile.ZipFile(temps[0], "w") as images,
            zipfile.ZipFile(temps[1], "w") as annotations,
            ThreadPoolExecutor(max_workers=_WORKERS) as pool,
        ):
            pngs = tqdm(
                pool.map(render, records), total=len(records), desc="write", disable=not progress
            )
            for record, png in zip(records, pngs, strict=True):
                stem = record.unique_id
                write_zip_entry(images, f"images/{stem}.png", png, zipfile.ZIP_STORED)
                raw_json = json_paths[stem].read_bytes()
                write_zip_entry(
                    annotations, f"annotations/{stem}.json", raw_json, zipfile.ZIP_DEFLATED
                )
        temps[2].write_text(json.dumps(manifest, indent=1))
