"""Writing files so that a crash never leaves a half-written one behind."""

from __future__ import annotations

import os
import tempfile
import zipfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

_ZIP_DATE = (2020, 1, 1, 0, 0, 0)  # fixed entry timestamps: same content, byte-identical zip


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
        os.replace(tmp, path)
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
            os.replace(temp, target)
    finally:
        for temp in temps:
            temp.unlink(missing_ok=True)


def write_zip_entry(archive: zipfile.ZipFile, name: str, data: bytes | str, compress: int) -> None:
    """Add an entry with a fixed timestamp, so the same content gives byte-identical zips."""
    info = zipfile.ZipInfo(name, date_time=_ZIP_DATE)
    info.compress_type = compress
    info.external_attr = 0o644 << 16
    archive.writestr(info, data)
