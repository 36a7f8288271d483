"""Decoding settings: the zero-shot baseline's, the fine-tuned defaults, and a choice made on the
validation split.

Real Hephaestus captions repeat template phrases ("can be detected" two or three times in 89% of
them), so a fine-tuned model must be free to repeat: its defaults (``CaptionConfig``) have no
``no_repeat_ngram_size`` and no ``repetition_penalty``. The zero-shot baseline keeps both
(:func:`zero_shot_config`): the pretrained model rambles and repeats itself.

:func:`tune_decoding` picks a fine-tuned model's settings from ``cfg.decoding_grid`` on the
**validation** split, never on test. The criterion:

1. the highest CIDEr-D of the validation captions (pycocoevalcap's CIDEr-D on text tokenised by
   ``helpers.eval.metrics.tokenize``; its idf comes from the validation references);
2. ties (equal to 1e-9) go to the highest domain score: the mean of the class-balanced
   deformation accuracy, the activity-type accuracy and the class-balanced atmospheric-fringe
   accuracy (``helpers.eval.domain_scores``; those defined on the validation images);
3. then to the setting listed first in the grid (the default grid lists the cheapest first).

The choice is saved as ``decoding.json`` next to the run (``cfg.run_dir``) with every setting's
scores; :func:`apply_saved_decoding` reads it back for the test split (notebooks 04 and 05).
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from tqdm.auto import tqdm

from helpers.config import CaptionConfig, shareable_name
from helpers.data.records import Record
from helpers.device import DeviceChoice
from helpers.eval.domain_facts import check_captions
from helpers.eval.domain_scores import summarize_facts
from helpers.eval.inference import caption_images
from helpers.eval.metrics import cider_d
from helpers.files import write_text_atomic

log = logging.getLogger(__name__)

DECODING_FILE = "decoding.json"
CRITERION = (
    "highest CIDEr-D on the validation split; ties (1e-9) broken by the domain check (mean of "
    "the balanced deformation, activity and balanced atmospheric accuracies), then grid order"
)
TIE_TOLERANCE = 1e-9
ZERO_SHOT_SOURCE = "zero-shot baseline (anti-repetition)"
_DOMAIN_KEYS = (
    "deformation_balanced_accuracy",
    "activity_accuracy",
    "atmospheric_balanced_accuracy",
)


@dataclass(frozen=True)
class Decoding:
    """One decoding setting of the grid (``max_new_tokens`` stays the config's)."""

    num_beams: int
    length_penalty: float
    no_repeat_ngram_size: int
    repetition_penalty: float

    @classmethod
    def of(cls, cfg: CaptionConfig) -> Decoding:
        """The setting a config decodes with."""
        return cls(
            cfg.num_beams, cfg.length_penalty, cfg.no_repeat_ngram_size, cfg.repetition_penalty
        )

    def apply(self, cfg: CaptionConfig, source: str) -> CaptionConfig:
        """``cfg`` decoding with this setting; ``source`` says what chose it (in results)."""
        return cfg.with_overrides(**asdict(self), decoding_source=source)

    def __str__(self) -> str:
        beams = f"{self.num_beams} beams, length penalty {self.length_penalty:g}"
        return (
            f"{'greedy' if self.num_beams == 1 else beams}, no-repeat "
            f"{self.no_repeat_ngram_size or 'off'}, repetition penalty {self.repetition_penalty:g}"
        )


def zero_shot_config(cfg: CaptionConfig) -> CaptionConfig:
    """``cfg`` decoding as the zero-shot baseline does: with its anti-repetition settings."""
    return cfg.with_overrides(
        no_repeat_ngram_size=cfg.zero_shot_no_repeat_ngram_size,
        repetition_penalty=cfg.zero_shot_repetition_penalty,
        decoding_source=ZERO_SHOT_SOURCE,
    )


def decoding_grid(cfg: CaptionConfig) -> list[Decoding]:
    """The settings ``tune_decoding`` tries, in order; a clear error for a malformed grid."""
    grid = []
    for entry in cfg.decoding_grid:
        if len(entry) != 4:
            raise ValueError(
                f"decoding_grid entry {entry!r}: expected (num_beams, length_penalty, "
                "no_repeat_ngram_size, repetition_penalty)"
            )
        beams, length_penalty, no_repeat, penalty = entry
        grid.append(Decoding(int(beams), float(length_penalty), int(no_repeat), float(penalty)))
    if not grid:
        raise ValueError("decoding_grid is empty: give at least one setting")
    return grid


def domain_score(captions: Sequence[str], records: Sequence[Record]) -> float:
    """Mean of the defined domain scores of ``_DOMAIN_KEYS`` (0 when none is defined)."""
    summary = summarize_facts(check_captions(captions, records))
    values = [summary[key] for key in _DOMAIN_KEYS if summary[key] is not None]
    return float(sum(values) / len(values)) if values else 0.0


def best_row(table: pd.DataFrame) -> int:
    """Index of the row the criterion picks: highest ``cider``, then ``domain``, then first."""
    best = 0
    for index in range(1, len(table)):
        cider, top = table["cider"].iloc[index], table["cider"].iloc[best]
        if cider > top + TIE_TOLERANCE or (
            math.isclose(cider, top, rel_tol=0, abs_tol=TIE_TOLERANCE)
            and table["domain"].iloc[index] > table["domain"].iloc[best]
        ):
            best = index
    return best


@dataclass(frozen=True)
class DecodingChoice:
    """The setting picked on validation, every setting's scores, and what they were made on."""

    best: Decoding
    table: pd.DataFrame  # one row per setting: its fields, cider, domain, seconds, chosen
    val_image_ids: tuple[str, ...]
    max_new_tokens: int
    model: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "chosen": asdict(self.best),
            "chosen_text": str(self.best),
            "max_new_tokens": self.max_new_tokens,
            "criterion": CRITERION,
            "split": "validation",
            "model": self.model,
            "val_images": len(self.val_image_ids),
            "val_image_ids": list(self.val_image_ids),
            "settings": self.table.to_dict(orient="records"),
        }


def tune_decoding(
    model: torch.nn.Module,
    processor: Any,
    val_records: Sequence[Record],
    cfg: CaptionConfig,
    device: DeviceChoice,
    *,
    run_dir: Path | None = None,
    model_label: str | None = None,
    progress: bool = True,
) -> DecodingChoice:
    """Caption the first ``cfg.decoding_val_samples`` validation records with every setting of
    ``cfg.decoding_grid``, pick one by the module's criterion, print the table, and save
    ``decoding.json`` in ``run_dir`` (default ``cfg.run_dir``; pass the test split never).
    """
    records = list(val_records)[: cfg.decoding_val_samples]
    if not records:
        raise ValueError("no validation records to choose the decoding on")
    references = [r.caption for r in records]
    images = [r.image_path for r in records]
    rows = []
    for setting in tqdm(decoding_grid(cfg), desc="decoding settings", disable=not progress):
        start = time.perf_counter()
        captions = caption_images(
            model, processor, images, setting.apply(cfg, "tuning"), device, progress=False
        )
        rows.append(
            {
                **asdict(setting),
                "cider": cider_d(references, captions),
                "domain": domain_score(captions, records),
                "distinct_captions": len(set(captions)),
                "seconds": round(time.perf_counter() - start, 2),
            }
        )
    table = pd.DataFrame(rows)
    best = best_row(table)
    table["chosen"] = [index == best for index in range(len(table))]
    choice = DecodingChoice(
        best=decoding_grid(cfg)[best],
        table=table,
        val_image_ids=tuple(r.unique_id for r in records),
        max_new_tokens=cfg.max_new_tokens,
        model=shareable_name(model_label or cfg.model_name),
    )
    path = save_decoding(choice, Path(run_dir or cfg.run_dir))
    log.info(table.round(4).to_string(index=False))
    log.info(f"chosen on {len(records)} validation images: {choice.best} (saved to {path})")
    return choice


def save_decoding(choice: DecodingChoice, run_dir: Path) -> Path:
    """Write ``run_dir/decoding.json`` (atomically); return its path."""
    path = Path(run_dir) / DECODING_FILE
    write_text_atomic(path, json.dumps(choice.to_dict(), indent=2) + "\n")
    return path


def load_decoding(run_dir: Path) -> Decoding:
    """The setting saved in ``run_dir/decoding.json``; a clear error when it is missing."""
    path = Path(run_dir) / DECODING_FILE
    if not path.is_file():
        raise FileNotFoundError(
            f"No {DECODING_FILE} in {run_dir}: run tune_decoding (notebook 04) first."
        )
    chosen = json.loads(path.read_text(encoding="utf-8"))["chosen"]
    return Decoding(**{name: chosen[name] for name in Decoding.__dataclass_fields__})


def apply_saved_decoding(
    cfg: CaptionConfig, run_dir: Path | None = None, *, missing_ok: bool = False
) -> CaptionConfig:
    """``cfg`` with the decoding saved in ``run_dir`` (default ``cfg.run_dir``), saying so.

    With ``missing_ok``, a missing file keeps ``cfg``'s fine-tuned defaults (and says so).
    """
    folder = Path(run_dir or cfg.run_dir)
    try:
        setting = load_decoding(folder)
    except FileNotFoundError as error:
        if not missing_ok:
            raise
        log.info(f"{error} Decoding with the fine-tuned defaults: {Decoding.of(cfg)}.")
        return cfg
    source = f"chosen on the validation split ({folder.name}/{DECODING_FILE})"
    log.info(f"decoding {source}: {setting}")
    return setting.apply(cfg, source)


__all__ = [
    "CRITERION",
    "DECODING_FILE",
    "Decoding",
    "DecodingChoice",
    "apply_saved_decoding",
    "best_row",
    "decoding_grid",
    "domain_score",
    "load_decoding",
    "save_decoding",
    "tune_decoding",
    "zero_shot_config",
]
