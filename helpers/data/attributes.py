"""The facts of an annotation as attribute targets, and the attribute prompt built from them.

Every Hephaestus annotation states facts a caption should repeat: is there deformation, of
which activity types, at which intensities, where in the frame (the sector of each polygon's
centroid, as captions say "on the north-eastern side"), and are there atmospheric fringes.
``attribute_targets`` turns a ``Record`` into one 0/1 value per entry of ``ATTRIBUTES``; the
attribute heads (``helpers.model.attributes``) learn to predict them from the image.

The attribute prompt gives the caption decoder those facts as words: one token per attribute,
the attribute's word when the fact holds and a filler when it does not, so every prompt has the
same length. In training the prompt comes from the annotation (teacher forcing); at test time
from what the heads predict. It is never part of the loss or of the scored caption.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from helpers.data.annotations import ACTIVITY_TYPES
from helpers.data.records import Record

INTENSITIES = ("Low", "Medium", "High")
# compass sectors counter-clockwise from east, as the captions name them, then the centre
SECTORS = (
    "eastern",
    "north-eastern",
    "northern",
    "north-western",
    "western",
    "south-western",
    "southern",
    "south-eastern",
    "central",
)
CENTRAL_RADIUS = 0.08  # a centroid this close to the middle (fraction of the frame) is "central"


@dataclass(frozen=True)
class Attribute:
    """One predicted fact: its name, its group (one-hot groups pick their most likely member) and
    the word its prompt token stands for."""

    name: str
    group: str
    word: str


ATTRIBUTES: tuple[Attribute, ...] = (
    Attribute("deformation", "deformation", "deformation"),
    *(Attribute(f"type:{kind}", "type", kind.lower()) for kind in ACTIVITY_TYPES),
    *(Attribute(f"intensity:{level}", "intensity", level.lower()) for level in INTENSITIES),
    *(Attribute(f"sector:{sector}", "sector", sector) for sector in SECTORS),
    Attribute("atmosphere", "atmosphere", "atmospheric"),
)
ATTRIBUTE_NAMES = tuple(attribute.name for attribute in ATTRIBUTES)
BINARY_GROUPS = ("deformation", "atmosphere")  # the others name which members hold


def sector_index(x: float, y: float) -> int:
    """The index in ``SECTORS`` of a point given as fractions of the frame (x right, y down,
    north up): one of eight 45-degree compass sectors, or "central" within ``CENTRAL_RADIUS``."""
    dx, dy = x - 0.5, 0.5 - y
    if math.hypot(dx, dy) < CENTRAL_RADIUS:
        return len(SECTORS) - 1
    return round(math.atan2(dy, dx) / (math.pi / 4)) % (len(SECTORS) - 1)


def sector_of(x: float, y: float) -> str:
    """The name of ``sector_index``'s sector ("north-eastern", ..., "central")."""
    return SECTORS[sector_index(x, y)]


def polygon_sector(polygon: Sequence[float], width: int, height: int) -> str:
    """The sector of a flat ``[x1, y1, x2, y2, ...]`` polygon's vertex centroid."""
    xs, ys = polygon[0::2], polygon[1::2]
    return sector_of(sum(xs) / len(xs) / width, sum(ys) / len(ys) / height)


def attribute_targets(record: Record, image_size: tuple[int, int]) -> tuple[float, ...]:
    """One 0/1 target per ``ATTRIBUTES`` entry. ``image_size`` is (width, height) in pixels,
    the frame the polygons are drawn in. A record without deformation has no type, intensity or
    sector; an "Unidentified" pattern still has its intensity and sector."""
    deforming = record.has_deformation
    facts = {"deformation"} if deforming else set()
    if deforming:
        facts |= {f"type:{kind}" for kind in record.activity_type}
        facts |= {f"intensity:{level}" for level in record.intensity_level}
        facts |= {
            f"sector:{polygon_sector(polygon, *image_size)}"
            for polygon in record.segmentation_mask
            if len(polygon) >= 2
        }
    if record.atmospheric_fringes > 0:
        facts.add("atmosphere")
    return tuple(float(name in facts) for name in ATTRIBUTE_NAMES)


def positive_rates(targets: Sequence[Sequence[float]]) -> tuple[float, ...]:
    """The share of samples for which each attribute holds (0.5 where there are no samples)."""
    if not targets:
        return (0.5,) * len(ATTRIBUTES)
    return tuple(sum(column) / len(targets) for column in zip(*targets, strict=True))


def decide(probabilities: Sequence[float], thresholds: Sequence[float]) -> tuple[bool, ...]:
    """Which facts to state, from the heads' probabilities.

    Deformation and atmosphere hold when their probability exceeds their threshold (the
    training rate: the decision that maximises balanced accuracy for calibrated heads). Without
    deformation nothing else about patterns holds; with it, each group (type, intensity,
    sector) names its most likely member and any other above 0.5."""
    by_name = dict(zip(ATTRIBUTE_NAMES, probabilities, strict=True))
    limits = dict(zip(ATTRIBUTE_NAMES, thresholds, strict=True))
    holds = {name: by_name[name] > limits[name] for name in BINARY_GROUPS}
    for group in ("type", "intensity", "sector"):
        members = [a.name for a in ATTRIBUTES if a.group == group]
        best = max(members, key=by_name.__getitem__)
        for name in members:
            holds[name] = holds["deformation"] and (name == best or by_name[name] > 0.5)
    return tuple(holds[name] for name in ATTRIBUTE_NAMES)


def prompt_vocabulary(tokenizer) -> tuple[tuple[int, ...], int]:
    """(the token id of each attribute's word, the filler id): one token per attribute, the
    word's first sub-word piece (its slot in the prompt tells the pieces apart)."""
    ids = tuple(tokenizer(a.word, add_special_tokens=False)["input_ids"][0] for a in ATTRIBUTES)
    return ids, tokenizer.pad_token_id


def prompt_ids(holds: Sequence[bool | float], word_ids: Sequence[int], filler_id: int) -> list[int]:
    """The attribute prompt of one sample: ``len(ATTRIBUTES)`` token ids."""
    return [word if bool(h) else filler_id for h, word in zip(holds, word_ids, strict=True)]


def stated_facts(holds: Sequence[bool | float]) -> list[str]:
    """The names of the facts that hold, for tables and messages."""
    return [name for name, h in zip(ATTRIBUTE_NAMES, holds, strict=True) if bool(h)]


__all__ = [
    "ATTRIBUTES",
    "ATTRIBUTE_NAMES",
    "SECTORS",
    "Attribute",
    "attribute_targets",
    "decide",
    "polygon_sector",
    "positive_rates",
    "prompt_ids",
    "prompt_vocabulary",
    "sector_index",
    "sector_of",
    "stated_facts",
]
