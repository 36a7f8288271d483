"""Writing files and folders so that a crash never leaves a half-written one behind.

Everything is written next to its target first, then renamed into place; it works the same on
Windows, where two things differ from POSIX:

* another program (an antivirus scan, a file explorer preview, Excel) may hold a file open for a
  moment, and a rename that touches it then fails with ``PermissionError``: ``replace_path``
  tries again for a few seconds, then says which file is held;
* a folder cannot be renamed over an existing one: ``replace_folder`` renames the old folder
  aside first, then the new one in, and at every moment one complete folder exists at the target
  or at its backup (``backup_of``), where readers look when a crash fell between the two renames.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
import zipfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

_ZIP_DATE = (2020, 1, 1, 0, 0, 0)  # fixed entry timestamps: same content, byte-identical zip
# seconds to wait between tries when another program holds a file (about 4 s in all)
RETRY_DELAYS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0)


def replace_path(source: Path, target: Path) -> None:
    """``os.replace(source, target)``, tried again while another program holds one of them
    (``PermissionError``, as Windows reports a file in use); then an error naming the file."""
    for delay in (*RETRY_DELAYS, None):
        try:
            os.replace(source, target)
            return
        except PermissionError as err:
            if delay is None:
                raise PermissionError(
                    err.errno,
                    f"Could not replace {target} with {source} ({err.strerror}): another "
                    "program (an antivirus scan, a file explorer, Excel) may hold it open, or "
                    "you may not have write access there. Close it or fix the access, then run "
                    "again; the previous version is intact",
                ) from err
            time.sleep(delay)


def backup_of(target: Path) -> Path:
    """Where ``replace_folder`` keeps the previous folder while it swaps in the new one."""
    return target.with_name(f".{target.name}.old")


def replace_folder(new: Path, target: Path) -> None:
    """Move the finished folder ``new`` to ``target``, replacing what is there (see the module
    docstring): rename the old folder to ``backup_of(target)``, rename ``new`` in, delete the
    old one. A backup left by a crash stays until the new folder is in place."""
    backup = backup_of(target)
    if target.exists():
        shutil.rmtree(backup, ignore_errors=True)  # an older leftover; target is complete
        if backup.exists():
            raise PermissionError(
                f"Could not delete {backup}, the copy of {target.name} from an earlier run: "
                "another program holds a file in it. Close it or delete the folder, then run "
                "again; the current version is intact"
            )
        replace_path(target, backup)
    replace_path(new, target)
    shutil.rmtree(backup, ignore_errors=True)  # a held file only delays this to the next call


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_text_atomic(path: str | Path, text: str) -> Path:
    """Write ``text`` to a temporary file next to ``path``, then rename it into place: readers
    see the old file or the new one, never a mix. Parent folders are created."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes it private; these files are for sharing
        replace_path(Path(tmp), path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


@contextmanager
def replaced_together(targets: Sequence[Path]) -> Iterator[list[Path]]:
    """Yield a temporary path next to each target (same file system); when the block ends
    without an error, rename them all into place. Temporary files never outlive the block."""
    temps = [target.with_name(f".{target.name}.{os.getpid()}.tmp") for target in targets]
    try:
        yield temps
        for temp, target in zip(temps, targets, strict=True):
            replace_path(temp, target)
    finally:
        for temp in temps:
            temp.unlink(missing_ok=True)


def write_zip_entry(archive: zipfile.ZipFile, name: str, data: bytes | str, compress: int) -> None:
    """Add an entry with a fixed timestamp, so the same content gives byte-identical zips."""
    info = zipfile.ZipInfo(name, date_time=_ZIP_DATE)
    info.compress_type = compress
    info.external_attr = 0o644 << 16
    archive.writestr(info, data)


def model_slug(model: str) -> str:
    """A model's folder name: ``florence-community/Florence-2-base`` -> ``florence-2-base``,
    ``random:florence-tiny`` -> ``florence-tiny``."""
    name = model.removeprefix("random:").replace("\\", "/").rstrip("/").rsplit("/", 1)[-1].lower()
    return "".join(c if c.isalnum() or c in "-_." else "-" for c in name) or "model"
