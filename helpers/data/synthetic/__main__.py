"""``python -m helpers.data.synthetic``: write the stand-in zips, or print caption figures."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from helpers.data.synthetic.dataset import (
    STATS_SAMPLES,
    caption_stats_report,
    write_synthetic_dataset,
)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m helpers.data.synthetic",
        description="Write a synthetic InSAR-like stand-in for the Hephaestus zips, or print "
        "its caption statistics beside the real captions' (--stats).",
    )
    parser.add_argument("--n", type=int, help=f"number of images (--stats: {STATS_SAMPLES})")
    parser.add_argument("--out", type=Path, help="folder for the two zips")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--size", type=int, default=224, help="image side in pixels")
    parser.add_argument("--overwrite", action="store_true", help="replace existing zips")
    parser.add_argument(
        "--stats", action="store_true", help="print caption figures vs targets; write nothing"
    )
    args = parser.parse_args(argv)
    if args.stats:
        try:
            print(caption_stats_report(args.n or STATS_SAMPLES, args.seed)[1])
        except ValueError as error:
            parser.error(str(error))
        return
    if args.n is None or args.out is None:
        parser.error("--n and --out are required (or --stats)")
    try:
        paths = write_synthetic_dataset(
            args.out, args.n, seed=args.seed, image_size=args.size, overwrite=args.overwrite
        )
    except (ValueError, FileExistsError) as error:
        parser.error(str(error))
    print(f"Wrote {args.n} samples (seed {args.seed}, {args.size} px):")
    for path in paths:
        print(f"  {path}")
    print("NOTE: this is SYNTHETIC data from helpers.data.synthetic, not the Hephaestus dataset.")


if __name__ == "__main__":
    main()
