"""Caption statistics: token lengths, repeated 3-grams, the share a length limit would cut.

Token counts use BLIP's uncased WordPiece tokenizer with its two special tokens (``[CLS]`` or
``[DEC]`` first, ``[SEP]`` last), as the collator sees a caption. The offline tokenizer of
``helpers.data.tokenizer.offline_tokenizer`` has BLIP's vocabulary, so it counts the same.

``REAL_CAPTION_FIGURES`` are the figures measured on the 138 test captions Intel's sample
committed (DESIGN.md section 4); ``SYNTHETIC_TARGETS`` are the ranges the synthetic stand-in must
meet (``uv run python -m helpers.data.synthetic --stats`` prints both).
"""

from __future__ import annotations

import logging
import re
import warnings
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from helpers.data.lengths import LONG_CAPTION_WARN_SHARE, caption_token_lengths, length_stats
from helpers.data.records import caption_key

log = logging.getLogger(__name__)

REAL_CAPTION_FIGURES: dict[str, float] = {
    "tokens_mean": 54,
    "tokens_p90": 90,
    "tokens_max": 125,
    "repeat_3gram_share": 0.89,
    "deformation_share": 0.93,
}
# figure -> (low, high) that the synthetic captions must meet (after the unique-caption filter)
SYNTHETIC_TARGETS: dict[str, tuple[float, float]] = {
    "tokens_mean": (54 * 0.85, 54 * 1.15),
    "tokens_p90": (90 * 0.8, 90 * 1.2),
    "tokens_max": (110, 510),  # above 110, within BLIP's 512-token limit
    "repeat_3gram_share": (0.7, 1.0),
    "deformation_share": (0.85, 0.95),
    "typo_share": (0.01, 0.08),
    "multi_pattern_share": (0.05, 0.5),
}

_WORD = re.compile(r"[a-z0-9]+(?:['-][a-z0-9]+)*")


def token_lengths(captions: Sequence[str], tokenizer: Any | None = None) -> np.ndarray:
    """Tokens per caption, special tokens included (default: the offline BLIP tokenizer)."""
    if tokenizer is None:
        from helpers.data.tokenizer import offline_tokenizer  # transformers only when counting

        tokenizer = offline_tokenizer()
    return np.array(caption_token_lengths(captions, tokenizer), dtype=int)


def repeats_word_trigram(caption: str) -> bool:
    """True when some sequence of three words occurs twice in the caption (case-insensitive)."""
    words = _WORD.findall(caption.lower())
    trigrams = Counter(zip(words, words[1:], words[2:], strict=False))
    return any(count > 1 for count in trigrams.values())


def has_typo(caption: str) -> bool:
    """A double space or a missing space after a full stop (between two letters)."""
    return "  " in caption or re.search(r"[a-z]\.[A-Za-z]", caption) is not None


@dataclass(frozen=True)
class LengthCheck:
    """How many captions a token limit cuts."""

    limit: int
    captions: int
    longer: int
    longest: int

    @property
    def share(self) -> float:
        return self.longer / self.captions if self.captions else 0.0

    def __str__(self) -> str:
        return (
            f"{self.longer} of {self.captions} captions ({100 * self.share:.1f}%) are longer "
            f"than max_caption_tokens={self.limit} and would be cut in training "
            f"(longest: {self.longest} tokens, [CLS]/[SEP] included)"
        )


def check_caption_lengths(
    captions: Sequence[str], max_tokens: int, tokenizer: Any | None = None
) -> LengthCheck:
    """Print the share of ``captions`` longer than ``max_tokens``; warn above 1% (the data
    card's rule, ``helpers.data.lengths``)."""
    lengths = token_lengths(captions, tokenizer)
    check = LengthCheck(
        max_tokens, len(lengths), int((lengths > max_tokens).sum()), int(lengths.max(initial=0))
    )
    log.info("%s", check)
    if check.share > LONG_CAPTION_WARN_SHARE:
        warnings.warn(
            f"{100 * check.share:.1f}% of the captions are longer than max_caption_tokens="
            f"{max_tokens}: raise it to at least {check.longest} (BLIP's limit is 512), e.g. "
            f"load_config(..., max_caption_tokens={check.longest}), and max_new_tokens too.",
            stacklevel=2,
        )
    return check


def unique_caption_annotations(annotations: Sequence[Mapping]) -> list[Mapping]:
    """The first annotation of each distinct caption (case and spacing ignored), in order:
    the rule of ``helpers.data.records.unique_captions`` for annotations in id order."""
    seen: set[str] = set()
    kept = []
    for annotation in annotations:
        key = caption_key(annotation["caption"])
        if key not in seen:
            seen.add(key)
            kept.append(annotation)
    return kept


def caption_figures(annotations: Sequence[Mapping], tokenizer: Any | None = None) -> dict:
    """The figures of ``SYNTHETIC_TARGETS`` for Hephaestus-schema annotations, measured after
    the unique-caption filter (as Intel's subset), plus how many were kept."""
    kept = unique_caption_annotations(annotations)
    captions = [a["caption"] for a in kept]
    tokens = length_stats(token_lengths(captions, tokenizer))
    return {
        "annotations": len(annotations),
        "unique_captions": len(kept),
        "tokens_mean": tokens["mean"],
        "tokens_p90": tokens["p90"],
        "tokens_max": tokens["max"],
        "repeat_3gram_share": float(np.mean([repeats_word_trigram(c) for c in captions])),
        "deformation_share": float(np.mean(["Deformation" in a["label"] for a in kept])),
        "typo_share": float(np.mean([has_typo(c) for c in captions])),
        "multi_pattern_share": float(np.mean([len(a["activity_type"]) > 1 for a in kept])),
    }


def figures_table(figures: Mapping[str, float]) -> str:
    """A text table: each figure, the real captions' value, the target range, met or not."""
    lines = [f"{'figure':<20} {'synthetic':>10} {'real':>8} {'target':>16}  met"]
    for name, (low, high) in SYNTHETIC_TARGETS.items():
        value = figures[name]
        real = REAL_CAPTION_FIGURES.get(name)
        real_text = "" if real is None else f"{real:g}"
        met = "yes" if low <= value <= high else "NO"
        target = f"{low:g}-{high:g}"
        lines.append(f"{name:<20} {value:>10.3f} {real_text:>8} {target:>16}  {met}")
    return "\n".join(lines)


def targets_missed(figures: Mapping[str, float]) -> list[str]:
    """Names of the figures outside their target range."""
    return [n for n, (low, high) in SYNTHETIC_TARGETS.items() if not low <= figures[n] <= high]


__all__ = [
    "REAL_CAPTION_FIGURES",
    "SYNTHETIC_TARGETS",
    "LengthCheck",
    "caption_figures",
    "check_caption_lengths",
    "figures_table",
    "has_typo",
    "repeats_word_trigram",
    "targets_missed",
    "token_lengths",
    "unique_caption_annotations",
]
