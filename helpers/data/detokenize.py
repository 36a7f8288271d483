"""Caption text as a reader writes it, from what a WordPiece tokenizer's ``decode`` leaves.

BLIP's (BERT's) tokenizer splits every punctuation mark into a token of its own, and ``decode``
joins tokens with spaces: "north-eastern" comes back as "north - eastern", "sill-type" as
"sill - type", "(high)" as "( high )", "0.5" as "0. 5", "the volcano's" as "the volcano ' s". The
references (and the nearest-neighbour baseline, which copies them) never carry those spaces, so
n-gram metrics and a reader would see a different caption. :func:`clean_caption` removes exactly
those spaces, once, where captions are produced (``helpers.eval.inference``, the grounding maps
of ``helpers.eval.grounding``), so CSVs, figures, widgets and every metric read the same text.

Every rule only deletes spaces, so a character of the decoded text keeps its place in the clean
one, shifted left by the spaces removed before it (:func:`removed_spaces`), which is how token
spans follow the cleaning. Clean text is left as it is. What cannot be undone: a double space or
a missing space after a full stop in a reference (BERT splits the stop off; decode writes one
space), case (the vocabulary is uncased) and accents (stripped).
"""

from __future__ import annotations

import bisect
import re

# each alternative matches one space to delete, judged on the decoded text as it is
_REMOVABLE_SPACE = re.compile(
    "|".join(
        (
            r"^\s+|\s+$",  # around the caption
            r" (?=[.,;:!?%)\]}])",  # before closing punctuation: "region ." "( high )"
            r"(?<=[(\[{]) ",  # after an opening bracket
            r"(?<=\w) (?=[-'/] \w)",  # inside a word joined by - ' /: "north - eastern"
            r"(?<=\w [-'/]) (?=\w)",
            r"(?<=\d\.) (?=\d)",  # a decimal point: "0. 5"
        )
    )
)


def removed_spaces(decoded: str) -> list[int]:
    """The positions (in ``decoded``, ascending) of the spaces :func:`clean_caption` deletes."""
    return [i for match in _REMOVABLE_SPACE.finditer(decoded) for i in range(*match.span())]


def clean_caption(decoded: str) -> str:
    """``decoded`` without the spaces WordPiece decoding puts around punctuation ("north -
    eastern" -> "north-eastern", "( high )" -> "(high)", "0. 5" -> "0.5"), stripped."""
    return _REMOVABLE_SPACE.sub("", decoded)


def clean_offset(removed: list[int], position: int) -> int:
    """Where character ``position`` of the decoded text lies in the clean text (``removed`` from
    :func:`removed_spaces`)."""
    return position - bisect.bisect_left(removed, position)


__all__ = ["clean_caption", "clean_offset", "removed_spaces"]
