"""Hephaestus data: unzip, parse, validate, filter and split.

The usual entry point is ``prepare_dataset(cfg)``; the pieces are usable on their own::

    report = load_records(Path("my_images"), Path("my_annotations"))
    report.show()                                  # what was skipped and why
    records = unique_captions(report.records)
    split = split_by_frame(records, val_fraction=0.1, test_fraction=0.1, seed=42)

The pieces live in ``helpers.records`` (records, validation) and ``helpers.splits``; they are
re-exported here. Batches for a model: ``helpers.batching``.
"""

from __future__ import annotations

import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path

from helpers.config import CaptionConfig
from helpers.data_extract import extract_zip
from helpers.records import (
    IMAGE_SUFFIXES,
    DatasetError,
    LoadReport,
    Record,
    SkippedItem,
    load_records,
    normalize_caption,
    unique_captions,
)
from helpers.splits import Split, load_or_make_split, load_split, save_split, split_by_frame
from helpers.synthetic import SYNTHETIC_MARKER, write_synthetic_dataset

DATASET_README = "Hephaestus_dataset/README.md"


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
    split = load_or_make_split(records, cfg, data_dir / "split.json")
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


__all__ = [  # prepare_dataset and, re-exported, the pieces users call most
    "IMAGE_SUFFIXES",
    "DATASET_README",
    "DatasetError",
    "LoadReport",
    "PreparedData",
    "Record",
    "SkippedItem",
    "Split",
    "load_records",
    "load_split",
    "normalize_caption",
    "prepare_dataset",
    "save_split",
    "split_by_frame",
    "unique_captions",
]
