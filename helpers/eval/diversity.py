"""How varied are the generated captions? The numbers that expose a collapsed captioner.

A captioner that writes the same sentence for every image can still score well on BERTScore and
on a plain deformation accuracy (Intel's fine-tuned BLIP-large: 9 distinct captions for 138 test
images). :func:`caption_diversity` counts, on captions normalised by ``metrics.tokenize``
(lowercase, no punctuation):

- ``distinct_captions`` and ``distinct_share`` (distinct / number of captions);
- ``distinct_4grams``: distinct word 4-grams over all generated captions;
- ``vocabulary_size``: distinct words over all generated captions;
- ``mean_generated_words`` and ``mean_reference_words``.

:func:`diversity_notes` turns a collapse (fewer than half the captions distinct) into a warning.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from helpers.eval.metrics import tokenize

COLLAPSE_SHARE = 0.5  # below this share of distinct captions, the summary carries a warning


def caption_diversity(generated: Sequence[str], references: Sequence[str]) -> dict[str, float]:
    """Distinct captions, 4-grams, vocabulary and mean lengths (see the module docstring)."""
    if not generated or len(generated) != len(references):
        raise ValueError(
            f"need as many references ({len(references)}) as generated captions "
            f"({len(generated)}), at least one"
        )
    words = [tokenize(caption).split() for caption in generated]
    reference_words = [tokenize(caption).split() for caption in references]
    distinct = len({" ".join(w) for w in words})
    four_grams = {tuple(w[i : i + 4]) for w in words for i in range(len(w) - 3)}
    return {
        "num_captions": len(words),
        "distinct_captions": distinct,
        "distinct_share": distinct / len(words),
        "distinct_4grams": len(four_grams),
        "vocabulary_size": len({word for w in words for word in w}),
        "mean_generated_words": sum(map(len, words)) / len(words),
        "mean_reference_words": sum(map(len, reference_words)) / len(reference_words),
    }


def diversity_notes(diversity: Mapping[str, float]) -> list[str]:
    """A warning when fewer than half the captions are distinct (empty list otherwise)."""
    if diversity["distinct_share"] >= COLLAPSE_SHARE:
        return []
    return [
        f"COLLAPSED CAPTIONER: only {diversity['distinct_captions']} distinct captions for "
        f"{diversity['num_captions']} images ({diversity['distinct_share']:.0%}). Scores that "
        "reward the typical caption (BERTScore, plain accuracies) overstate what it has learnt; "
        "compare with the majority and nearest-neighbour baselines."
    ]


__all__ = ["COLLAPSE_SHARE", "caption_diversity", "diversity_notes"]
