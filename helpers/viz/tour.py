"""Looking at the dataset: a table of every record with its split, and sample images."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd

from helpers.data.prepare import PreparedData


def records_table(data: PreparedData) -> pd.DataFrame:
    """One row per record: id, frame, split, caption, its length, and the annotated facts."""
    split_of = {i: name for name in ("train", "val", "test") for i in getattr(data.split, name)}
    rows = [
        {
            "image_id": record.unique_id,
            "frame_id": record.frame_id,
            "split": split_of.get(record.unique_id, "unused"),
            "caption": record.caption,
            "caption_words": len(record.caption.split()),
            "deformation": record.has_deformation,
            "activity_type": "+".join(record.activity_type) or "none",
            "atmospheric_fringes": record.atmospheric_fringes,
            "image_path": record.image_path,
        }
        for record in data.records_by_id.values()
    ]
    return pd.DataFrame(rows)


def sample_image_folder(data: PreparedData, folder: Path, count: int = 4) -> Path:
    """Copy the first ``count`` test images into ``folder`` (a scratch folder to caption)."""
    folder.mkdir(parents=True, exist_ok=True)
    for record in data.test[:count]:
        shutil.copy2(record.image_path, folder / record.image_path.name)
    return folder
