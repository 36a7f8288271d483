"""Command-line pieces the benchmarks share: a quick mode's defaults, and where reports go."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

RESULTS_DIR = Path(__file__).parent / "results"


def add_quick_mode(parser: argparse.ArgumentParser, quick_help: str) -> None:
    """``--device``, ``--quick`` (seconds-long settings that check the script) and ``--out``."""
    parser.add_argument("--device", default="auto")
    parser.add_argument("--quick", action="store_true", help=quick_help)
    parser.add_argument("--out", type=Path, default=RESULTS_DIR, help="folder for the report")


def fill_defaults(
    args: argparse.Namespace, defaults: dict[str, Any], quick: dict[str, Any]
) -> argparse.Namespace:
    """Set the options the user left unset from ``quick`` (with ``--quick``) or ``defaults``."""
    for key, value in (quick if args.quick else defaults).items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    return args


def write_json_report(out_dir: Path, stem: str, report: dict[str, Any]) -> Path:
    """Write ``report`` to ``out_dir/stem.json`` and say where."""
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{stem}.json"
    path.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {path}")
    return path


def without_folder(report: dict[str, Any], folder: Path, name: str = "<workspace>") -> dict:
    """``report`` with every mention of ``folder`` (a scratch workspace of this machine) written
    as ``name``, so committed reports carry no local paths."""
    return json.loads(json.dumps(report).replace(str(Path(folder).resolve()), name))
