"""The data card's figures, checked by hand on a small fixture."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from helpers.config import CaptionConfig
from helpers.data.card import build_data_card, data_card_table, data_card_warnings, save_data_card
from helpers.data.layouts import DataLayout
from helpers.data.lengths import caption_token_lengths
from helpers.data.prepare import PreparedData
from helpers.data.records import LoadReport, Record, SkippedItem
from helpers.data.splits import Split
from helpers.model.loading import build_offline_processor


class WordTokenizer:
    """One token per word plus [CLS] and [SEP]: lengths a reader can count by hand."""

    def __call__(self, captions: list[str], truncation: bool) -> dict[str, list[list[int]]]:
        assert truncation is False
        return {"input_ids": [[0] * (len(c.split()) + 2) for c in captions]}


def record(uid: str, frame: str, words: int, types=(), intensity=(), atmosphere=0) -> Record:
    label = ("Deformation",) if types else ("Non_Deformation",)
    caption = " ".join(["word"] * words)
    return Record(
        uid,
        frame,
        Path(f"{uid}.png"),
        caption,
        label=label,
        activity_type=tuple(types),
        intensity_level=tuple(intensity),
        atmospheric_fringes=atmosphere,
    )


def fixture(tmp_path: Path) -> tuple[PreparedData, CaptionConfig]:
    records = [
        record("1", "A", 4, ("Mogi",), ("High",), atmosphere=1),
        record("2", "A", 8, ("Sill", "Dyke"), ("Low", "Medium"), atmosphere=2),
        record("3", "B", 2),
        record("4", "C", 10, ("Sill",), ("Low",), atmosphere=1),
        record("5", "D", 6, ("Sill",), ("High",), atmosphere=0),
    ]
    report = LoadReport(
        records=records + [record("6", "D", 6)],  # 6 was dropped by the unique-caption filter
        skipped=[
            SkippedItem(Path("7.json"), "invalid JSON"),
            SkippedItem(Path("8.png"), "unreadable image"),
            SkippedItem(Path("9.png"), "unreadable image"),
        ],
        missing_fields=Counter({"phase": 6, "confidence": 2}),
    )
    split = Split(train=["1", "2", "3"], val=["4"], test=["5"])
    layout = DataLayout(
        "folders", tmp_path, folders=(tmp_path / "images", tmp_path / "annotations")
    )
    data = PreparedData({r.unique_id: r for r in records}, split, report, False, None, layout)
    return data, CaptionConfig(max_caption_tokens=9, output_dir=tmp_path / "assets")


def test_data_card_figures_match_the_hand_count(tmp_path: Path) -> None:
    data, cfg = fixture(tmp_path)
    card = build_data_card(data, cfg, WordTokenizer())

    assert card["records_loaded"] == 6 and card["records_used"] == 5
    assert card["skipped_by_reason"] == {"unreadable image": 2, "invalid JSON": 1}
    assert card["fields_defaulted"] == {"phase": 6, "confidence": 2}
    assert card["layout"] == f"folders: images, annotations in {tmp_path}"
    # words 4, 8, 2, 10, 6 -> mean 6, median 6, p90 9.2 (numpy's linear rule), max 10
    assert card["caption_words"] == {"mean": 6.0, "median": 6.0, "p90": 9.2, "max": 10}
    assert card["caption_tokens"] == {"mean": 8.0, "median": 8.0, "p90": 11.2, "max": 12}
    # tokens 6, 10, 4, 12, 8: two of five exceed 9
    assert card["share_longer_than_max_caption_tokens"] == 0.4
    assert card["deformation_share"] == 0.8
    assert card["activity_types"] == {"Sill": 3, "Dyke": 1, "Mogi": 1}
    assert card["intensity_levels"] == {"High": 2, "Low": 2, "Medium": 1}
    assert card["atmospheric_levels"] == {"1": 2, "0": 2, "2": 1}
    assert card["splits"]["train"] == {"images": 3, "frames": 2, "deformation_share": 0.667}
    assert card["splits"]["test"] == {"images": 1, "frames": 1, "deformation_share": 1.0}
    assert card["split_rule"] == "random-frames"
    assert "Hephaestus data" in card["provenance"]

    warnings = data_card_warnings(card)
    assert any("40.0% of the captions are longer than max_caption_tokens=9" in w for w in warnings)
    assert sum("holds only one class" in w for w in warnings) == 2  # val and test

    path = save_data_card(card, cfg.output_dir)
    assert json.loads(path.read_text()) == card
    table = data_card_table(card)
    assert table.loc["caption_tokens.p90", "value"] == 11.2


def test_no_warning_when_captions_fit_and_offline_tokenizer_counts_special_tokens(
    tmp_path: Path,
) -> None:
    data, cfg = fixture(tmp_path)
    card = build_data_card(data, cfg.with_overrides(max_caption_tokens=12), WordTokenizer())
    assert not any("longer than" in w for w in data_card_warnings(card))
    tokenizer = build_offline_processor(32).tokenizer
    assert caption_token_lengths(["word word word"], tokenizer) == [5]  # [CLS] 3 words [SEP]
