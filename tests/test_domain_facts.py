"""The domain-fact reader on hand-written Hephaestus-style captions, and the comparison."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers.data.records import Record
from helpers.eval.domain_facts import (
    ABSENT,
    CONTRADICTORY,
    DOMAIN_COLUMNS,
    NOT_STATED,
    PRESENT,
    AnnotatedFacts,
    check_caption,
    check_captions,
    read_facts,
)
from helpers.eval.domain_scores import summarize_facts

README_CAPTION = (
    "Turbulent mixing effect or wave-like patterns caused by liquid and solid particles of the "
    "atmosphere can be detected around the area. No deformation activity can be detected."
)

# caption -> (deformation, activity types, atmospheric fringes)
CASES = [
    (README_CAPTION, ABSENT, (), PRESENT),
    ("There is no sign of ground deformation.", ABSENT, (), NOT_STATED),
    ("No ground deformation is visible in the interferogram.", ABSENT, (), NOT_STATED),
    (
        "Ground deformation caused by a dyke intrusion can be detected.",
        PRESENT,
        ("Dyke",),
        NOT_STATED,
    ),
    ("The interferogram shows inflation of a Mogi source.", PRESENT, ("Mogi",), NOT_STATED),
    ("Strong stratified atmospheric signal but no deformation.", ABSENT, (), PRESENT),
    ("Strong stratified atmospheric signal, no deformation.", ABSENT, (), PRESENT),
    ("the the the", NOT_STATED, (), NOT_STATED),
    ("", NOT_STATED, (), NOT_STATED),
    ("deformation deformation deformation deformation", PRESENT, (), NOT_STATED),
    ("Deformation is not visible in the interferogram.", ABSENT, (), NOT_STATED),
    ("The deformation isn't visible", ABSENT, (), NOT_STATED),
    ("Deformation is clearly absent.", ABSENT, (), NOT_STATED),
    ("Absence of deformation", ABSENT, (), NOT_STATED),
    ("The area is not affected by deformation.", ABSENT, (), NOT_STATED),
    ("Non-deformation interferogram with orbital fringes.", ABSENT, (), NOT_STATED),
    ("No ground deformation or atmospheric fringes are visible.", ABSENT, (), ABSENT),
    ("Neither deformation nor atmospheric signal can be seen.", ABSENT, (), ABSENT),
    ("Deformation caused by a dyke is not visible.", ABSENT, (), NOT_STATED),
    (
        "Without any deformation, the interferogram shows turbulent atmospheric patterns.",
        ABSENT,
        (),
        PRESENT,
    ),
    ("Atmospheric fringes are visible and deformation is not.", ABSENT, (), PRESENT),
    (
        "Deformation caused by an earthquake can be detected, without atmospheric contribution.",
        PRESENT,
        ("Earthquake",),
        ABSENT,
    ),
    (
        "Atmospheric fringes are absent; deformation of a sill is visible.",
        PRESENT,
        ("Sill",),
        ABSENT,
    ),
    (
        "Uplift near the summit caused by a spheroidal source, in absence of atmospheric signal.",
        PRESENT,
        ("Spheroid",),
        ABSENT,
    ),
    ("Deformation of unknown origin is visible.", PRESENT, ("Unidentified",), NOT_STATED),
    ("Two dikes and a sill are visible.", PRESENT, ("Dyke", "Sill"), NOT_STATED),
    ("Concentric fringes of a point source are visible.", PRESENT, ("Mogi",), NOT_STATED),
    ("Ground deformation with coseismic fringes.", PRESENT, ("Earthquake",), NOT_STATED),
    ("The area shows no sign of a dike.", NOT_STATED, (), NOT_STATED),
    ("It is not a dyke but a sill.", PRESENT, ("Sill",), NOT_STATED),
    (
        "Ground deformation can be detected. No deformation activity can be detected.",
        CONTRADICTORY,
        (),
        NOT_STATED,
    ),
    ("Deformation cannot be detected but turbulent atmosphere is present", ABSENT, (), PRESENT),
    (
        "Low coherence and decorrelation noise dominate the interferogram.",
        NOT_STATED,
        (),
        NOT_STATED,
    ),
]


@pytest.mark.parametrize(("caption", "deformation", "activities", "atmospheric"), CASES)
def test_read_facts(caption, deformation, activities, atmospheric):
    facts = read_facts(caption)
    assert (facts.deformation, facts.activity_types, facts.atmospheric) == (
        deformation,
        activities,
        atmospheric,
    )


def test_activity_type_is_the_first_named_or_none():
    assert read_facts(README_CAPTION).activity_type is None
    assert read_facts("A sill and a dyke deform the flank.").activity_type == "Sill"


def annotation(label="Deformation", types=(), atmospheric=0):
    """A parsed record (the domain check reads typed records, never raw JSON)."""
    return Record(
        "7",
        "F1",
        Path("7.png"),
        "a caption",
        label=(label,),
        activity_type=tuple(types),
        atmospheric_fringes=atmospheric,
    )


def test_annotated_facts():
    facts = AnnotatedFacts.from_record(annotation(types=["dike", "MOGI"], atmospheric=2))
    assert facts == AnnotatedFacts(True, ("Dyke", "Mogi"), 2)
    assert not AnnotatedFacts.from_record(annotation("Non_Deformation")).deformation


def test_non_deformation_label_is_read_exactly_not_as_a_substring():
    # "Deformation" is a substring of "Non_Deformation": a substring test reads it as deformation
    facts = AnnotatedFacts.from_record(annotation("Non_Deformation", types=()))
    assert facts.deformation is False
    row = check_caption("No deformation activity can be detected.", annotation("Non_Deformation"))
    assert (row["deformation_annotated"], row["deformation_correct"]) == (ABSENT, True)
    assert row["activity_correct"] is None  # not judged: there is no deformation


def test_one_activity_type_string_is_one_type_not_letters():
    facts = AnnotatedFacts.from_record(annotation(types=("Dyke",)))
    assert facts.activity_types == ("Dyke",)
    assert check_caption("A dyke deforms the flank.", annotation(types=("Dyke",)))[
        "activity_correct"
    ]


def test_readme_example_against_its_annotation():
    row = check_caption(README_CAPTION, annotation("Non_Deformation", atmospheric=2))
    assert row == {
        "deformation_read": ABSENT,
        "deformation_annotated": ABSENT,
        "deformation_correct": True,
        "activity_read": "",
        "activity_annotated": "",
        "activity_correct": None,  # not judged without deformation
        "atmospheric_read": PRESENT,
        "atmospheric_annotated": 2,
        "atmospheric_correct": True,
    }


@pytest.mark.parametrize(
    ("caption", "types", "correct"),
    [
        ("Deformation caused by a dyke.", ["Dyke"], True),
        ("Deformation caused by a sill.", ["Dyke"], False),
        ("Deformation caused by a dyke and a sill.", ["Dyke"], False),
        ("Deformation caused by a dyke.", ["Dyke", "Sill"], True),
        ("Ground deformation can be detected.", ["Mogi"], False),
        ("Ground deformation can be detected.", ["Unidentified"], True),
        ("Deformation of unknown origin.", ["Unidentified"], True),
    ],
)
def test_activity_correctness(caption, types, correct):
    assert check_caption(caption, annotation(types=types))["activity_correct"] is correct


@pytest.mark.parametrize(
    ("caption", "level", "correct"),
    [
        ("Ground deformation can be detected.", 0, True),  # not mentioned: fine when absent
        ("No atmospheric fringes are visible.", 0, True),
        ("Turbulent atmospheric fringes are visible.", 0, False),
        ("Ground deformation can be detected.", 1, False),
        ("Turbulent atmospheric fringes are visible.", 3, True),
        ("No atmospheric fringes are visible.", 2, False),
    ],
)
def test_atmospheric_correctness(caption, level, correct):
    assert check_caption(caption, annotation(atmospheric=level))["atmospheric_correct"] is correct


def test_not_stated_deformation_counts_as_wrong():
    assert not check_caption("the the the", annotation("Non_Deformation"))["deformation_correct"]
    assert not check_caption("", annotation())["deformation_correct"]


def test_table_and_summary():
    captions = [
        "Ground deformation caused by a dyke can be detected.",  # all right
        "Ground deformation caused by a sill can be detected.",  # wrong type
        README_CAPTION,  # all right
        "the the the",  # deformation not stated, atmosphere missed
    ]
    annotations = [
        annotation(types=["Dyke"]),
        annotation(types=["Dyke"]),
        annotation("Non_Deformation", atmospheric=1),
        annotation("Non_Deformation", atmospheric=2),
    ]
    table = check_captions(captions, annotations)
    assert list(table.columns) == list(DOMAIN_COLUMNS)
    assert table["activity_correct"].tolist()[:2] == [True, False]
    assert table["activity_correct"].isna().tolist() == [False, False, True, True]
    summary = summarize_facts(table)
    assert {k: summary[k] for k in ("deformation_accuracy", "activity_accuracy")} == {
        "deformation_accuracy": 0.75,
        "activity_accuracy": 0.5,
    }
    assert summary["atmospheric_accuracy"] == 0.75
    assert (summary["num_samples"], summary["num_with_deformation"]) == (4, 2)


def test_summary_without_deformation_samples_has_no_activity_accuracy():
    table = check_captions(["No deformation."], [annotation("Non_Deformation")])
    summary = summarize_facts(table)
    assert summary["activity_accuracy"] is None
    assert summary["deformation_accuracy"] == 1.0


def test_length_mismatch_is_an_error():
    with pytest.raises(ValueError, match=r"captions \(2\) and records \(1\)"):
        check_captions(["a", "b"], [annotation()])
