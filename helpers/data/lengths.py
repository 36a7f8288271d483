"""Caption lengths: the figures the data card and the caption statistics share.

Both ``helpers.data.card`` (the data card of the records in use) and
``helpers.data.caption_stats`` (the synthetic captions beside the real ones) count tokens and
summarise lengths the same way; they take these from here, so neither imports the other.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

LONG_CAPTION_WARN_SHARE = 0.01  # warn when more captions than this would be cut in training


def length_stats(lengths: Sequence[int]) -> dict[str, float]:
    """Mean, median, 90th percentile and maximum, rounded to one decimal."""
    values = np.asarray(lengths, dtype=float)
    return {
        "mean": round(float(values.mean()), 1),
        "median": round(float(np.median(values)), 1),
        "p90": round(float(np.percentile(values, 90)), 1),
        "max": int(values.max()),
    }


def caption_token_lengths(captions: Sequence[str], tokenizer: PreTrainedTokenizerBase) -> list[int]:
    """Tokens per caption, special tokens included, never truncated."""
    return [len(ids) for ids in tokenizer(list(captions), truncation=False)["input_ids"]]
