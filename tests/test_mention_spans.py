"""mention_spans: the domain check's mentions with their character spans."""

from __future__ import annotations

import re

from test_domain_facts import CASES

from helpers.eval.domain_facts import _TOPICS, mention_spans


def test_spans_point_at_the_mentions_and_carry_their_polarity():
    caption = "A dyke-type deformation pattern is visible. No atmospheric fringes: calm."
    found = [(caption[m.start : m.end], m.topic, m.stated) for m in mention_spans(caption)]
    assert found == [
        ("dyke", "Dyke", True),
        ("deformation", "deformation", True),
        ("atmospheric", "atmospheric", False),
    ]


def test_every_span_is_its_topic_keyword_on_every_domain_case():
    checked = 0
    for caption, *_ in CASES:
        for mention in mention_spans(caption):
            checked += 1
            text = caption.lower()[mention.start : mention.end]
            assert re.fullmatch(_TOPICS[mention.topic], text), (caption, text, mention.topic)
    assert checked > len(CASES)
