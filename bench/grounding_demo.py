"""Pointing of the fine-tuned model's deformation phrase vs the centre and uniform baselines.

    uv run python bench/grounding_demo.py                      # demo profile, this workspace
    CAPTION_WORKSPACE=/tmp/ws uv run python bench/grounding_demo.py --profile smoke

Reuses the profile's fine-tuned model (``runs/<profile>/best``) when there is one, else trains
it first with ``helpers.training.cli`` (the demo run takes several minutes on a laptop CPU), then
explains the captions of the test images that have deformation polygons
(``helpers.eval.grounding_eval``), prints pointing accuracy and inside mass of the model and both
baselines with 95% bootstrap intervals, draws ``grounding_examples.png`` into the profile's
``assets/`` folder and writes ``grounding_<profile>.json`` to ``bench/results/`` (``--out``).
The demo profile is a small BLIP trained from scratch on synthetic data: a pipeline check, not a
Hephaestus result.
"""

from __future__ import annotations

import argparse
import platform
import time
from pathlib import Path

import torch
from bench_cli import RESULTS_DIR, without_folder, write_json_report

from helpers.config import PROFILES, load_config, workspace
from helpers.data.prepare import prepare_dataset
from helpers.device import choose_device
from helpers.eval.grounding_eval import METHOD, ground_records, grounding_table
from helpers.messages import show_messages
from helpers.training.cli import main as train_main
from helpers.training.runs import load_finetuned
from helpers.viz.grounding import plot_grounding_examples


def main(argv: list[str] | None = None) -> dict:
    show_messages()  # what helpers reports, as in the notebooks
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--profile", choices=PROFILES, default="demo")
    parser.add_argument("--resamples", type=int, default=1000)
    parser.add_argument("--examples", type=int, default=3, help="images in the figure")
    parser.add_argument("--out", type=Path, default=RESULTS_DIR, help="folder for the report")
    args = parser.parse_args(argv)

    cfg = load_config(args.profile)
    trained_here = not (cfg.run_dir / "best" / "config.json").is_file()
    start = time.perf_counter()
    if trained_here:
        print(f"No fine-tuned model in {cfg.run_dir / 'best'}: training it first.")
        train_main(["--profile", cfg.profile])
    train_s = time.perf_counter() - start

    device = choose_device(cfg.device, cfg.precision)
    data = prepare_dataset(cfg, progress=False)
    tuned = load_finetuned(cfg, "best")
    start = time.perf_counter()
    run = ground_records(
        tuned.model,
        tuned.processor,
        data.test,
        cfg,
        device,
        stage="after_training",
        resamples=args.resamples,
    )
    ground_s = time.perf_counter() - start
    provenance = cfg.provenance(data.synthetic)
    figure = cfg.output_dir / "grounding_examples.png"
    if run.records:
        plot_grounding_examples(run, figure, provenance, count=args.examples)

    report = {
        "benchmark": "grounding_demo",
        "provenance": provenance,
        "model": tuned.source,
        "trained_by_this_command": trained_here,
        "train_s": round(train_s, 1),
        "grounding_s": round(ground_s, 1),
        "test_images": len(data.test),
        "device": device.summary(),
        "machine": f"{platform.machine()}, {torch.get_num_threads()} torch threads",
        "torch": torch.__version__,
        "resamples": args.resamples,
        "seed": cfg.seed,
        "method": METHOD,
        "grounding": run.summary,
        "figure": str(figure) if run.records else None,
    }
    print(provenance)
    print(grounding_table({run.stage: run.summary}).to_string())
    write_json_report(args.out, f"grounding_{cfg.profile}", without_folder(report, workspace()))
    return report


if __name__ == "__main__":
    main()
