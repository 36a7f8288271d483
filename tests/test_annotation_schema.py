"""The one annotation parser: typed Record fields, lone strings, nulls and missing fields."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from helpers.data.annotations import OPTIONAL_FIELDS
from helpers.data.records import load_records
from helpers.data.synthetic import generate_samples, png_bytes

FULL = {  # every field of the schema, as the official README example has them
    "uniqueID": 1,
    "frameID": "103A_07010_121313",
    "primary_date": "20200101",
    "secondary_date": "20200113",
    "corrupted": 0,
    "processing_error": 1,
    "glacier_fringes": 0,
    "orbital_fringes": 1,
    "low_coherence": 0,
    "no_info": 0,
    "image_artifacts": 1,
    "is_crowd": 1,
    "atmospheric_fringes": 2,
    "label": ["Deformation"],
    "activity_type": ["Mogi", "Dyke"],
    "intensity_level": ["High", "Low"],
    "phase": "Unrest",
    "confidence": 0.8,
    "segmentation_mask": [[1, 2, 3, 4, 5, 6], [10, 10, 20, 10, 20, 20]],
    "caption": "Two deformation patterns can be detected.",
}


def load_one(tmp_path: Path, annotation: dict):
    image = next(generate_samples(1, seed=0, image_size=16)).image
    (tmp_path / "1.png").write_bytes(png_bytes(image))
    (tmp_path / "1.json").write_text(json.dumps(annotation))
    return load_records(tmp_path)


def test_every_schema_field_is_typed(tmp_path: Path) -> None:
    report = load_one(tmp_path, FULL)
    (record,) = report.records
    assert record.label == ("Deformation",) and record.has_deformation
    assert record.activity_type == ("Mogi", "Dyke")
    assert record.intensity_level == ("High", "Low")
    assert (record.phase, record.confidence, record.atmospheric_fringes) == ("Unrest", 0.8, 2)
    assert record.processing_error is True and record.corrupted is False
    assert (record.orbital_fringes, record.image_artifacts, record.is_crowd) == (True,) * 3
    assert (record.glacier_fringes, record.low_coherence, record.no_info) == (False,) * 3
    assert record.segmentation_mask == ((1, 2, 3, 4, 5, 6), (10, 10, 20, 10, 20, 20))
    assert record.polygon_count == 2
    assert (record.primary_date, record.secondary_date) == ("20200101", "20200113")
    assert not report.missing_fields


def test_lone_strings_are_one_item_and_compared_exactly(tmp_path: Path) -> None:
    ann = {**FULL, "label": "Non_Deformation", "activity_type": "Dyke", "intensity_level": "Low"}
    (record,) = load_one(tmp_path, ann).records
    # a substring test would read "Non_Deformation" as deformation, and "Dyke" letter by letter
    assert record.label == ("Non_Deformation",) and not record.has_deformation
    assert record.activity_type == ("Dyke",)
    assert record.intensity_level == ("Low",)


def test_activity_type_spelling_is_made_canonical(tmp_path: Path) -> None:
    (record,) = load_one(tmp_path, {**FULL, "activity_type": ["mogi", " SILL", "Other"]}).records
    assert record.activity_type == ("Mogi", "Sill", "Other")


def test_null_flags_and_missing_optional_fields_get_defaults_and_are_reported(
    tmp_path: Path,
) -> None:
    ann = {"uniqueID": 1, "frameID": "F", "caption": "A caption.", "corrupted": None, "phase": None}
    ann.update(atmospheric_fringes=None, confidence=None, label=None)
    report = load_one(tmp_path, ann)
    (record,) = report.records
    assert record.corrupted is False and record.atmospheric_fringes == 0
    assert record.phase == "" and record.confidence is None and record.label == ()
    assert record.segmentation_mask == () and record.polygon_count == 0
    absent = set(OPTIONAL_FIELDS) - {"corrupted", "phase", "atmospheric_fringes"}
    absent -= {"confidence", "label"}
    assert set(report.missing_fields) == absent
    assert all(count == 1 for count in report.missing_fields.values())
    assert "Fields absent, read as their defaults" in report.summary()
    assert "segmentation_mask (1)" in report.summary()


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("label", ["Deformed"], "unknown label"),
        ("label", "deformation", "unknown label"),
        ("atmospheric_fringes", 4, "wrong value for atmospheric_fringes"),
        ("confidence", "high", "wrong type for confidence"),
        ("segmentation_mask", [[1, 2, 3]], "invalid segmentation_mask"),
        ("is_crowd", "yes", "wrong type for is_crowd"),
        ("phase", ["Rest"], "wrong type for phase"),
    ],
)
def test_wrong_values_skip_the_record_with_the_reason(
    tmp_path: Path, field: str, value, reason: str
) -> None:
    (tmp_path / "2.png").write_bytes(png_bytes(next(generate_samples(1, 0, 16)).image))
    (tmp_path / "2.json").write_text(json.dumps({**FULL, "uniqueID": 2}))  # a good record stays
    report = load_one(tmp_path, {**FULL, field: value})
    assert [r.unique_id for r in report.records] == ["2"]
    (skipped,) = report.skipped
    assert skipped.path.name == "1.json" and skipped.reason == reason
