"""The captions every metric takes: the word tokenizer the COCO metrics score on, and the one
check of references and candidates."""

from __future__ import annotations

import re
from collections.abc import Sequence

# A word: letters/digits, optionally joined by inner hyphens or apostrophes ("wave-like"),
# or a decimal number ("0.5"). Everything else (punctuation) is dropped.
_WORD = re.compile(r"\d+(?:\.\d+)+|[^\W_]+(?:['-][^\W_]+)*")

References = Sequence[str | Sequence[str]]


def tokenize(text: str) -> str:
    """Lowercase a caption and drop punctuation, like pycocoevalcap's PTBTokenizer (no Java).

    "Turbulent patterns, wave-like." -> "turbulent patterns wave-like". Unlike the PTB tokenizer
    it keeps contractions whole ("isn't" rather than "is n't").
    """
    return " ".join(_WORD.findall(text.lower()))


def check_inputs(references: References, candidates: Sequence[str]) -> list[list[str]]:
    """Validate the inputs; return the references as one list of strings per sample."""
    if isinstance(references, str) or isinstance(candidates, str):
        raise TypeError("references and candidates must be lists of strings, not one string.")
    if len(references) != len(candidates):
        raise ValueError(
            f"references ({len(references)}) and candidates ({len(candidates)}) differ in "
            "length: give one reference (or list of references) per candidate."
        )
    if not candidates:
        raise ValueError("No captions to score: references and candidates are empty.")
    groups = [[ref] if isinstance(ref, str) else list(ref) for ref in references]
    for i, (group, cand) in enumerate(zip(groups, candidates, strict=True)):
        if not group or not all(isinstance(ref, str) for ref in group):
            raise ValueError(f"Reference {i} must be a string or a non-empty list of strings.")
        if not all(tokenize(ref) for ref in group):
            raise ValueError(f"Reference {i} has no words: {group!r}")
        if not isinstance(cand, str):
            raise TypeError(f"Candidate {i} must be a string, got {type(cand).__name__}.")
    return groups


__all__ = ["References", "check_inputs", "tokenize"]
