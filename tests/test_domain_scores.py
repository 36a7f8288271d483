"""Class-balanced domain scores: a constant captioner scores 0.5, whatever the class balance."""

from __future__ import annotations

import pytest
from evaluation_fixtures import make_record

from helpers.eval.domain_facts import check_captions
from helpers.eval.domain_scores import activity_scores, confusion_counts, summarize_facts

DYKE = "Ground deformation caused by a dyke can be detected."
SILL = "A sill deforms the area."
NONE = "No deformation activity can be detected."
ATMOSPHERE = "Turbulent atmospheric fringes are visible. No deformation can be detected."


def _table(captions, records):
    return check_captions(captions, records)


def test_a_collapsed_captioner_scores_half_on_balanced_accuracy():
    records = [make_record(i, types=("Dyke",)) for i in range(9)]
    records.append(make_record(9, label="Non_Deformation"))
    summary = summarize_facts(_table([DYKE] * 10, records))
    assert summary["deformation_accuracy"] == pytest.approx(0.9)
    assert summary["deformation_majority_rate"] == pytest.approx(0.9)
    assert summary["deformation_balanced_accuracy"] == pytest.approx(0.5)
    assert summary["deformation_recall"] == {"present": 1.0, "absent": 0.0}
    assert summary["deformation_support"] == {"present": 9, "absent": 1}


def test_a_right_minority_answer_is_worth_half_the_balanced_accuracy():
    records = [make_record(i, types=("Dyke",)) for i in range(9)]
    records.append(make_record(9, label="Non_Deformation"))
    summary = summarize_facts(_table([NONE] * 9 + [NONE], records))  # only the minority right
    assert summary["deformation_accuracy"] == pytest.approx(0.1)
    assert summary["deformation_balanced_accuracy"] == pytest.approx(0.5)
    summary = summarize_facts(_table([DYKE] * 9 + [NONE], records))  # all right
    assert summary["deformation_balanced_accuracy"] == 1.0


def test_one_class_only_balances_over_that_class():
    summary = summarize_facts(_table([DYKE, NONE], [make_record(1), make_record(2)]))
    assert summary["deformation_recall"] == {"present": 0.5, "absent": None}
    assert summary["deformation_balanced_accuracy"] == 0.5


def test_activity_precision_recall_support_count_each_named_type():
    records = [
        make_record(1, types=("Dyke",)),
        make_record(2, types=("Dyke", "Sill")),
        make_record(3, types=("Sill",)),
        make_record(4, label="Non_Deformation"),
    ]
    captions = [
        DYKE,  # right
        "A dyke and a sill deform the flank.",  # names both, both annotated
        DYKE,  # wrong: Sill annotated
        SILL,  # a type named where there is no deformation
    ]
    scores = activity_scores(_table(captions, records))
    assert scores["Dyke"] == {"precision": 2 / 3, "recall": 1.0, "support": 2, "named": 3}
    assert scores["Sill"] == {"precision": 0.5, "recall": 0.5, "support": 2, "named": 2}
    assert scores["Mogi"] == {"precision": None, "recall": None, "support": 0, "named": 0}


def test_activity_majority_rate_is_the_best_constant_answer():
    records = [make_record(i, types=("Dyke",)) for i in range(3)]
    records += [make_record(3, types=("Sill",)), make_record(4, label="Non_Deformation")]
    summary = summarize_facts(_table([DYKE] * 5, records))
    assert summary["activity_accuracy"] == pytest.approx(0.75)  # judged on 4 deformation images
    assert summary["activity_majority_rate"] == pytest.approx(0.75)


def test_atmosphere_balanced_accuracy():
    records = [make_record(1, atmospheric=2), make_record(2, atmospheric=0)]
    records += [make_record(3, atmospheric=0), make_record(4, atmospheric=0)]
    summary = summarize_facts(_table([ATMOSPHERE] * 4, records))  # always says fringes
    assert summary["atmospheric_accuracy"] == pytest.approx(0.25)
    assert summary["atmospheric_majority_rate"] == pytest.approx(0.75)
    assert summary["atmospheric_balanced_accuracy"] == pytest.approx(0.5)
    assert summary["atmospheric_recall"] == {"present": 1.0, "absent": 0.0}


def test_confusion_counts():
    records = [
        make_record(1, types=("Dyke",)),
        make_record(2, types=("Dyke", "Sill")),
        make_record(3, label="Non_Deformation"),
        make_record(4, label="Non_Deformation"),
    ]
    captions = [DYKE, "the the the", "Deformation is present. No deformation is present.", NONE]
    deformation, activity = confusion_counts(_table(captions, records))
    assert deformation.loc["present"].to_dict() == {
        "present": 1,
        "absent": 0,
        "not stated": 1,
        "contradictory": 0,
    }
    assert deformation.loc["absent"].to_dict() == {
        "present": 0,
        "absent": 1,
        "not stated": 0,
        "contradictory": 1,
    }
    assert activity.loc["Dyke", "Dyke"] == 1
    assert activity.loc["Dyke", "none named"] == 1 and activity.loc["Sill", "none named"] == 1
    assert activity.loc["no deformation", "none named"] == 2
    assert activity.to_numpy().sum() == 5
