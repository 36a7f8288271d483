"""Diversity numbers expose a captioner that writes the same caption for every image."""

from __future__ import annotations

import pytest

from helpers.eval.diversity import caption_diversity, diversity_notes


def test_a_collapsed_captioner_has_one_distinct_caption_and_a_warning():
    generated = ["Ground deformation can be detected."] * 9 + [
        "ground  deformation can be detected"
    ]
    references = [f"Reference number {i} has five words" for i in range(10)]
    diversity = caption_diversity(generated, references)
    assert diversity["distinct_captions"] == 1  # case and punctuation do not make a new caption
    assert diversity["distinct_share"] == pytest.approx(1 / 10)
    assert diversity["distinct_4grams"] == 2  # "ground deformation can be", "... can be detected"
    assert diversity["vocabulary_size"] == 5
    assert diversity["mean_generated_words"] == 5 and diversity["mean_reference_words"] == 6
    (note,) = diversity_notes(diversity)
    assert "COLLAPSED" in note and "only 1 distinct captions for 10 images" in note


def test_varied_captions_carry_no_warning():
    generated = ["a dyke", "a sill", "a mogi source", "a dyke"]
    diversity = caption_diversity(generated, ["x"] * 4)
    assert (diversity["distinct_captions"], diversity["distinct_share"]) == (3, 0.75)
    assert diversity["distinct_4grams"] == 0 and diversity["vocabulary_size"] == 5
    assert diversity_notes(diversity) == []
    assert diversity_notes({**diversity, "distinct_share": 0.49, "distinct_captions": 2})


def test_inputs_must_pair_up():
    with pytest.raises(ValueError, match="as many references"):
        caption_diversity(["a"], ["a", "b"])
    with pytest.raises(ValueError, match="at least one"):
        caption_diversity([], [])
