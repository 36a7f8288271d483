"""Does the caption follow the image? Diagnostics that expose a captioner ignoring its input.

- ``image_reliance``: caption the test images once more, shuffled among themselves (one cycle,
  so no image keeps its place), and read each caption's facts (``helpers.eval.domain_facts``).
  For each fact (deformation, activity type, atmosphere), over the places where the image's
  annotation and the place's annotation differ, it counts how often the caption states the
  image's fact and how often the place's. ``reliance`` is the first share minus the second: 1
  when the caption copies the fact from its image, about 0 when the image does not matter (a
  constant caption states a yes/no fact of the image exactly as often as the place's: around
  one cycle, changes one way equal changes the other way). ``reliance`` is the mean over the
  facts with such places. Also: how often the caption text changed at all.
- ``blank_image_caption``: the caption of one mid-grey image, and how many test captions equal it.
- ``heads_scores``: the attribute heads' own facts (``helpers.model.attributes``), scored by the
  same domain check as captions, beside the caption's, so a gap between what the encoder knows
  and what the decoder writes shows.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch
from PIL import Image

from helpers.config import CaptionConfig
from helpers.data.attributes import ATTRIBUTE_NAMES, attribute_targets, decide
from helpers.data.records import Record
from helpers.device import DeviceChoice
from helpers.eval.domain_facts import AnnotatedFacts, check_captions
from helpers.eval.domain_scores import summarize_facts
from helpers.eval.inference import caption_images, head_probabilities
from helpers.model.attributes import attribute_heads

CaptionFn = Callable[[Sequence[Any]], list[str]]  # images (paths or PIL) -> captions
FACTS = {  # fact -> (its verdict column, the annotated value compared between two records)
    "deformation": ("deformation_correct", lambda f: f.deformation),
    "activity": ("activity_correct", lambda f: f.activity_types if f.deformation else None),
    "atmosphere": ("atmospheric_correct", lambda f: f.atmospheric_level > 0),
}
BLANK_GREY = 128
BLANK_SIZE = 64


def one_cycle(count: int, seed: int) -> np.ndarray:
    """A seeded shuffle in which no index keeps its place (for count >= 2): ``order[k]`` is the
    image shown at place ``k``."""
    visit = np.random.default_rng(seed).permutation(count)
    order = np.empty(count, dtype=int)
    order[visit] = np.roll(visit, -1)
    return order


def image_reliance(
    records: Sequence[Record], captions: Sequence[str], caption: CaptionFn, seed: int = 0
) -> dict[str, Any]:
    """Caption ``records``' images in a shuffled order with ``caption`` and compare (see the
    module docstring). ``captions`` are the unshuffled captions, in ``records``' order."""
    if len(records) < 2 or len(captions) != len(records):
        raise ValueError("image_reliance needs two or more records and one caption per record")
    order = one_cycle(len(records), seed)
    shown = [records[index] for index in order]
    shuffled = caption([record.image_path for record in shown])
    by_image = check_captions(shuffled, shown)
    by_place = check_captions(shuffled, list(records))
    truths = [AnnotatedFacts.from_record(record) for record in records]
    facts = {}
    for fact, (column, value) in FACTS.items():
        differ = [
            k
            for k, index in enumerate(order)
            if value(truths[k]) is not None
            and value(truths[index]) is not None
            and value(truths[k]) != value(truths[index])
        ]
        if not differ:
            facts[fact] = {"pairs": 0, "follows_image": None, "follows_place": None}
            continue
        image_share = _share(by_image[column].iloc[differ])
        place_share = _share(by_place[column].iloc[differ])
        facts[fact] = {
            "pairs": len(differ),
            "follows_image": image_share,
            "follows_place": place_share,
            "reliance": image_share - place_share,
        }
    scored = [entry["reliance"] for entry in facts.values() if entry["pairs"]]
    return {
        "reliance": float(np.mean(scored)) if scored else None,
        "facts": facts,
        "caption_changed": float(
            np.mean([a != b for a, b in zip(shuffled, captions, strict=True)])
        ),
        "seed": seed,
    }


def _share(verdicts) -> float:
    return float(verdicts.fillna(False).astype(float).mean())


def blank_image_caption(captions: Sequence[str], caption: CaptionFn) -> dict[str, Any]:
    """The caption of a mid-grey image and the share of ``captions`` equal to it."""
    grey = Image.new("RGB", (BLANK_SIZE, BLANK_SIZE), (BLANK_GREY,) * 3)
    blank = caption([grey])[0]
    same = float(np.mean([text == blank for text in captions])) if captions else 0.0
    return {"caption": blank, "share_of_test_captions": same}


HEAD_WORDS = {  # how a head's fact is written so that the domain check reads it
    "deformation": "deformation can be detected.",
    "no deformation": "no deformation can be detected.",
    "atmosphere": "atmospheric fringes can be detected.",
}


def head_statement(holds: Sequence[bool]) -> str:
    """The heads' decided facts as a sentence the domain check reads."""
    named = dict(zip(ATTRIBUTE_NAMES, holds, strict=True))
    words = [HEAD_WORDS["deformation" if named["deformation"] else "no deformation"]]
    types = [name.split(":")[1] for name, on in named.items() if on and name.startswith("type:")]
    words += [f"a {kind.lower()} pattern." for kind in types]
    if named["atmosphere"]:
        words.append(HEAD_WORDS["atmosphere"])
    return " ".join(words)


@torch.no_grad()
def heads_scores(
    model: torch.nn.Module,
    processor: Any,
    records: Sequence[Record],
    device: DeviceChoice,
    batch_size: int = 16,
) -> dict[str, Any] | None:
    """The attribute heads' domain scores on ``records`` (None for a model without heads), and
    how often their most likely sector is one the annotation's polygons lie in."""
    heads = attribute_heads(model)
    if heads is None:
        return None
    images = [record.image_path for record in records]
    probabilities = head_probabilities(model, processor, images, device, batch_size)
    thresholds = heads.heads["thresholds"]
    decisions = [decide(row.tolist(), thresholds) for row in probabilities]
    domain = summarize_facts(check_captions([head_statement(d) for d in decisions], records))
    sector_hits = []
    for record, holds in zip(records, decisions, strict=True):
        if record.has_deformation and record.segmentation_mask:
            with Image.open(record.image_path) as image:
                truth = attribute_targets(record, image.size)
            sectors = [i for i, name in enumerate(ATTRIBUTE_NAMES) if name.startswith("sector:")]
            stated = [i for i in sectors if holds[i]]
            sector_hits.append(bool(stated) and all(truth[i] for i in stated))
    domain["sector_accuracy"] = float(np.mean(sector_hits)) if sector_hits else None
    return domain


def diagnose(
    model: torch.nn.Module,
    processor: Any,
    records: Sequence[Record],
    captions: Sequence[str],
    cfg: CaptionConfig,
    device: DeviceChoice,
) -> dict[str, Any]:
    """All three diagnostics of a model's ``captions`` of ``records`` (``cfg``'s decoding)."""

    def caption(images: Sequence[Any]) -> list[str]:
        return caption_images(model, processor, images, cfg, device, progress=False)

    return {
        "image_reliance": image_reliance(records, captions, caption, seed=cfg.seed),
        "blank_image": blank_image_caption(captions, caption),
        "heads": heads_scores(model, processor, records, device, cfg.eval_batch_size),
    }


DIAGNOSTIC_COLUMNS = {
    "image reliance": lambda d, s: d["image_reliance"]["reliance"],
    "caption changed with the image": lambda d, s: d["image_reliance"]["caption_changed"],
    "captions equal to the blank image's": lambda d, s: d["blank_image"]["share_of_test_captions"],
    "deformation bal. acc.: caption": lambda d, s: s["domain"]["deformation_balanced_accuracy"],
    "deformation bal. acc.: heads": lambda d, s: _heads(d, "deformation_balanced_accuracy"),
    "activity acc.: caption": lambda d, s: s["domain"]["activity_accuracy"],
    "activity acc.: heads": lambda d, s: _heads(d, "activity_accuracy"),
    "atmosphere bal. acc.: caption": lambda d, s: s["domain"]["atmospheric_balanced_accuracy"],
    "atmosphere bal. acc.: heads": lambda d, s: _heads(d, "atmospheric_balanced_accuracy"),
    "sector acc.: heads": lambda d, s: _heads(d, "sector_accuracy"),
}


def _heads(diagnostics: dict, key: str) -> float | None:
    heads = diagnostics.get("heads")
    return None if heads is None else heads.get(key)


def diagnostics_table(runs: dict[str, Any]) -> pd.DataFrame:
    """One row per run (label -> ``Results``) that has diagnostics: does its caption follow the
    image, and does it state what its heads know."""
    rows = {
        label: {
            name: read(run.summary["diagnostics"], run.summary)
            for name, read in DIAGNOSTIC_COLUMNS.items()
        }
        for label, run in runs.items()
        if run.summary.get("diagnostics")
    }
    return pd.DataFrame.from_dict(rows, orient="index")


def diagnostics_markdown(runs: dict[str, Any]) -> str:
    """``diagnostics_table`` as a Markdown section (empty when no run has diagnostics)."""
    table = diagnostics_table(runs)
    if table.empty:
        return ""
    table = table.T
    lines = ["| diagnostic | " + " | ".join(table.columns) + " |"]
    lines.append("| --- " * (len(table.columns) + 1) + "|")
    for name, row in table.iterrows():
        cells = ["-" if pd.isna(value) else f"{value:.2f}" for value in row]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "## Does the caption follow the image?\n\n" + "\n".join(lines) + "\n"


__all__ = [
    "diagnose",
    "diagnostics_markdown",
    "diagnostics_table",
    "blank_image_caption",
    "head_statement",
    "heads_scores",
    "image_reliance",
    "one_cycle",
]
