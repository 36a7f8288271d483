"""Which of the layouts users arrive with is in a data folder.

Checked in this order; the first that matches wins:

1. ``zips``: ``annotations.zip`` plus one or more image zips (``images.zip``, or Intel's
   ``images_set1.zip`` ... ``images_set4.zip``: every ``images*.zip``, in name order). Members may
   be flat or in folders.
2. ``folders``: already-extracted ``images/`` + ``annotations/`` folders (what the Intel sample's
   notebook leaves behind), read in place.

``find_layout`` returns ``None`` for a folder that holds none of these files at all (missing,
empty, or only what ``helpers`` itself writes there), and raises ``LayoutError`` listing what it
found when the folder holds something else, e.g. image zips without ``annotations.zip``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from helpers.data.records import DatasetError

ANNOTATIONS_ZIP = "annotations.zip"
IMAGE_ZIP_PATTERN = "images*.zip"
IMAGES_DIR, ANNOTATIONS_DIR = "images", "annotations"
# what helpers writes into a data folder (extractions, split, stand-in sets): not user data
OWN_ENTRIES = frozenset({"README.md", "extracted", "split.json", "manifest.json"})
OWN_PREFIXES = ("synthetic-", ".")
LAYOUTS_HELP = (
    "Layouts that work (the first that matches is used):\n"
    f"  1. {ANNOTATIONS_ZIP} plus images.zip or images_set1.zip ... images_setN.zip "
    "(Intel's sample ships four)\n"
    f"  2. extracted folders {IMAGES_DIR}/ (<uniqueID>.png) and {ANNOTATIONS_DIR}/ "
    "(<uniqueID>.json)\n"
    "  Official release: build layout 1 with `python -m helpers.data.release`."
)


class LayoutError(DatasetError):
    """The data folder holds files, but not in a layout ``helpers`` can read."""


@dataclass(frozen=True)
class DataLayout:
    """A layout found in ``data_dir``: its ``kind`` and the files or folders it is read from."""

    kind: str  # "zips" or "folders"
    data_dir: Path
    image_zips: tuple[Path, ...] = ()
    annotations_zip: Path | None = None
    folders: tuple[Path, ...] = ()  # images/, annotations/ for "folders"

    @property
    def sources(self) -> tuple[Path, ...]:
        """The zips (image zips first, in name order) or the two folders."""
        if self.kind == "zips":
            assert self.annotations_zip is not None
            return (*self.image_zips, self.annotations_zip)
        return self.folders

    def describe(self) -> str:
        names = ", ".join(p.name + ("/" if p.is_dir() else "") for p in self.sources)
        return f"{self.kind}: {names} in {self.data_dir}"


def find_layout(data_dir: Path) -> DataLayout | None:
    """The first layout that matches in ``data_dir``; ``None`` when it holds no user data."""
    data_dir = Path(data_dir)
    annotations_zip = data_dir / ANNOTATIONS_ZIP
    image_zips = tuple(sorted(p for p in data_dir.glob(IMAGE_ZIP_PATTERN) if p.is_file()))
    if annotations_zip.is_file() and image_zips:
        return DataLayout("zips", data_dir, image_zips, annotations_zip)
    folders = (data_dir / IMAGES_DIR, data_dir / ANNOTATIONS_DIR)
    if all(_has_files(folder) for folder in folders):
        return DataLayout("folders", data_dir, folders=folders)
    found = user_entries(data_dir)
    if not found:
        return None
    listing = "\n".join(f"  {entry}" for entry in found)
    hints = _incomplete_hints(annotations_zip, image_zips, folders)
    raise LayoutError(
        f"{data_dir} holds data, but in no layout that can be read{hints}. Found:\n{listing}\n"
        f"{LAYOUTS_HELP}"
    )


def _incomplete_hints(
    annotations_zip: Path, image_zips: tuple[Path, ...], folders: tuple[Path, ...]
) -> str:
    """What is missing from a layout that is half there (": ..." or "")."""
    hints = []
    if image_zips and not annotations_zip.is_file():
        names = ", ".join(p.name for p in image_zips)
        hints.append(f"{ANNOTATIONS_ZIP} is missing (found {names})")
    if annotations_zip.is_file() and not image_zips:
        hints.append(f"no {IMAGE_ZIP_PATTERN} beside {ANNOTATIONS_ZIP}")
    present = [_has_files(folder) for folder in folders]
    if any(present) and not all(present):
        have, lack = (folders[0], folders[1]) if present[0] else (folders[1], folders[0])
        hints.append(f"{have.name}/ has no {lack.name}/ folder beside it")
    return ": " + "; ".join(hints) if hints else ""


def user_entries(data_dir: Path) -> list[str]:
    """What ``data_dir`` holds besides what ``helpers`` writes there, described briefly."""
    if not data_dir.is_dir():
        return []
    entries = []
    for path in sorted(data_dir.iterdir()):
        if path.name in OWN_ENTRIES or path.name.startswith(OWN_PREFIXES):
            continue
        if path.is_dir():
            count = sum(1 for p in path.rglob("*") if p.is_file())
            entries.append(f"{path.name}/ ({count} files)")
        else:
            entries.append(f"{path.name} ({path.stat().st_size:,} bytes)")
    return entries


def _has_files(folder: Path) -> bool:
    return folder.is_dir() and any(p.is_file() for p in folder.rglob("*"))
