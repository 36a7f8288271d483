"""Safe, idempotent zip extraction for dataset archives.

``extract_zip`` checks the whole archive before writing a byte: no entry may escape the target
(``..``, absolute paths, drive letters, backslash tricks), no symlinks, no encrypted entries, and
the total size, compression ratio and entry count must stay under limits (zip bombs). It extracts
into a temporary folder next to the target and renames it into place (``replace_folder``, which
works on Windows too), so a crash never leaves a half extraction that looks complete. A stamp
file (zip size, mtime and SHA-256) makes a second call reuse the extraction, and a changed zip is
extracted again. The zip itself is only ever read.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import stat
import tempfile
import zipfile
import zlib
from pathlib import Path, PurePosixPath

from tqdm.auto import tqdm

from helpers.files import replace_folder, write_text_atomic

DEFAULT_MAX_TOTAL_BYTES = 20 * 1024**3
DEFAULT_MAX_RATIO = 200.0
DEFAULT_MAX_ENTRIES = 1_000_000
STAMP_NAME = ".extract_stamp.json"
JUNK_DIRS = frozenset({"__MACOSX"})
JUNK_FILES = frozenset({".DS_Store", "Thumbs.db", "desktop.ini"})
_DRIVE = re.compile(r"^[A-Za-z]:")
LFS_POINTER_START = b"version https://git-lfs"  # a git-lfs pointer file begins so


class ArchiveError(ValueError):
    """A zip that is missing, corrupt or unsafe to extract (the message names the file)."""


def extract_zip(
    zip_path: Path,
    target_dir: Path,
    *,
    max_total_bytes: int = DEFAULT_MAX_TOTAL_BYTES,
    max_ratio: float = DEFAULT_MAX_RATIO,
    max_entries: int = DEFAULT_MAX_ENTRIES,
    progress: bool = False,
) -> Path:
    """Extract ``zip_path`` into ``target_dir`` (created whole or not at all) and return it.

    Reuses an earlier extraction when the zip is unchanged. Junk such as ``__MACOSX/`` and
    ``.DS_Store`` is skipped. Raises ``ArchiveError`` for unsafe, corrupt or missing zips, and when
    ``target_dir`` exists but was not made by this function (it never deletes such a folder).
    """
    zip_path, target_dir = Path(zip_path), Path(target_dir)
    if not zip_path.is_file():
        raise ArchiveError(f"Zip file not found: {zip_path}")
    if zip_path.resolve().is_relative_to(target_dir.resolve()):
        raise ArchiveError(f"Refusing to extract {zip_path} into its own folder {target_dir}")
    old_stamp = _read_stamp(target_dir)
    if old_stamp is None and target_dir.exists() and any(target_dir.iterdir()):
        raise ArchiveError(
            f"{target_dir} exists and was not made by extract_zip; move or delete it, "
            f"then extract {zip_path.name} again"
        )
    stamp = _zip_stamp(zip_path, old_stamp)
    if old_stamp is not None and stamp["sha256"] == old_stamp.get("sha256"):
        if stamp != old_stamp:  # same bytes, new mtime (e.g. copied again): remember it
            _write_stamp(target_dir, stamp)
        return target_dir

    target_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target_dir.name}.partial-", dir=target_dir.parent))
    try:
        with open_zip(zip_path) as archive:
            members = _checked_members(zip_path, archive, max_total_bytes, max_ratio, max_entries)
            for info, rel in tqdm(members, desc=f"extract {zip_path.name}", disable=not progress):
                _extract_member(zip_path, archive, info, tmp / rel)
        _write_stamp(tmp, stamp)
        replace_folder(tmp, target_dir)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target_dir


def open_zip(zip_path: Path) -> zipfile.ZipFile:
    """``zipfile.ZipFile(zip_path)``, or an ``ArchiveError`` naming the file and the usual cause
    (a git-lfs pointer left by a clone without ``git lfs pull``, or a partial download)."""
    try:
        return zipfile.ZipFile(zip_path)
    except (zipfile.BadZipFile, OSError) as err:
        raise ArchiveError(unreadable_zip_message(Path(zip_path), err)) from err


def unreadable_zip_message(zip_path: Path, err: BaseException) -> str:
    """Why ``zip_path`` cannot be read as a zip, in words, with what to do."""
    try:
        size = zip_path.stat().st_size
        with open(zip_path, "rb") as fh:
            head = fh.read(len(LFS_POINTER_START))
    except OSError:
        return f"{zip_path} is not a readable zip archive: {err}"
    if head == LFS_POINTER_START:
        return (
            f"{zip_path} is a git-lfs pointer file ({size} bytes of text), not the zip itself: "
            "the repository was cloned without its large files. Run `git lfs pull` in the "
            "clone (or download the file from the repository's web page) and copy the real "
            "zip here."
        )
    return (
        f"{zip_path} is not a readable zip archive ({size:,} bytes; {err}). Usually the "
        "download was interrupted or a git-lfs pull did not finish: download the file again "
        "(`git lfs pull` in a clone) and compare its size with the one the source lists."
    )


def _checked_members(
    zip_path: Path,
    archive: zipfile.ZipFile,
    max_total_bytes: int,
    max_ratio: float,
    max_entries: int,
) -> list[tuple[zipfile.ZipInfo, PurePosixPath]]:
    """Validate every entry (before anything is written); return the non-junk ones."""
    infos = archive.infolist()
    if len(infos) > max_entries:
        raise ArchiveError(f"{zip_path} has {len(infos)} entries (limit {max_entries})")
    total = sum(info.file_size for info in infos)
    packed = sum(info.compress_size for info in infos)
    if total > max_total_bytes:
        raise ArchiveError(
            f"{zip_path} would extract to {total} bytes (limit {max_total_bytes}): zip bomb?"
        )
    if total > max_ratio * max(packed, 1):
        raise ArchiveError(
            f"{zip_path} has compression ratio {total / max(packed, 1):.0f} "
            f"(limit {max_ratio:g}): zip bomb?"
        )
    members = []
    for info in infos:
        rel = _safe_relative_path(zip_path, info.filename)
        if stat.S_ISLNK(info.external_attr >> 16):
            raise ArchiveError(f"{zip_path} contains a symbolic link entry: {info.filename!r}")
        if info.flag_bits & 0x1:
            raise ArchiveError(f"{zip_path} contains an encrypted entry: {info.filename!r}")
        if not (JUNK_DIRS & set(rel.parts) or rel.name in JUNK_FILES or rel.name.startswith("._")):
            members.append((info, rel))
    return members


def _safe_relative_path(zip_path: Path, name: str) -> PurePosixPath:
    """The entry's path relative to the target; refuse anything that could escape it."""
    normalized = name.replace("\\", "/")
    rel = PurePosixPath(normalized)
    if (
        not normalized.strip("/")
        or normalized.startswith("/")
        or _DRIVE.match(normalized)
        or ".." in rel.parts
        or "\x00" in normalized
    ):
        raise ArchiveError(f"{zip_path} contains an unsafe entry path: {name!r}")
    return rel


def _extract_member(
    zip_path: Path, archive: zipfile.ZipFile, info: zipfile.ZipInfo, dest: Path
) -> None:
    if info.is_dir():
        dest.mkdir(parents=True, exist_ok=True)
        return
    dest.parent.mkdir(parents=True, exist_ok=True)
    # ZipExtFile never yields more than the declared file_size, which was checked above.
    try:
        with archive.open(info) as src, open(dest, "wb") as out:
            shutil.copyfileobj(src, out, 1024 * 1024)
    except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError) as err:
        raise ArchiveError(f"{zip_path} is corrupt at entry {info.filename!r}: {err}") from err


def _read_stamp(target_dir: Path) -> dict | None:
    try:
        return json.loads((target_dir / STAMP_NAME).read_text())
    except (OSError, ValueError):
        return None


def _write_stamp(folder: Path, stamp: dict) -> None:
    write_text_atomic(folder / STAMP_NAME, json.dumps(stamp, indent=2))


def _zip_stamp(zip_path: Path, previous: dict | None) -> dict:
    """Size, mtime and SHA-256 of the zip; the hash is reused when size and mtime are unchanged."""
    st = zip_path.stat()
    stamp = {"zip": zip_path.name, "size": st.st_size, "mtime_ns": st.st_mtime_ns}
    if previous and all(previous.get(k) == v for k, v in stamp.items()) and "sha256" in previous:
        stamp["sha256"] = previous["sha256"]
        return stamp
    digest = hashlib.sha256()
    with open(zip_path, "rb") as fh:
        for block in iter(lambda: fh.read(1024 * 1024), b""):
            digest.update(block)
    stamp["sha256"] = digest.hexdigest()
    return stamp
