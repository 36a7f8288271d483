"""Hephaestus data: unzip, parse, validate, filter and split.

The usual entry point is ``prepare_dataset(cfg)``; the pieces are usable on their own::

    report = load_records(Path("my_images"), Path("my_annotations"))
    report.show()                                  # what was skipped and why
    records = unique_captions(report.records)
    split = split_by_frame(records, val_fraction=0.1, test_fraction=0.1, seed=42)

The pieces live in ``helpers.data.records`` (records, validation) and ``helpers.data.splits``; they
are re-exported here. Batches for a model: ``helpers.data.batching``.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass
from pathlib import Path

from helpers.config import REAL_DATA_FOLDER, CaptionConfig, workspace
from helpers.data.archives import extract_zip, open_zip
from helpers.data.layouts import LAYOUTS_HELP, DataLayout, find_layout
from helpers.data.records import (
    IMAGE_SUFFIXES,
    DatasetError,
    LoadReport,
    Record,
    SkippedItem,
    load_records,
    normalize_caption,
    unique_captions,
)
from helpers.data.splits import (
    Split,
    load_or_make_split,
    load_split,
    save_split,
    split_by_frame,
    split_table,
)
from helpers.data.synthetic import SYNTHETIC_MARKER, write_synthetic_dataset

log = logging.getLogger(__name__)

DATASET_README = "Hephaestus_dataset/README.md"
INTEL_DATA_FOLDER = "Finetune_Image_Captioning/Hephaestus_dataset"
BUILDER_COMMAND = (
    "uv run python -m helpers.data.release --annotations <annotations folder> "
    "--raw <raw InSAR tree> --out Hephaestus_dataset --unique-captions --exclude-corrupted"
)


@dataclass
class PreparedData:
    """Validated records, the split, the load report, and whether the data is synthetic."""

    records_by_id: dict[str, Record]
    split: Split
    report: LoadReport
    synthetic: bool
    max_test_samples: int | None = None
    layout: DataLayout | None = None

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
    """Find, extract, validate, filter and split the data in ``cfg.data_dir``.

    The layouts accepted are listed in ``helpers.data.layouts`` (Intel's zips, one ``images.zip``,
    or extracted ``images/`` + ``annotations/`` folders, read in place). The ``full`` profile only
    ever reads real data: with none in ``cfg.data_dir`` it raises ``DatasetError`` saying where to
    get it, and it refuses synthetic files found there. The stand-in profiles generate the
    synthetic set into their own (empty) folder when it holds no data. The split is saved to
    ``split.json`` and reused while its rule, parameters and records stay the same.
    """
    data_dir = Path(cfg.data_dir)
    layout = find_layout(data_dir)
    generated = False
    if layout is None:
        if cfg.profile == "full":
            raise DatasetError(no_real_data_message(data_dir))
        _check_stand_in_folder(data_dir)
        write_synthetic_dataset(data_dir, cfg.synthetic_samples, seed=cfg.seed, progress=progress)
        generated = True
        layout = find_layout(data_dir)
        assert layout is not None
    log.info(f"Data layout: {layout.describe()}")
    marked = _synthetic_marker(layout)
    if cfg.profile == "full" and marked is not None:
        raise DatasetError(synthetic_in_real_folder_message(marked))
    if layout.kind == "zips":
        extracted = data_dir / "extracted"
        folders = [extract_zip(z, extracted / z.stem, progress=progress) for z in layout.sources]
    else:
        folders = list(layout.sources)
    report = load_records(*folders, progress=progress)
    fake = [r for r in report.records if r.synthetic]
    if cfg.profile == "full" and fake:
        raise DatasetError(synthetic_in_real_folder_message(fake[0].image_path))
    synthetic = generated or marked is not None or bool(fake)
    if synthetic:
        _announce_synthetic(data_dir, generated, len(report.records))
    report.show()
    records = unique_captions(report.records) if cfg.unique_captions else report.records
    if cfg.unique_captions:
        log.info(f"Unique captions: kept {len(records)} of {len(report.records)} records.")
    split = load_or_make_split(records, cfg, data_dir / "split.json")
    prepared = PreparedData(
        {r.unique_id: r for r in records}, split, report, synthetic, cfg.max_test_samples, layout
    )
    log.info(split_table(split, prepared.records_by_id).to_string())
    return prepared


def no_real_data_message(data_dir: Path) -> str:
    """What ``full`` says when ``data_dir`` holds no data: where to get it, or the demo."""
    return (
        f"No Hephaestus data in {data_dir}.\n"
        f"The full profile trains on the real dataset only. Either:\n"
        f"  - copy Intel's subset there: images_set1.zip ... images_set4.zip and annotations.zip "
        f"from the repository intel/AI-PC-Samples, folder {INTEL_DATA_FOLDER} (stored with "
        "git-lfs: run `git lfs pull` after cloning);\n"
        "  - or build the zips from the official release (Orion-AI-Lab/Hephaestus):\n"
        f"      {BUILDER_COMMAND}\n"
        "  - or run offline on synthetic stand-in data: set CAPTION_PROFILE=demo "
        '(or load_config("demo")).\n'
        f"{LAYOUTS_HELP}\nSee {DATASET_README}."
    )


def synthetic_in_real_folder_message(path: Path) -> str:
    return (
        f"{path} is synthetic stand-in data (made by helpers.data.synthetic), not Hephaestus: the "
        "full profile refuses it. It got there from an older version of this project, which "
        "generated the stand-in into Hephaestus_dataset/ when the real zips were missing, or from "
        "running `python -m helpers.data.synthetic` with that folder as output. It is safe to "
        f"delete (images.zip, annotations.zip, extracted/ and split.json in {path.parent}); the "
        "stand-in profiles keep their own copy in Hephaestus_dataset/synthetic-<profile>/."
    )


def _synthetic_marker(layout: DataLayout) -> Path | None:
    """The first source (zip or folder) holding the synthetic marker file, if any."""
    for source in layout.sources:
        if source.is_file():
            with open_zip(source) as archive:
                if any(Path(name).name == SYNTHETIC_MARKER for name in archive.namelist()):
                    return source
        elif any(source.rglob(SYNTHETIC_MARKER)):
            return source
    return None


def _check_stand_in_folder(data_dir: Path) -> None:
    """Refuse to generate the synthetic set into the real data folder."""
    real = (workspace() / REAL_DATA_FOLDER).resolve()
    if data_dir.resolve() == real:
        raise DatasetError(
            f"Not writing synthetic stand-in data into the real data folder {data_dir}. "
            "The stand-in profiles keep theirs in Hephaestus_dataset/synthetic-<profile>/: "
            "leave data_dir at the profile's default."
        )


def _announce_synthetic(data_dir: Path, generated: bool, count: int) -> None:
    why = (
        f"{data_dir} held no data: wrote {count} synthetic samples"
        if generated
        else f"The data holds {count} synthetic samples"
    )
    message = (
        "SYNTHETIC STAND-IN DATA, not Hephaestus!\n"
        f"{why} (made by helpers.data.synthetic)\n"
        f"in {data_dir}.\n"
        "Results on it say nothing about real InSAR interferograms.\n"
        "For real data: put Intel's zips (or images/ + annotations/) in Hephaestus_dataset/\n"
        f"and use the full profile (see {DATASET_README})."
    )
    lines = message.splitlines()
    width = max(map(len, lines))
    border = "#" * (width + 6)
    log.info("\n".join([border, *(f"## {line:<{width}} ##" for line in lines), border]))
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
