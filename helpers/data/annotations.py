"""The Hephaestus annotation schema: one JSON object -> typed values, read once.

Every field the rest of ``helpers`` uses is read here and nowhere else (``helpers.data.records``
turns the values into a ``Record``). The rules follow the official release's README and code:

- ``label``, ``activity_type``, ``intensity_level``: lists of strings; a lone string counts as a
  one-item list, compared exactly (``"Non_Deformation"`` is not ``"Deformation"``).
  ``activity_type`` has one entry per deformation pattern, aligned with ``segmentation_mask``.
- ``atmospheric_fringes``: an integer 0-3; the 0/1 flags (``corrupted``, ``is_crowd``...) become
  booleans. ``null`` reads as 0 / False, like a missing field.
- ``phase`` a string, ``confidence`` a number, ``primary_date`` / ``secondary_date`` "YYYYMMDD".
- ``segmentation_mask``: a list of flat ``[x1, y1, x2, y2, ...]`` polygons (a single flat list
  is one polygon).

A value of the wrong type raises ``InvalidRecord`` (the record is skipped and reported); a
missing optional field gets its default and is counted in ``missing`` (reported once per field).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

LABELS = ("Deformation", "Non_Deformation")
ACTIVITY_TYPES = ("Mogi", "Dyke", "Sill", "Spheroid", "Earthquake", "Unidentified")
FLAGS = (
    "corrupted",
    "processing_error",
    "glacier_fringes",
    "orbital_fringes",
    "low_coherence",
    "no_info",
    "image_artifacts",
    "is_crowd",
)
MAX_ATMOSPHERIC_LEVEL = 3
Polygon = tuple[float, ...]


class InvalidRecord(Exception):
    """An annotation that cannot become a Record (reason, detail)."""


def string_list(data: dict[str, Any], key: str) -> tuple[str, ...]:
    """A list of strings, stripped; a lone string is one item; missing or null is empty."""
    value = data.get(key)
    if value is None:
        return ()
    if isinstance(value, str):
        value = [value]
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return tuple(item.strip() for item in value if item.strip())
    raise InvalidRecord(f"wrong type for {key}", f"expected a list of strings, got {value!r:.120}")


def labels(data: dict[str, Any]) -> tuple[str, ...]:
    """``label`` as a tuple of the two known labels; anything else is an invalid record."""
    found = string_list(data, "label")
    unknown = [label for label in found if label not in LABELS]
    if unknown:
        raise InvalidRecord("unknown label", f"{unknown!r}; expected {' or '.join(LABELS)}")
    return found


def activity_types(data: dict[str, Any]) -> tuple[str, ...]:
    """``activity_type`` with known names in their canonical spelling (``"dyke"`` -> ``"Dyke"``);
    unknown names are kept as written."""
    canonical = {name.lower(): name for name in ACTIVITY_TYPES}
    return tuple(canonical.get(name.lower(), name) for name in string_list(data, "activity_type"))


def integer(data: dict[str, Any], key: str) -> int:
    """An integer (missing or null = 0; integral floats and digit strings are tolerated)."""
    value = data.get(key)
    if value is None:
        return 0
    if isinstance(value, (int, float)) and float(value).is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    raise InvalidRecord(f"wrong type for {key}", f"expected an integer, got {value!r:.120}")


def flag(data: dict[str, Any], key: str) -> bool:
    """A 0/1 flag as a boolean (missing or null = False)."""
    return integer(data, key) != 0


def atmospheric_level(data: dict[str, Any]) -> int:
    """``atmospheric_fringes``, 0 (none) to 3."""
    level = integer(data, "atmospheric_fringes")
    if not 0 <= level <= MAX_ATMOSPHERIC_LEVEL:
        raise InvalidRecord(
            "wrong value for atmospheric_fringes",
            f"expected 0-{MAX_ATMOSPHERIC_LEVEL}, got {level}",
        )
    return level


def text(data: dict[str, Any], key: str) -> str:
    """A string field (numbers such as an unquoted date are turned into text); missing = ""."""
    value = data.get(key)
    if value is None:
        return ""
    if isinstance(value, (str, int)) and not isinstance(value, bool):
        return str(value).strip()
    raise InvalidRecord(f"wrong type for {key}", f"expected a string, got {value!r:.120}")


def confidence(data: dict[str, Any]) -> float | None:
    """``confidence`` as a float; missing or null = None (unknown)."""
    value = data.get("confidence")
    if value is None:
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    raise InvalidRecord("wrong type for confidence", f"expected a number, got {value!r:.120}")


def polygons(data: dict[str, Any]) -> tuple[Polygon, ...]:
    """``segmentation_mask`` as flat (x1, y1, x2, y2, ...) polygons in image pixels; empty
    polygons are dropped."""
    mask = data.get("segmentation_mask") or []
    if isinstance(mask, list) and mask and not any(isinstance(item, list) for item in mask):
        mask = [mask]
    if not isinstance(mask, list) or not all(_is_polygon(item) for item in mask):
        raise InvalidRecord(
            "invalid segmentation_mask",
            f"expected flat [x1, y1, x2, y2, ...] lists, got {mask!r:.120}",
        )
    return tuple(tuple(float(v) for v in polygon) for polygon in mask if polygon)


def _is_polygon(value: Any) -> bool:
    return (
        isinstance(value, list)
        and len(value) % 2 == 0
        and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)
    )


# field name in the JSON -> (Record attribute, reader); the caption and ids are read by records
_READERS: dict[str, tuple[str, Callable[[dict[str, Any]], Any]]] = {
    "label": ("label", labels),
    "activity_type": ("activity_type", activity_types),
    "intensity_level": ("intensity_level", lambda d: string_list(d, "intensity_level")),
    "phase": ("phase", lambda d: text(d, "phase")),
    "confidence": ("confidence", confidence),
    "atmospheric_fringes": ("atmospheric_fringes", atmospheric_level),
    "segmentation_mask": ("segmentation_mask", polygons),
    "primary_date": ("primary_date", lambda d: text(d, "primary_date")),
    "secondary_date": ("secondary_date", lambda d: text(d, "secondary_date")),
    **{name: (name, lambda d, name=name: flag(d, name)) for name in FLAGS},
}
OPTIONAL_FIELDS = tuple(_READERS)


def typed_fields(data: dict[str, Any], missing: list[str]) -> dict[str, Any]:
    """Every optional schema field of ``data`` as ``Record`` keyword arguments.

    Appends the names of absent fields to ``missing``; raises ``InvalidRecord`` for a wrong type.
    """
    fields = {}
    for key, (attribute, read) in _READERS.items():
        if key not in data:
            missing.append(key)
        fields[attribute] = read(data)
    return fields
