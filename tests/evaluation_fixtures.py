"""Shared stand-ins for the evaluation tests: typed records and a fake BERTScore model."""

from __future__ import annotations

from pathlib import Path

import torch

from helpers.data.records import Record
from helpers.eval.metrics import BertScoreModel, ScorerInfo


def make_record(
    uid: str | int,
    caption: str = "Ground deformation caused by a dyke can be detected.",
    label: str = "Deformation",
    types: tuple[str, ...] = (),
    atmospheric: int = 0,
    image_path: Path | None = None,
) -> Record:
    return Record(
        unique_id=str(uid),
        frame_id=f"frame-{uid}",
        image_path=image_path or Path(f"{uid}.png"),
        caption=caption,
        label=(label,),
        activity_type=tuple(types),
        atmospheric_fringes=atmospheric,
    )


class FakeBERTScorer:
    """P = R = F = 1 for an exact match, else 0.5."""

    def score(self, cands, refs, batch_size=64):
        values = torch.tensor([1.0 if c == r[0] else 0.5 for c, r in zip(cands, refs, strict=True)])
        return values, values, values


def fake_scorer(name: str = "fake-bert") -> BertScoreModel:
    return BertScoreModel(FakeBERTScorer(), ScorerInfo(name, 3))
