"""Captions of the synthetic stand-in, calibrated to the real Hephaestus captions.

The targets are the figures measured on the 138 test captions of Intel's subset (BLIP's uncased
WordPiece tokenizer, ``[CLS]``/``[SEP]`` included; see ``helpers.data.caption_stats``): about 54
tokens on average (p90 90, max 125), a word 3-gram repeated in most captions ("can be detected" two
or three times, "side of the region"), several patterns per caption, almost always an atmospheric
remark, and a few typos. The phrase families follow the description of the real captions (a
typed pattern with an intensity and a position; several patterns; stratified atmosphere over
high-altitude areas; turbulent mixing over a wide area; noise from low coherence; processing
errors from debursting; noise inside deformation zones from high displacement); the wording is
our own, no sentence is copied from Hephaestus.

Deformation captions vary a lot (types, intensities, positions, remarks), "no deformation"
captions little (a small set of sentences without positions or levels), so that keeping one
record per distinct caption leaves mostly deformation captions, as in Intel's subset.

Every caption states exactly the scene's facts, in words ``helpers.eval.domain_facts`` reads.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from helpers.data.synthetic.positions import where

if TYPE_CHECKING:
    from helpers.data.synthetic.scenes import Pattern, Scene

NO_DEFORMATION_SENTENCES = (
    "No deformation can be detected in the region.",
    "There is no sign of deformation in this interferogram.",
    "The region shows no deformation pattern.",
)
TYPO_RATE = 0.04  # captions with a double space or a missing space after a full stop

_LEVELS = {"Low": "low", "Medium": "medium", "High": "high"}
_ATMOSPHERE_LEVELS = {1: "weak", 2: "moderate", 3: "strong"}
_ORDINALS = ("first", "second", "third")
_COUNTS = {2: "Two", 3: "Three"}
_SOURCES = {
    "Mogi": "a Mogi point source",
    "Dyke": "a dyke intrusion",
    "Sill": "a sill intrusion",
    "Spheroid": "a spheroid source",
    "Earthquake": "an earthquake",
    "Unidentified": "an unidentified source",
}

# one pattern: {type} (e.g. "Sill"), {level} ("high"), {where} ("on the western side of the
# region"), {source} (e.g. "a sill intrusion")
_PATTERN_TEMPLATES = (
    "A {type}-type deformation pattern of {level} intensity can be detected {where}.",
    "{Where}, a deformation pattern of {type} type and {level} intensity can be detected.",
    "A deformation pattern of {level} intensity, probably caused by {source}, can be detected "
    "{where}.",
    "The interferogram shows a {type}-type deformation pattern of {level} intensity {where}.",
)
# one of several patterns: also {ordinal}
_NTH_PATTERN_TEMPLATES = (
    "The {ordinal} one is a {type}-type pattern of {level} intensity {where}.",
    "The {ordinal} pattern, of {type} type and {level} intensity, can be detected {where}.",
    "The {ordinal} is caused by {source}, has {level} intensity and lies {where}.",
)
_SEVERAL_TEMPLATES = (
    "{count} deformation patterns can be detected in the region.",
    "The interferogram shows {count_lower} distinct deformation patterns.",
)
_HIGH_DISPLACEMENT_TEMPLATES = (
    "Noise can be detected inside the deformation zone because of the high displacement.",
    "The high displacement makes the centre of the deformation zone noisy.",
)
_PHASE_TEMPLATES = {
    "Unrest": (
        "The fringes point to uplift during a period of unrest.",
        "The volcano seems to be in a phase of unrest.",
    ),
    "Rebound": (
        "The fringes point to subsidence as the ground rebounds after unrest.",
        "The volcano seems to be rebounding after a period of unrest.",
    ),
}
# {level}: weak / moderate / strong
_TURBULENT_TEMPLATES = (
    "{Level} turbulent mixing in the atmosphere can be detected over a wide area of the region.",
    "Wave-like fringes from turbulent mixing in the atmosphere can be detected over a wide area.",
    "The atmosphere adds {level} turbulent fringes that spread over a wide area of the region.",
)
# {where}: the volcano's position
_STRATIFIED_TEMPLATES = (
    "Stratified atmospheric contributions can be detected over the high-altitude areas of the "
    "region.",
    "Fringes from a stratified atmosphere follow the topography and can be detected over the "
    "high-altitude areas.",
    "A stratified atmospheric delay can be detected around the high-altitude areas {where}.",
)
_LOW_COHERENCE_TEMPLATES = (
    "Noisy areas due to low coherence can be detected {where}.",
    "Low coherence causes noise {where}.",
    "Parts of the region {where} are noisy because of low coherence.",
)
_PROCESSING_ERROR_TEMPLATES = (
    "Processing errors from the debursting step can be detected as straight discontinuities.",
    "A processing error during debursting leaves straight line artifacts across the frame.",
)
_ORBITAL_TEMPLATES = (
    "Orbital fringes can be detected across the whole frame.",
    "A ramp of parallel orbital fringes crosses the region.",
)
# "no deformation" captions use one fixed sentence per remark: few distinct captions
_QUIET_REMARKS = {
    "turbulent": _TURBULENT_TEMPLATES[1],
    "stratified": _STRATIFIED_TEMPLATES[0],
    "low_coherence": "Noisy areas due to low coherence can be detected.",
    "processing_error": _PROCESSING_ERROR_TEMPLATES[0],
    "orbital": _ORBITAL_TEMPLATES[0],
}


def _pick(options: Sequence[str], rng: np.random.Generator) -> str:
    return options[int(rng.integers(len(options)))]


def _capitalised(text: str) -> str:
    return text[0].upper() + text[1:]


def _type_word(activity: str) -> str:
    return "unidentified" if activity == "Unidentified" else activity


def _fill(template: str, **words: str) -> str:
    capitalised = {_capitalised(k): _capitalised(v) for k, v in words.items()}
    return _capitalised(template.format(**words, **capitalised))


def _pattern_words(pattern: Pattern) -> dict[str, str]:
    return {
        "type": _type_word(pattern.activity),
        "level": _LEVELS[pattern.intensity],
        "where": where(pattern.center),
        "source": _SOURCES[pattern.activity],
    }


def _deformation_sentences(scene: Scene, rng: np.random.Generator) -> list[str]:
    """The patterns (type, intensity, position), noise from high displacement, the phase."""
    patterns = scene.patterns
    if len(patterns) == 1:
        sentences = [_fill(_pick(_PATTERN_TEMPLATES, rng), **_pattern_words(patterns[0]))]
    else:
        count = _COUNTS[len(patterns)]
        template = _pick(_SEVERAL_TEMPLATES, rng)
        sentences = [_fill(template, count=count, count_lower=count.lower())]
        sentences += [
            _fill(_pick(_NTH_PATTERN_TEMPLATES, rng), ordinal=ordinal, **_pattern_words(p))
            for ordinal, p in zip(_ORDINALS, patterns, strict=False)
        ]
    optional = []
    if any(p.intensity == "High" for p in patterns) and rng.random() < 0.4:
        optional.append(_pick(_HIGH_DISPLACEMENT_TEMPLATES, rng))
    if rng.random() < 0.1:
        optional.append(_pick(_PHASE_TEMPLATES[scene.phase], rng))
    if len(patterns) < len(_ORDINALS):  # three patterns say enough (real captions: <= 96 words)
        sentences += optional
    return sentences


def _remarks(scene: Scene, rng: np.random.Generator) -> list[str]:
    """Atmosphere, low coherence, processing errors and orbital fringes, as the scene has them."""
    level = _ATMOSPHERE_LEVELS.get(scene.atmosphere, "")
    remarks = []
    if scene.turbulent:
        remarks.append(_fill(_pick(_TURBULENT_TEMPLATES, rng), level=level))
    if scene.stratified:
        remarks.append(_fill(_pick(_STRATIFIED_TEMPLATES, rng), where=where(scene.volcano)))
    if scene.low_coherence:
        text = _pick(_LOW_COHERENCE_TEMPLATES, rng)
        remarks.append(_fill(text, where=where(scene.coherence_loss_center)))
    if scene.processing_error:
        remarks.append(_pick(_PROCESSING_ERROR_TEMPLATES, rng))
    if scene.orbital:
        remarks.append(_pick(_ORBITAL_TEMPLATES, rng))
    return remarks


def _quiet_caption(scene: Scene, rng: np.random.Generator) -> list[str]:
    """A "no deformation" caption: the denial and fixed remarks (no levels, no positions)."""
    present = {
        "turbulent": scene.turbulent,
        "stratified": scene.stratified,
        "low_coherence": scene.low_coherence,
        "processing_error": scene.processing_error,
        "orbital": scene.orbital,
    }
    remarks = [_QUIET_REMARKS[name] for name, there in present.items() if there]
    return [_pick(NO_DEFORMATION_SENTENCES, rng), *remarks]


def add_typo(caption: str, rng: np.random.Generator) -> str:
    """A double space or a missing space after one full stop (captions of two sentences+)."""
    stops = [i for i in range(len(caption) - 1) if caption[i : i + 2] == ". "]
    if not stops:
        return caption
    at = stops[int(rng.integers(len(stops)))]
    gap = "  " if rng.random() < 0.5 else ""
    return caption[: at + 1] + gap + caption[at + 2 :]


def compose_caption(scene: Scene, rng: np.random.Generator) -> str:
    """A caption in Hephaestus' style stating exactly the scene's facts."""
    if not scene.patterns:
        sentences = _quiet_caption(scene, rng)
    else:
        sentences = _deformation_sentences(scene, rng)
        remarks = _remarks(scene, rng)
        sentences = sentences + remarks if rng.random() < 0.7 else remarks + sentences
    caption = " ".join(sentences)
    return add_typo(caption, rng) if rng.random() < TYPO_RATE else caption


__all__ = ["NO_DEFORMATION_SENTENCES", "TYPO_RATE", "add_typo", "compose_caption", "where"]
