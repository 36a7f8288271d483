"""Grounding on test images: explain the captions, score their pointing, save ``grounding.json``.

Scored images: test images whose annotation has deformation and at least one polygon
(:func:`eligible`), whose caption states deformation (``helpers.eval.domain_facts``); the map scored
is the caption's deformation phrase (``Explanation.phrase_map("deformation")``). The centre and
uniform baselines are scored on the same images (``helpers.eval.pointing``). Intervals: a seeded
percentile bootstrap over the scored images; every mean of a run uses the same resamples (same
seed, same image count), so the model-minus-centre differences are paired.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from PIL import Image

from helpers.config import CaptionConfig
from helpers.data.records import Record
from helpers.device import DeviceChoice
from helpers.eval.domain_facts import PRESENT, read_facts
from helpers.eval.grounding import Explanation, explain_captions
from helpers.eval.pointing import (
    CENTRE_SIGMA,
    mean_interval,
    point,
    point_centre,
    point_uniform,
    polygon_coverage,
    to_frame,
)
from helpers.eval.results import _finite
from helpers.files import write_text_atomic

GROUNDING_FILE = "grounding.json"
MAPS = ("model", "centre", "uniform")
SCORES = {"pointing_accuracy": "hit", "inside_mass": "mass"}
METHOD = {
    "aggregation": "attention rollout through the text decoder's self- and cross-attention "
    "(Abnar & Zuidema 2020; gradient-free form of Chefer et al. 2021), heads averaged",
    "phrase": "deformation phrase: tokens of the stated deformation and activity-type mentions",
    "pointing": "peak patch overlaps an annotated polygon (margin: half a patch around the peak)",
    "inside_mass": "share of the map's mass inside the polygons (processor's resized frame)",
    "centre_baseline": f"Gaussian at the frame centre, sigma {CENTRE_SIGMA} x side",
    "uniform_baseline": "uniform map: inside mass = polygon area share; pointing = share of "
    "patches overlapping a polygon",
    "intervals": "95% percentile bootstrap over scored images, same resamples for every map",
}


def eligible(records: Sequence[Record]) -> list[Record]:
    """Records with deformation and at least one annotated polygon."""
    return [r for r in records if r.has_deformation and r.polygon_count > 0]


def frame_polygons(record: Record, side: int) -> list[np.ndarray]:
    """The record's polygons in the processor's ``side x side`` frame."""
    with Image.open(record.image_path) as image:
        raw_size = image.size
    return [to_frame(polygon, raw_size, side) for polygon in record.segmentation_mask]


@dataclass(frozen=True)
class GroundingRun:
    """One model's grounding on the eligible test images (same order in all three)."""

    stage: str
    records: list[Record]
    explanations: list[Explanation]
    table: pd.DataFrame
    summary: dict[str, Any]


def pointing_table(records: Sequence[Record], explanations: Sequence[Explanation]) -> pd.DataFrame:
    """One row per image: the caption, whether it is scored, and every map's scores (the
    model's are NaN where the caption does not state deformation)."""
    rows = []
    for record, explanation in zip(records, explanations, strict=True):
        side, grid = explanation.frame_size, explanation.grid
        coverage = polygon_coverage(frame_polygons(record, side), side)
        phrase = explanation.phrase_map("deformation")
        stated = read_facts(explanation.caption).deformation == PRESENT
        scored = stated and phrase is not None
        model = point(phrase, coverage) if scored else None
        centre, uniform = point_centre(coverage, grid), point_uniform(coverage, grid)
        rows.append(
            {
                "image_id": record.unique_id,
                "caption": explanation.caption,
                "states_deformation": stated,
                "scored": scored,
                "model_hit": model.hit if model else np.nan,
                "model_mass": model.inside_mass if model else np.nan,
                "centre_hit": centre.hit,
                "centre_mass": centre.inside_mass,
                "uniform_hit": uniform.hit,
                "uniform_mass": uniform.inside_mass,
            }
        )
    return pd.DataFrame(rows, columns=_COLUMNS)


_COLUMNS = ["image_id", "caption", "states_deformation", "scored"] + [
    f"{m}_{s}" for m in MAPS for s in ("hit", "mass")
]


def summarize_grounding(table: pd.DataFrame, resamples: int, seed: int) -> dict[str, Any]:
    """Counts, each map's pointing accuracy and inside mass with intervals, and the paired
    model-minus-centre differences, over the scored images."""
    scored = table[table["scored"].astype(bool)]
    summary: dict[str, Any] = {
        "images_with_polygons": len(table),
        "captions_stating_deformation": int(table["states_deformation"].astype(bool).sum()),
        "scored": len(scored),
    }
    for key, suffix in SCORES.items():
        summary[key] = {m: mean_interval(scored[f"{m}_{suffix}"], resamples, seed) for m in MAPS}
    summary["model_minus_centre"] = {
        key: mean_interval(scored[f"model_{s}"] - scored[f"centre_{s}"], resamples, seed)
        for key, s in SCORES.items()
    }
    return summary


def ground_records(
    model: torch.nn.Module,
    processor: Any,
    records: Sequence[Record],
    cfg: CaptionConfig,
    device: DeviceChoice,
    *,
    stage: str,
    resamples: int = 1000,
    progress: bool = True,
) -> GroundingRun:
    """Explain the captions of the eligible ``records`` and score their pointing."""
    chosen = eligible(records)
    images = [r.image_path for r in chosen]
    explanations = (
        explain_captions(model, processor, images, cfg, device, progress=progress) if chosen else []
    )
    table = pointing_table(chosen, explanations)
    return GroundingRun(
        stage, chosen, explanations, table, summarize_grounding(table, resamples, cfg.seed)
    )


def save_grounding(
    runs: Sequence[GroundingRun],
    cfg: CaptionConfig,
    *,
    data_synthetic: bool,
    models: dict[str, str] | None = None,
    output_dir: Path | None = None,
) -> Path:
    """Write ``grounding.json`` (a ``grounding`` block per stage, the method, provenance) and
    ``grounding_<stage>.csv`` per run into ``output_dir`` (default ``cfg.output_dir``)."""
    folder = Path(output_dir or cfg.output_dir)
    models = models or {}
    payload = {
        "provenance": cfg.provenance(data_synthetic),
        "profile": cfg.profile,
        "stand_in": cfg.is_stand_in or data_synthetic,
        "data_synthetic": data_synthetic,
        "method": METHOD,
        "grounding": {
            run.stage: {"model": models.get(run.stage, cfg.model_name), **run.summary}
            for run in runs
        },
    }
    for run in runs:
        write_text_atomic(folder / f"grounding_{run.stage}.csv", run.table.to_csv(index=False))
    return write_text_atomic(folder / GROUNDING_FILE, json.dumps(_finite(payload), indent=2) + "\n")


def _shown(interval: dict[str, float | None]) -> str:
    if interval["value"] is None:
        return "n/a"
    return f"{interval['value']:.2f} [{interval['low']:.2f}, {interval['high']:.2f}]"


def grounding_table(summaries: dict[str, dict[str, Any]]) -> pd.DataFrame:
    """Stage x map rows (pointing accuracy, inside mass with 95% intervals, images scored),
    e.g. from ``{run.stage: run.summary}`` or a ``grounding.json``'s ``grounding`` block."""
    rows = {
        (stage, m): {
            **{key.replace("_", " "): _shown(summary[key][m]) for key in SCORES},
            "images scored": summary["scored"],
        }
        for stage, summary in summaries.items()
        for m in MAPS
    }
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.names = ["stage", "map"]
    return table


__all__ = [
    "GROUNDING_FILE",
    "METHOD",
    "GroundingRun",
    "eligible",
    "frame_polygons",
    "ground_records",
    "grounding_table",
    "pointing_table",
    "save_grounding",
    "summarize_grounding",
]
