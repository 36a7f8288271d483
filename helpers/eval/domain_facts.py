"""Does a caption state the annotation's facts? A small, rule-based reader for InSAR captions.

BLEU or BERTScore reward wording; this module checks meaning on three facts of the Hephaestus
annotation: is there ground deformation, of which activity type, and are there atmospheric
fringes. :func:`read_facts` reads what a caption *states*:

- ``deformation``: "present", "absent", "not stated", or "contradictory" (stated both ways,
  e.g. a degenerate "deformation can be detected. no deformation can be detected").
- ``activity_types``: the named, non-negated types in order of mention: Mogi ("mogi", "point
  source", "spherical source"), Dyke ("dyke"/"dike", plurals), Sill, Spheroid ("spheroid",
  "spheroidal"), Earthquake ("earthquake", "seismic", "coseismic"), Unidentified
  ("unidentified", "unknown", "undetermined"). Empty when none is named.
- ``atmospheric``: same four values as deformation.

How it reads: the caption is lowercased and cut into clauses at sentence ends (. ! ? ; :) and at
contrasting conjunctions (but, however, whereas, while, although, though), so "atmospheric
fringes ... No deformation ..." reads both facts right. Mentions are keywords: deformation
("deform*", "uplift", "subsidence", "inflation", "deflation"), atmosphere ("atmospher*",
"turbulen*", "stratifi*", "tropospher*", "water vapour"), activity types (above). A mention is
stated unless a negation cue in its clause reaches it:

- cues that precede: "no", "not", "non", "without", "neither", "nor", "none", "never",
  "absence of", "lack(s/ing) (of)", "free of" ("There is no sign of ground deformation") negate
  the nearest following mention, unless a verb lies in between;
- cues that follow: "is/are/can/... not", "cannot", "n't", "absent", "missing", "undetected",
  "invisible", "not visible/detected/..." negate the nearest preceding mention ("Deformation is
  clearly absent"), unless a verb other than an auxiliary lies in between; failing that, the
  nearest following one ("The area is not affected by deformation").

The negation then carries over neighbouring mentions of the same phrase (at most three words
between them, no verb): "no deformation or atmospheric fringes", "no deformation caused by a
dyke", "deformation caused by a dyke is not visible". A named type other than Unidentified also
states deformation ("A dyke intrusion is visible"). Known limits: double negation ("cannot be
ruled out") reads as a negation, and "no X and Y are visible" negates both.

:func:`check_captions` compares the readings with parsed records (``Record.label``,
``Record.activity_type``, ``Record.atmospheric_fringes``); ``helpers.eval.domain_scores`` turns the
verdicts into accuracies and class-balanced scores:

- deformation is correct when the reading equals the annotation (a label exactly
  "Deformation" => present); "not stated" and "contradictory" are wrong;
- activity is judged only where the annotation has deformation: correct when the caption names
  at least one type and every named type is annotated; an annotation of only "Unidentified" (or
  no type) is also matched by a caption naming no type;
- atmospheric fringes: with ``atmospheric_fringes`` > 0 the caption must state them; with 0,
  "absent" and "not stated" are both correct (Hephaestus captions rarely mention their absence).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd

from helpers.data.annotations import ACTIVITY_TYPES
from helpers.data.records import Record

PRESENT, ABSENT, NOT_STATED, CONTRADICTORY = "present", "absent", "not stated", "contradictory"
DOMAIN_COLUMNS = (
    "deformation_read",
    "deformation_annotated",
    "deformation_correct",
    "activity_read",
    "activity_annotated",
    "activity_correct",
    "atmospheric_read",
    "atmospheric_annotated",
    "atmospheric_correct",
)
TYPE_SEPARATOR = "+"  # several activity types in one CSV cell: "Mogi+Dyke"

DEFORMATION, ATMOSPHERIC = "deformation", "atmospheric"
_TOPICS = {
    DEFORMATION: r"deform\w*|uplift\w*|subsid\w*|inflat\w*|deflat\w*",
    ATMOSPHERIC: r"atmospher\w*|turbulen\w*|stratifi\w*|tropospher\w*|water vapou?r",
    "Mogi": r"mogi|point[- ]sources?|spherical sources?",
    "Dyke": r"d[iy]kes?",
    "Sill": r"sills?",
    "Spheroid": r"spheroid\w*",
    "Earthquake": r"earthquakes?|(?:co-?)?seismic",
    "Unidentified": r"unidentified|unknown|undetermined",
}
_MENTION = re.compile("|".join(rf"\b(?P<{k}>{v})\b" for k, v in _TOPICS.items()))
_AUX = r"is|are|was|were|can|could|does|do|did|has|have|had|be|been|may|might|will|would|should"
_STATE = r"visible|detected|detectable|present|observed|observable|seen|apparent|evident|found"
_NEGATION_AFTER = re.compile(
    rf"\b(?:{_AUX})\s+not\b|\bcannot\b|n't\b|\bnot\s+(?:{_STATE})\b"
    r"|\b(?:absent|missing|undetect\w*|invisible)\b"
)
_NEGATION_BEFORE = re.compile(
    r"\b(?:no|not|non|without|neither|nor|none|never|absence\s+of|lack(?:s|ing)?(?:\s+of)?"
    r"|free\s+of)\b"
)
_STATE_VERB = re.compile(rf"\b(?:shows?|appears?|seems?|{_STATE})\b")
_VERB = re.compile(rf"\b(?:{_AUX})\b|{_STATE_VERB.pattern}")
_CLAUSE_BREAK = re.compile(r"[.!?;:\n]+|\b(?:but|however|whereas|while|although|though)\b")
_WORD = re.compile(r"[^\W_]+")


@dataclass(frozen=True)
class CaptionFacts:
    """What a caption states (see the module docstring for the values)."""

    deformation: str
    activity_types: tuple[str, ...]
    atmospheric: str

    @property
    def activity_type(self) -> str | None:
        """The first named activity type, or None when the caption names none."""
        return self.activity_types[0] if self.activity_types else None


@dataclass(frozen=True)
class _Mention:
    start: int
    end: int
    topic: str  # DEFORMATION, ATMOSPHERIC or an activity type


@dataclass(frozen=True)
class MentionSpan:
    """One mention the check read: ``caption[start:end]``, its topic (``DEFORMATION``,
    ``ATMOSPHERIC`` or an activity type) and whether it is stated (False = negated)."""

    start: int
    end: int
    topic: str
    stated: bool


def mention_spans(caption: str) -> list[MentionSpan]:
    """Every mention :func:`read_facts` reads, in order, with its character span in ``caption``.

    Spans index the lowercased caption, which has the caption's length for ASCII text (the
    captions of BLIP's uncased tokenizer are lowercase ASCII)."""
    lowered = caption.lower()
    spans: list[MentionSpan] = []
    start = 0
    for end, resume in [(m.start(), m.end()) for m in _CLAUSE_BREAK.finditer(lowered)] + [
        (len(lowered), len(lowered))
    ]:
        for mention, negated in _read_clause(lowered[start:end]):
            spans.append(
                MentionSpan(start + mention.start, start + mention.end, mention.topic, not negated)
            )
        start = resume
    return spans


def read_facts(caption: str) -> CaptionFacts:
    """Read deformation, activity type(s) and atmospheric fringes from a caption."""
    polarities: dict[str, list[bool]] = {}  # topic -> one entry per mention, True = stated
    for mention in mention_spans(caption):
        polarities.setdefault(mention.topic, []).append(mention.stated)
    activities = tuple(t for t in polarities if t in ACTIVITY_TYPES and any(polarities[t]))
    deformation = list(polarities.get(DEFORMATION, []))
    deformation += [True for t in activities if t != "Unidentified"]
    return CaptionFacts(
        deformation=_reading(deformation),
        activity_types=activities,
        atmospheric=_reading(polarities.get(ATMOSPHERIC, [])),
    )


def _read_clause(clause: str) -> list[tuple[_Mention, bool]]:
    mentions = [_Mention(m.start(), m.end(), m.lastgroup or "") for m in _MENTION.finditer(clause)]
    negated = [False] * len(mentions)
    after = [m.span() for m in _NEGATION_AFTER.finditer(clause)]
    before = [
        m.span()
        for m in _NEGATION_BEFORE.finditer(clause)
        if not any(s <= m.start() < e for s, e in after)
    ]
    for cue in before:
        _negate_nearest(clause, mentions, negated, cue, step=1)
    for cue in after:  # "deformation is not visible", else "is not affected by deformation"
        if not _negate_nearest(clause, mentions, negated, cue, step=-1):
            _negate_nearest(clause, mentions, negated, cue, step=1)
    return list(zip(mentions, negated, strict=True))


def _negate_nearest(
    clause: str, mentions: list[_Mention], negated: list[bool], cue: tuple[int, int], step: int
) -> bool:
    """Negate the nearest mention after (step 1) or before (step -1) a cue, and its phrase.

    Nothing is negated (returns False) when a verb lies between cue and mention; looking
    backwards, auxiliaries are allowed ("deformation is clearly absent").
    """
    start, end = cue
    if step > 0:
        index = next((i for i, m in enumerate(mentions) if m.start >= end), None)
        blocked = index is None or _VERB.search(clause[end : mentions[index].start])
    else:
        index = next((i for i in reversed(range(len(mentions))) if mentions[i].end <= start), None)
        blocked = index is None or _STATE_VERB.search(clause[mentions[index].end : start])
    if blocked:
        return False
    negated[index] = True
    while 0 <= index + step < len(mentions):  # carry over the phrase: "no X or Y", "X of a Y"
        left, right = sorted((mentions[index], mentions[index + step]), key=lambda m: m.start)
        gap = clause[left.end : right.start]
        if len(_WORD.findall(gap)) > 3 or _VERB.search(gap):
            break
        index += step
        negated[index] = True
    return True


def _reading(polarities: Sequence[bool]) -> str:
    if not polarities:
        return NOT_STATED
    if all(polarities):
        return PRESENT
    return ABSENT if not any(polarities) else CONTRADICTORY


@dataclass(frozen=True)
class AnnotatedFacts:
    """The three facts of a Hephaestus annotation."""

    deformation: bool
    activity_types: tuple[str, ...]
    atmospheric_level: int

    @classmethod
    def from_record(cls, record: Record) -> AnnotatedFacts:
        """From a parsed :class:`~helpers.data.records.Record` (labels compared exactly, one
        activity type per pattern, spelling variants such as "dike" made canonical)."""
        canonical = {t.lower(): t for t in ACTIVITY_TYPES} | {"dike": "Dyke"}
        types = tuple(canonical.get(t.lower(), t) for t in record.activity_type)
        return cls(
            deformation=record.has_deformation,
            activity_types=types,
            atmospheric_level=record.atmospheric_fringes,
        )


def check_caption(caption: str, record: Record) -> dict[str, object]:
    """One result row (``DOMAIN_COLUMNS``): the readings, the annotation and the verdicts."""
    read = read_facts(caption)
    truth = AnnotatedFacts.from_record(record)
    expected_deformation = PRESENT if truth.deformation else ABSENT
    activity_correct = None
    if truth.deformation:
        stated, annotated = set(read.activity_types), set(truth.activity_types)
        activity_correct = stated <= annotated if stated else annotated <= {"Unidentified"}
    if truth.atmospheric_level > 0:
        atmospheric_correct = read.atmospheric == PRESENT
    else:
        atmospheric_correct = read.atmospheric in (ABSENT, NOT_STATED)
    return {
        "deformation_read": read.deformation,
        "deformation_annotated": expected_deformation,
        "deformation_correct": read.deformation == expected_deformation,
        "activity_read": TYPE_SEPARATOR.join(read.activity_types),
        "activity_annotated": TYPE_SEPARATOR.join(truth.activity_types),
        "activity_correct": activity_correct,
        "atmospheric_read": read.atmospheric,
        "atmospheric_annotated": truth.atmospheric_level,
        "atmospheric_correct": atmospheric_correct,
    }


def check_captions(captions: Sequence[str], records: Sequence[Record]) -> pd.DataFrame:
    """One row per caption (``DOMAIN_COLUMNS``); ``activity_correct`` is NA without deformation."""
    if len(captions) != len(records):
        raise ValueError(
            f"captions ({len(captions)}) and records ({len(records)}) differ in length."
        )
    table = pd.DataFrame(
        [check_caption(c, r) for c, r in zip(captions, records, strict=True)],
        columns=list(DOMAIN_COLUMNS),
    )
    for column in ("deformation_correct", "activity_correct", "atmospheric_correct"):
        table[column] = table[column].astype("boolean")
    return table


__all__ = [
    "ABSENT",
    "ACTIVITY_TYPES",
    "CONTRADICTORY",
    "DOMAIN_COLUMNS",
    "NOT_STATED",
    "PRESENT",
    "AnnotatedFacts",
    "CaptionFacts",
    "check_caption",
    "check_captions",
    "mention_spans",
    "MentionSpan",
    "read_facts",
]
