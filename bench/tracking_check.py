"""Live curves across a resume, and what TensorBoard adds to the install.

    uv run python bench/tracking_check.py            # smoke profile, a scratch workspace

Trains the smoke profile from the command line for 2 epochs with ``--log-with tensorboard
--log-every-steps 1``, reruns it with ``--epochs 3`` (a resume), then reads the event files
back with TensorBoard's own reader and reports, per scalar curve, its steps and how many appear
twice, and the provenance text the curves carry. It also sums the installed size of tensorboard
and the packages only it brings (tensorboard-data-server, grpcio) beside the whole environment.
Writes ``tracking_check.json`` to ``bench/results/`` (``--out``). The smoke profile is a tiny
random-init BLIP on synthetic data: a pipeline check, not a Hephaestus result.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from importlib import metadata
from pathlib import Path

from bench_cli import RESULTS_DIR, write_json_report

from helpers.messages import show_messages
from helpers.training.cli import main as train_main
from helpers.training.tracking import read_curves

TENSORBOARD_PACKAGES = ("tensorboard", "tensorboard-data-server", "grpcio")


def installed_mb(distribution: metadata.Distribution) -> float:
    """The size on disk of the files ``distribution`` installed, in MB."""
    total = 0
    for file in distribution.files or []:
        path = Path(distribution.locate_file(file))
        if path.is_file():
            total += path.stat().st_size
    return total / 1e6


def footprint() -> dict[str, float]:
    """Installed MB of TensorBoard's packages, their sum, and the whole environment."""
    sizes = {
        name: round(installed_mb(metadata.distribution(name)), 1) for name in TENSORBOARD_PACKAGES
    }
    environment = sum(installed_mb(dist) for dist in metadata.distributions())
    return {
        **sizes,
        "tensorboard_total": round(sum(sizes.values()), 1),
        "environment": round(environment, 1),
    }


def curves(run_dir: Path) -> dict[str, object]:
    """Each scalar curve's steps and duplicate count, and the texts, as TensorBoard shows them."""
    scalars, texts = {}, {}
    for tag, points in sorted(read_curves(run_dir).items()):
        if all(isinstance(value, str) for _, value in points):
            texts[tag] = [value for _, value in points]
        else:
            steps = [step for step, _ in points]
            scalars[tag] = {"steps": steps, "duplicates": len(steps) - len(set(steps))}
    return {"scalars": scalars, "texts": texts}


def main(argv: list[str] | None = None) -> dict:
    show_messages()  # what helpers reports, as in the notebooks
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=RESULTS_DIR, help="folder for the report")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as scratch:
        os.environ["CAPTION_WORKSPACE"] = scratch  # data and runs stay in the scratch folder
        run_dir = Path(scratch) / "run"
        common = [
            "--profile",
            "smoke",
            "--run-dir",
            str(run_dir),
            "--data-dir",
            str(Path(scratch) / "data"),
            "--log-with",
            "tensorboard",
            "--log-every-steps",
            "1",
        ]
        train_main([*common, "--epochs", "2"])
        train_main([*common, "--epochs", "3"])  # resumes after epoch 2
        report = {
            "what": "smoke profile (random-init BLIP, SYNTHETIC data): not a Hephaestus result",
            "commands": "2 epochs, then --epochs 3 (resumed)",
            **curves(run_dir),
            "installed_mb": footprint(),
        }
    for tag, curve in report["scalars"].items():
        print(f"{tag}: steps {curve['steps']}, duplicates {curve['duplicates']}")
    print(f"installed MB: {report['installed_mb']}")
    write_json_report(args.out, "tracking_check", report)
    return report


if __name__ == "__main__":
    main()
