"""Is a placed deformation source found? Screen synthetic LiCSAR-shaped frames and compare how
often the captions state deformation for patches that hold a source and for patches that do not.

    uv run python bench/licsar_screening.py --model runs/demo/best --seeds 0 1 2 3 4
    uv run python bench/licsar_screening.py --profile smoke --quick   # seconds: checks the script

Each seed writes a synthetic frame (``helpers.geo.synthetic_frame``: a few sources drawn as the
training images' are, atmosphere, lost coherence, no-data corners) to a scratch folder and
screens it (``helpers.geo.screening.screen_frame``). A patch *holds* a source when the source's
centre lies at least a quarter of a patch inside its window (``--margin``); it is *clear* when
its window meets no source's footprint (the pixels displaced by half a fringe or more). Patches
that only graze a footprint count in neither group. The report gives both rates with 95% Wilson
intervals, per frame and over all frames, and the heads' mean deformation probability where the
model has heads.

The model is ``--model`` (a trained run's ``best/`` or ``final/`` folder, or any name
``load_captioner`` takes), else the profile's fine-tuned ``runs/<profile>/best`` when there is one,
else the profile's untrained stand-in. Nothing is trained here. Synthetic frames and a stand-in
model: the result shows whether the pipeline finds what was placed, not a Hephaestus result.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import tempfile
import time
from pathlib import Path

import torch
from bench_cli import RESULTS_DIR, without_folder, write_json_report

from helpers.config import PROFILES, load_config, shareable_name, workspace
from helpers.device import choose_device
from helpers.eval.domain_facts import PRESENT
from helpers.geo.licsar import read_licsar
from helpers.geo.screening import screen_frame
from helpers.geo.synthetic_frame import SIZE, SMOKE, SOURCES, write_synthetic_frame
from helpers.geo.tiles import OVERLAP, PATCH_SIZE, Patch
from helpers.messages import show_messages
from helpers.model.loading import load_captioner
from helpers.training.runs import pick_checkpoint

LABEL = "synthetic frames, stand-in model: not a Hephaestus result"


def wilson(hits: int, total: int) -> list[float] | None:
    """95% Wilson score interval of a rate (None without trials)."""
    if total == 0:
        return None
    z, rate = 1.96, hits / total
    middle = (rate + z * z / (2 * total)) / (1 + z * z / total)
    half = (
        z * math.sqrt(rate * (1 - rate) / total + z * z / (4 * total * total)) / (1 + z * z / total)
    )
    return [round(middle - half, 3), round(middle + half, 3)]


def overlaps(patch: Patch, box: list[int]) -> bool:
    """Whether the patch's window meets a [row0, col0, row1, col1] box."""
    row0, col0, row1, col1 = box
    return (
        patch.row < row1
        and row0 < patch.row + patch.height
        and patch.col < col1
        and col0 < patch.col + patch.width
    )


def groups(patches: list[Patch], sources: list[dict], margin: float) -> dict[int, str]:
    """patch number -> "holds", "clear" or "grazes"."""
    found = {}
    for patch in patches:
        if any(patch.contains(s["row"], s["col"], margin) for s in sources):
            found[patch.number] = "holds"
        elif any(overlaps(patch, s["footprint"] or [s["row"], s["col"]] * 2) for s in sources):
            found[patch.number] = "grazes"
        else:
            found[patch.number] = "clear"
    return found


def rates(rows: list[dict]) -> dict:
    """Deformation stated, for patches that hold a source and for clear ones."""
    summary = {}
    for group in ("holds", "clear"):
        chosen = [r for r in rows if r["group"] == group]
        hits = sum(r["stated"] for r in chosen)
        probabilities = [r["p_deformation"] for r in chosen if r["p_deformation"] is not None]
        summary[group] = {
            "patches": len(chosen),
            "deformation_stated": hits,
            "rate": round(hits / len(chosen), 3) if chosen else None,
            "interval_95": wilson(hits, len(chosen)),
            "heads_mean_p_deformation": (
                round(sum(probabilities) / len(probabilities), 3) if probabilities else None
            ),
        }
    return summary


def heads_auc(rows: list[dict]) -> float | None:
    """How often a patch holding a source gets a higher head p(deformation) than a clear one
    (ties count half): 0.5 when the heads cannot tell them apart, whatever their threshold."""
    held = [
        r["p_deformation"] for r in rows if r["group"] == "holds" and r["p_deformation"] is not None
    ]
    clear = [
        r["p_deformation"] for r in rows if r["group"] == "clear" and r["p_deformation"] is not None
    ]
    if not held or not clear:
        return None
    wins = sum((h > c) + 0.5 * (h == c) for h in held for c in clear)
    return round(wins / (len(held) * len(clear)), 3)


def markdown(report: dict) -> str:
    lines = [
        f"# LiCSAR screening of synthetic frames ({report['label']})",
        "",
        f"Model: `{report['model']}` ({report['model_note']}). Frames: seeds {report['seeds']}, "
        f"{report['frame']['width']} x {report['frame']['height']} px, "
        f"{report['frame']['sources']} sources each; patches {report['patch_size']} px, overlap "
        f"{report['overlap']} px; a patch holds a source when its centre lies "
        f"{report['margin']} px or more inside. {report['machine']}, {report['seconds']} s.",
        "",
        "| patches | count | deformation stated | rate [95% interval] | heads' p(deformation) |",
        "| --- | ---: | ---: | --- | --- |",
    ]
    for group, name in (("holds", "holding a placed source"), ("clear", "clear of every source")):
        row = report["overall"][group]
        interval = row["interval_95"] or ["-", "-"]
        lines.append(
            f"| {name} | {row['patches']} | {row['deformation_stated']} | {row['rate']} "
            f"[{interval[0]}, {interval[1]}] | {row['heads_mean_p_deformation']} |"
        )
    lines += [
        "",
        f"Distinct captions: {report['distinct_captions']} of {report['patches']} patches. "
        f"Heads' AUC (a holding patch's p(deformation) above a clear one's): "
        f"{report['heads_auc']}.",
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> dict:
    show_messages()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--profile", choices=PROFILES, default="demo")
    parser.add_argument("--model", help="a run's best/ or final/ folder, or a model name")
    parser.add_argument("--model-note", default="", help="how the model was trained, in words")
    parser.add_argument("--seeds", type=int, nargs="+", help="one synthetic frame per seed")
    parser.add_argument("--margin", type=float, default=PATCH_SIZE / 4, help="pixels")
    parser.add_argument("--quick", action="store_true", help="two small frames: checks the script")
    parser.add_argument("--name", default="licsar_screening", help="report file stem")
    parser.add_argument("--out", type=Path, default=RESULTS_DIR, help="folder for the report")
    args = parser.parse_args(argv)

    cfg = load_config(args.profile)
    model = args.model or pick_checkpoint(cfg)
    cfg = cfg.with_overrides(model_name=str(model))
    seeds = args.seeds or ([0, 1] if args.quick else [0, 1, 2, 3, 4])
    frame = dict(SMOKE) if args.quick else {"width": SIZE[0], "height": SIZE[1], "sources": SOURCES}
    device = choose_device(cfg.device, cfg.precision)
    captioner = load_captioner(cfg)
    start = time.perf_counter()
    rows, per_frame = [], {}
    with tempfile.TemporaryDirectory() as scratch:
        for seed in seeds:
            files = write_synthetic_frame(Path(scratch) / f"frame{seed}", seed, **frame)
            screening = screen_frame(
                read_licsar(files.phase),
                captioner.model,
                captioner.processor,
                cfg,
                device,
                Path(scratch) / f"out{seed}",
                geojson=False,
                progress=False,
            )
            sources = json.loads(files.sources.read_text(encoding="utf-8"))["sources"]
            group = groups(screening.patches, sources, args.margin)
            table = screening.table.set_index("patch")
            frame_rows = [
                {
                    "group": group[number],
                    "caption": str(table.loc[number, "caption"]),
                    "stated": bool(table.loc[number, "deformation"] == PRESENT),
                    "p_deformation": (
                        float(table.loc[number, "p_deformation"])
                        if "p_deformation" in table.columns
                        else None
                    ),
                }
                for number in table.index
            ]
            rows += frame_rows
            per_frame[str(seed)] = rates(frame_rows)
    report = {
        "benchmark": "licsar_screening",
        "label": LABEL,
        "model": shareable_name(model),
        "model_note": args.model_note or "as loaded, no training here",
        "seeds": seeds,
        "frame": frame,
        "patch_size": PATCH_SIZE,
        "overlap": OVERLAP,
        "margin": args.margin,
        "decoding": {"num_beams": cfg.num_beams, "max_new_tokens": cfg.max_new_tokens},
        "device": device.summary(),
        "machine": f"{platform.machine()}, {torch.get_num_threads()} torch threads",
        "seconds": round(time.perf_counter() - start, 1),
        "overall": rates(rows),
        "patches": len(rows),
        "distinct_captions": len({row["caption"] for row in rows}),
        "heads_auc": heads_auc(rows),
        "per_frame": per_frame,
    }
    report = without_folder(report, workspace())
    write_json_report(args.out, args.name, report)
    (args.out / f"{args.name}.md").write_text(markdown(report), encoding="utf-8")
    print(markdown(report))
    return report


if __name__ == "__main__":
    main()
