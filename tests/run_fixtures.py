"""Finished tiny runs for the model-card and sharing tests: trained for one epoch on the tiny
data of ``test_training``, with an evaluation recorded from fake scores on made-up records."""

from __future__ import annotations

from pathlib import Path

from evaluation_fixtures import fake_scorer, make_record
from test_training import run_tiny, tiny_config

from helpers.config import CaptionConfig, load_config
from helpers.eval.comparison import compare
from helpers.eval.record import record_evaluation
from helpers.eval.results import Results, build_results

# a made-up Hub id: the "real-profile" run records it as its base model; nothing is downloaded
REAL_BASE = "example-org/blip-test-base"


def tiny_run(tmp_path: Path, profile: str, lora: bool = False) -> CaptionConfig:
    """Train a tiny run for one epoch; ``profile="full"`` records a real-profile run (a Hub base
    model and no synthetic data), the others a stand-in. Returns the run's config."""
    cfg = tiny_config(tmp_path / f"{profile}-{'lora' if lora else 'full'}", epochs=1)
    if profile == "full":
        values = {k: v for k, v in cfg.to_dict().items() if k != "profile"}
        cfg = load_config("full", **{**values, "model_name": REAL_BASE})
    run_tiny(cfg, lora=lora)
    return cfg


def fake_evaluation(cfg: CaptionConfig) -> dict[str, Results]:
    """Zero-shot and fine-tuned results on 6 made-up test records, scored by the fake scorer
    (exact match 1.0, else 0.5): the fine-tuned captions match 4 of 6 references."""
    records = [
        make_record(i, caption=f"Deformation pattern number {i} can be detected.") for i in range(6)
    ]
    tuned = [r.caption if i < 4 else "No deformation." for i, r in enumerate(records)]
    zero_shot = ["a blue and yellow picture"] * len(records)
    return {
        "zero-shot": build_results(records, zero_shot, cfg, scorer=fake_scorer()),
        "fine-tuned": build_results(records, tuned, cfg, scorer=fake_scorer()),
    }


def evaluated_run(tmp_path: Path, profile: str, lora: bool = False) -> CaptionConfig:
    """A tiny run with its evaluation recorded (``helpers.eval.record``)."""
    cfg = tiny_run(tmp_path, profile, lora)
    runs = fake_evaluation(cfg)
    record_evaluation(cfg, runs, compare(runs), target="fine-tuned")
    return cfg
