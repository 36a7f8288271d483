"""Image reliance, the blank-image caption and the heads' scores (helpers.eval.reliance): a model
that ignores its image scores about 0, one that copies a fact from its image scores 1."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from helpers.data.attributes import ATTRIBUTE_NAMES
from helpers.data.records import Record
from helpers.eval.reliance import (
    blank_image_caption,
    diagnostics_table,
    head_statement,
    image_reliance,
    one_cycle,
)


def records(count: int = 12, types: tuple[str, str] = ("Sill", "Dyke")) -> list[Record]:
    made = []
    for index in range(count):
        deforming = index % 3 != 0
        made.append(
            Record(
                unique_id=str(index),
                frame_id="F",
                image_path=Path(f"img{index}.png"),
                caption="reference",
                label=("Deformation",) if deforming else ("Non_Deformation",),
                activity_type=(types[index % 2],) if deforming else (),
                atmospheric_fringes=index % 2,
            )
        )
    return made


def stating(record: Record) -> str:
    """A caption that states exactly the record's facts."""
    if not record.has_deformation:
        words = "No deformation can be detected."
    else:
        words = f"A {record.activity_type[0].lower()} deformation pattern can be detected."
    if record.atmospheric_fringes:
        words += " Turbulent atmospheric fringes can be detected."
    return words


def test_one_cycle_moves_every_image():
    order = one_cycle(50, seed=3)
    assert sorted(order) == list(range(50))
    assert all(order[k] != k for k in range(50))
    assert list(one_cycle(50, seed=3)) == list(order)


def test_a_model_that_ignores_its_image_has_reliance_zero():
    data = records(types=("Sill", "Sill"))  # yes/no facts only: a constant scores exactly 0
    constant = "A sill deformation pattern can be detected with atmospheric fringes."
    result = image_reliance(data, [constant] * len(data), lambda images: [constant] * len(images))
    assert result["reliance"] == pytest.approx(0.0, abs=1e-9)
    assert result["caption_changed"] == 0.0
    for fact in ("deformation", "atmosphere"):
        entry = result["facts"][fact]
        assert entry["pairs"] > 0 and entry["follows_image"] == pytest.approx(
            entry["follows_place"]
        )


def test_a_model_that_copies_facts_from_its_image_has_reliance_one():
    data = records()
    by_path = {record.image_path: record for record in data}

    def caption(images):
        return [stating(by_path[image]) for image in images]

    result = image_reliance(data, caption([r.image_path for r in data]), caption)
    assert result["reliance"] == pytest.approx(1.0)
    assert all(entry["reliance"] == pytest.approx(1.0) for entry in result["facts"].values())
    assert result["caption_changed"] > 0.5


def test_a_model_copying_one_fact_only_relies_on_that_fact():
    data = records()
    by_path = {record.image_path: record for record in data}

    def caption(images):  # deformation from the image, always the same type and atmosphere
        return [
            "A sill pattern can be detected." if by_path[i].has_deformation else "No deformation."
            for i in images
        ]

    result = image_reliance(data, caption([r.image_path for r in data]), caption)
    assert result["facts"]["deformation"]["reliance"] == pytest.approx(1.0)
    assert result["facts"]["atmosphere"]["reliance"] == pytest.approx(0.0, abs=1e-9)


def test_image_reliance_refuses_too_few_records():
    with pytest.raises(ValueError, match="two or more"):
        image_reliance(records(1), ["x"], lambda images: ["x"])


def test_blank_image_caption_counts_the_test_captions_it_equals():
    seen = []

    def caption(images):
        seen.extend(images)
        return ["grey"]

    result = blank_image_caption(["grey", "grey", "other", "grey"], caption)
    assert result == {"caption": "grey", "share_of_test_captions": 0.75}
    assert isinstance(seen[0], Image.Image)
    assert np.asarray(seen[0]).std() == 0  # one uniform mid-grey image


def test_head_statements_read_as_the_heads_decided():
    from helpers.eval.domain_facts import read_facts

    holds = [False] * len(ATTRIBUTE_NAMES)
    assert read_facts(head_statement(holds)).deformation == "absent"
    index = {name: i for i, name in enumerate(ATTRIBUTE_NAMES)}
    holds[index["deformation"]] = holds[index["type:Dyke"]] = holds[index["atmosphere"]] = True
    facts = read_facts(head_statement(holds))
    assert facts.deformation == "present" and facts.activity_types == ("Dyke",)
    assert facts.atmospheric == "present"


def test_diagnostics_table_shows_heads_beside_captions():
    class Run:
        summary = {
            "domain": {
                "deformation_balanced_accuracy": 0.5,
                "activity_accuracy": 0.3,
                "atmospheric_balanced_accuracy": 0.5,
            },
            "diagnostics": {
                "image_reliance": {"reliance": 0.1, "caption_changed": 0.2},
                "blank_image": {"share_of_test_captions": 0.9},
                "heads": {
                    "deformation_balanced_accuracy": 0.9,
                    "activity_accuracy": 0.7,
                    "atmospheric_balanced_accuracy": 0.8,
                    "sector_accuracy": 0.4,
                },
            },
        }

    class Baseline:
        summary = {"diagnostics": None}

    table = diagnostics_table({"fine-tuned": Run(), "majority": Baseline()})
    assert list(table.index) == ["fine-tuned"]
    assert table.loc["fine-tuned", "deformation bal. acc.: heads"] == 0.9
    assert table.loc["fine-tuned", "captions equal to the blank image's"] == 0.9
