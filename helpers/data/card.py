"""The data card: what was loaded, what was skipped, and what the captions and labels look like.

``build_data_card`` gathers the figures a reader needs before trusting any score: records kept
and skipped (by reason), the layout found, caption lengths in words and in the model's tokens,
the share of captions longer than ``cfg.max_caption_tokens`` (they would be cut in training), the
class balance, activity types, intensity and atmospheric levels, and the split. Notebook 01
prints it and ``save_data_card`` writes ``data_card.json`` next to the other outputs.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pandas as pd
from transformers import PreTrainedTokenizerBase

from helpers.config import CaptionConfig
from helpers.data.lengths import LONG_CAPTION_WARN_SHARE, caption_token_lengths, length_stats
from helpers.data.prepare import PreparedData
from helpers.data.splits import split_table
from helpers.data.tokenizer import offline_tokenizer
from helpers.files import write_text_atomic

TOKENIZER_NOTE = (
    "tokens: BLIP's uncased WordPiece tokenizer, [CLS] and [SEP] included (the offline copy has "
    "the same vocabulary as BLIP-large's)"
)


def build_data_card(
    data: PreparedData,
    cfg: CaptionConfig,
    tokenizer: PreTrainedTokenizerBase | None = None,
) -> dict[str, Any]:
    """The data card of the records the notebooks use (after the unique-caption filter).

    ``tokenizer`` counts the tokens; by default the offline copy of BLIP's tokenizer, which
    needs no download and counts exactly as BLIP-large's does.
    """
    if tokenizer is None:
        tokenizer = offline_tokenizer()
    records = list(data.records_by_id.values())
    captions = [record.caption for record in records]
    tokens = caption_token_lengths(captions, tokenizer)
    too_long = sum(length > cfg.max_caption_tokens for length in tokens)
    deforming = [record for record in records if record.has_deformation]
    report = data.report
    return {
        "provenance": cfg.provenance(data.synthetic),
        "layout": data.layout.describe() if data.layout else "",
        "records_loaded": len(report.records),
        "records_used": len(records),
        "unique_captions_filter": cfg.unique_captions,
        "skipped_by_reason": report.skipped_by_reason(),
        "fields_defaulted": dict(report.missing_fields.most_common()),
        "caption_words": length_stats([len(caption.split()) for caption in captions]),
        "caption_tokens": length_stats(tokens),
        "tokenizer": TOKENIZER_NOTE,
        "max_caption_tokens": cfg.max_caption_tokens,
        "share_longer_than_max_caption_tokens": round(too_long / len(records), 4),
        "deformation_share": round(len(deforming) / len(records), 4),
        "activity_types": _counts(t for r in deforming for t in r.activity_type),
        "intensity_levels": _counts(i for r in deforming for i in r.intensity_level),
        "atmospheric_levels": _counts(str(r.atmospheric_fringes) for r in records),
        "split_rule": cfg.split,
        "splits": split_table(data.split, data.records_by_id).to_dict(orient="index"),
    }


def _counts(values) -> dict[str, int]:
    return dict(sorted(Counter(values).items(), key=lambda item: (-item[1], item[0])))


def data_card_warnings(card: dict[str, Any]) -> list[str]:
    """What a reader must not miss: captions cut in training, a split without both classes."""
    found = []
    share = card["share_longer_than_max_caption_tokens"]
    if share > LONG_CAPTION_WARN_SHARE:
        found.append(
            f"{share:.1%} of the captions are longer than max_caption_tokens="
            f"{card['max_caption_tokens']} (longest: {card['caption_tokens']['max']} tokens): "
            "training cuts them, so the model never sees their ends. Raise max_caption_tokens."
        )
    for name, row in card["splits"].items():
        if row["images"] and row["deformation_share"] in (0.0, 1.0):
            found.append(
                f"The {name} split holds only one class (deformation share "
                f"{row['deformation_share']:.0%}): its class-balanced scores are undefined."
            )
    return found


def data_card_table(card: dict[str, Any]) -> pd.DataFrame:
    """The card as a two-column table (nested figures flattened to ``a.b`` names)."""
    rows = pd.json_normalize(card, sep=".").T
    rows.columns = ["value"]
    rows.index.name = "figure"
    return rows


def save_data_card(card: dict[str, Any], output_dir: Path) -> Path:
    """Write ``data_card.json`` into ``output_dir``; return its path."""
    path = Path(output_dir) / "data_card.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_text_atomic(path, json.dumps(card, indent=1))
