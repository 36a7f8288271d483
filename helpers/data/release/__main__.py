"""``python -m helpers.data.release``: build images.zip + annotations.zip from the official
Hephaestus release (see ``helpers.data.release``)."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from helpers.data.release import BuildResult, build_release_zips
from helpers.messages import show_messages


def main(argv: Sequence[str] | None = None) -> BuildResult:
    show_messages()
    parser = argparse.ArgumentParser(
        prog="python -m helpers.data.release",
        description="Build images.zip + annotations.zip from the official Hephaestus release.",
    )
    parser.add_argument("--annotations", type=Path, required=True, help="folder of <id>.json")
    parser.add_argument("--raw", type=Path, required=True, help="the raw InSAR tree")
    parser.add_argument("--out", type=Path, required=True, help="folder for the zips")
    parser.add_argument(
        "--unique-captions", action="store_true", help="one record per distinct caption"
    )
    parser.add_argument(
        "--exclude-corrupted", action="store_true", help="drop corrupted / no_info records"
    )
    parser.add_argument("--size", type=int, default=224, help="image side in pixels")
    parser.add_argument(
        "--crop-to-deformation", action="store_true", help="crop around the polygons first"
    )
    parser.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    args = parser.parse_args(argv)
    try:
        result = build_release_zips(
            args.annotations,
            args.raw,
            args.out,
            unique_captions=args.unique_captions,
            exclude_corrupted=args.exclude_corrupted,
            size=args.size,
            crop_to_deformation=args.crop_to_deformation,
            overwrite=args.overwrite,
        )
    except (ValueError, FileExistsError) as error:  # DatasetError is a ValueError
        parser.error(str(error))
    result.show()
    return result


if __name__ == "__main__":
    main()
