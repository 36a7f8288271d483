"""Decoded captions read as the references are written (helpers.data.detokenize)."""

from __future__ import annotations

import pytest

from helpers.data.caption_stats import has_typo
from helpers.data.detokenize import clean_caption, clean_offset, removed_spaces
from helpers.data.synthetic import generate_samples
from helpers.data.tokenizer import offline_tokenizer
from helpers.eval.grounding import token_spans
from helpers.model.loading import build_offline_processor

# the official Hephaestus README's example caption, what the synthetic captions hold (hyphens,
# full stops, commas) and what real text may hold
REFERENCES = (
    "Turbulent mixing effect or wave-like patterns caused by liquid and solid particles of the "
    "atmosphere can be detected around the area. No deformation activity can be detected.",
    "A Sill-type deformation pattern of high intensity can be detected on the north-eastern side.",
    "Stratified atmospheric contributions can be detected over the high-altitude areas.",
    "Wave-like fringes from turbulent mixing, over a wide area; noise: low coherence!",
    "The first pattern (a Mogi point source) lies on the south-western side of the region.",
    "The volcano's flank moved 2.5 cm/yr, about 10% of the 2018 rate [estimated]?",
    "Two patterns, 10-20 km apart: a dyke-type one and an unidentified one.",
)


@pytest.fixture(scope="module")
def tokenizer():
    return offline_tokenizer()


def round_trip(tokenizer, text: str) -> str:
    decoded = tokenizer.decode(tokenizer(text)["input_ids"], skip_special_tokens=True)
    return clean_caption(decoded)


@pytest.mark.parametrize("reference", REFERENCES)
def test_real_tokenizer_round_trips_punctuated_phrases(tokenizer, reference: str) -> None:
    decoded = tokenizer.decode(tokenizer(reference)["input_ids"], skip_special_tokens=True)
    assert decoded != reference.lower()  # the artefacts this module is for
    assert clean_caption(decoded) == reference.lower()
    assert clean_caption(clean_caption(decoded)) == clean_caption(decoded)  # clean text stays


def test_the_artefacts_by_name() -> None:
    assert clean_caption("a sill - type pattern on the north - eastern side .") == (
        "a sill-type pattern on the north-eastern side."
    )
    assert (
        clean_caption(" ( high ) , 0. 5 km ; the volcano ' s ") == "(high), 0.5 km; the volcano's"
    )
    # spaces between words and after a stop stay
    assert clean_caption("detected. two - thirds of it") == "detected. two-thirds of it"


def test_every_typo_free_synthetic_caption_round_trips(tokenizer) -> None:
    captions = [s.annotation["caption"] for s in generate_samples(400, seed=3, image_size=16)]
    clean = [c for c in captions if not has_typo(c)]
    assert len(clean) > 350
    assert all(round_trip(tokenizer, c) == c.lower() for c in clean)
    assert sum(round_trip(tokenizer, c) == c.lower() for c in captions if has_typo(c)) == 0


def test_offsets_follow_the_removed_spaces() -> None:
    decoded = " north - eastern ( high )"
    removed = removed_spaces(decoded)
    clean = clean_caption(decoded)
    assert clean == "north-eastern (high)"
    assert "".join(ch for i, ch in enumerate(decoded) if i not in removed) == clean
    start = decoded.index("eastern")
    assert clean[clean_offset(removed, start) : clean_offset(removed, start + 7)] == "eastern"


def test_token_spans_point_into_the_clean_caption() -> None:
    processor = build_offline_processor(32)
    text = "A Sill-type pattern (high intensity) on the north-eastern side."
    ids = processor.tokenizer(text, add_special_tokens=False)["input_ids"]
    caption, spans = token_spans(processor, ids)
    assert caption == text.lower()
    tokens = processor.tokenizer.convert_ids_to_tokens(ids)
    for token, (start, end) in zip(tokens, spans, strict=True):
        assert caption[start:end] == token.removeprefix("##")
