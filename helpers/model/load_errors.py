"""Say why a model could not be loaded, and what to do about it.

``explain_load_error`` turns a failed ``from_pretrained`` (a captioning model, the BERTScore
model) into a ``ModelLoadError`` whose ``kind`` and message name the cause:

* ``"disk_full"``: out of disk space (``ENOSPC``), with the folder to free or move;
* ``"permission"``: permission denied on a file or folder, named;
* ``"corrupt"``: a weights or JSON file that is truncated or unreadable, named, with how to
  delete it (from the Hugging Face cache: its model folder) and get it again;
* ``"incomplete"``: a cached model whose config is there but whose weights are not (a download
  that stopped), with the cache folder to delete;
* ``"no_safetensors"``: a local folder without ``model.safetensors`` (``helpers`` loads only
  safetensors weights: a pickled ``.bin`` file can run code when loaded).

It returns None when none of these applies; callers then report the model as unavailable
(offline and not cached), which names the offline ``demo`` profile.
"""

from __future__ import annotations

import errno
import json
import struct
from pathlib import Path

from huggingface_hub import constants
from huggingface_hub.file_download import repo_folder_name

SAFETENSORS_NAMES = ("model.safetensors", "model.safetensors.index.json")


class ModelLoadError(RuntimeError):
    """A model could not be loaded; ``kind`` names the cause (see the module docstring)."""

    def __init__(self, message: str, kind: str) -> None:
        super().__init__(message)
        self.kind = kind


def explain_load_error(
    err: BaseException,
    name: str,
    *,
    cache_dir: str | Path | None = None,
    safetensors_only: bool = True,
) -> ModelLoadError | None:
    """The specific reason ``name`` (a local folder or a Hub id) failed to load with ``err``,
    or None when it is none of the causes this module knows. ``safetensors_only``: the loader
    refuses ``.bin`` weights (``helpers.model.loading`` does; bert_score does not)."""
    cause = _os_error(err)
    local = Path(name).expanduser()
    where = local if local.is_dir() else cached_model_folder(name, cache_dir)
    if cause is not None and cause.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", -1)):
        return ModelLoadError(
            f"Out of disk space while loading {name!r} ({cause.filename or where}): free some "
            "space there, or point the Hugging Face cache at a bigger disk (the HF_HOME "
            "environment variable, set before starting Jupyter), then run again.",
            "disk_full",
        )
    if cause is not None and cause.errno in (errno.EACCES, errno.EPERM):
        return ModelLoadError(
            f"Permission denied on {cause.filename or where} while loading {name!r}: give "
            "yourself read and write access to it, or point the Hugging Face cache at a folder "
            "you own (the HF_HOME environment variable), then run again.",
            "permission",
        )
    if local.is_dir():
        return local_folder_problem(local, safetensors_only=safetensors_only)
    return cache_problem(name, cache_dir)


def local_folder_problem(folder: Path, *, safetensors_only: bool = True) -> ModelLoadError | None:
    """Why a local model folder cannot load: no safetensors weights (when ``safetensors_only``),
    or a damaged file."""
    has_safetensors = any((folder / weights).is_file() for weights in SAFETENSORS_NAMES)
    if safetensors_only and not has_safetensors:
        others = sorted(p.name for p in folder.glob("*.bin")) or ["no weights file at all"]
        return ModelLoadError(
            f"{folder} has no safetensors weights (model.safetensors) but {', '.join(others)}. "
            "helpers loads only safetensors weights (a pickled .bin file can run code when "
            "loaded): save the model again with save_pretrained(), which writes safetensors.",
            "no_safetensors",
        )
    damaged = damaged_files(folder)
    if damaged:
        path, problem = damaged[0]
        return ModelLoadError(
            f"{path} is damaged ({problem}): copy or export that model folder again.", "corrupt"
        )
    return None


def cache_problem(repo_id: str, cache_dir: str | Path | None = None) -> ModelLoadError | None:
    """Why the cached copy of Hub model ``repo_id`` cannot load: a damaged file, or weights
    missing next to a cached config; None when it is not cached at all or looks whole."""
    folder = cached_model_folder(repo_id, cache_dir)
    delete = (
        f"Delete the folder {folder} (it holds only this cached model) and run again with "
        "internet access to download it afresh."
    )
    for snapshot in sorted((folder / "snapshots").glob("*")):
        damaged = damaged_files(snapshot)
        if damaged:
            path, problem = damaged[0]
            return ModelLoadError(
                f"The cached copy of {repo_id!r} is incomplete or corrupt: {path} ({problem}). "
                + delete,
                "corrupt",
            )
        has_config = (snapshot / "config.json").is_file()
        if has_config and not any((snapshot / w).is_file() for w in SAFETENSORS_NAMES):
            partial = sorted(p.name for p in (folder / "blobs").glob("*.incomplete"))
            note = f" ({len(partial)} unfinished download(s) in blobs/)" if partial else ""
            return ModelLoadError(
                f"The cached copy of {repo_id!r} is incomplete: {snapshot} has config.json but "
                f"no model.safetensors{note}; a download stopped midway. " + delete,
                "incomplete",
            )
    return None


def cached_model_folder(repo_id: str, cache_dir: str | Path | None = None) -> Path:
    """Where the Hugging Face cache keeps Hub model ``repo_id``."""
    root = Path(cache_dir or constants.HF_HUB_CACHE)
    return root / repo_folder_name(repo_id=repo_id, repo_type="model")


def damaged_files(folder: Path) -> list[tuple[Path, str]]:
    """The safetensors and JSON files of a model folder that cannot be read whole, with why."""
    found = []
    for path in sorted(folder.glob("*.safetensors")) + sorted(folder.glob("*.json")):
        checker = safetensors_problem if path.suffix == ".safetensors" else json_problem
        problem = checker(path)
        if problem:
            found.append((path, problem))
    return found


def safetensors_problem(path: Path) -> str | None:
    """Why a safetensors file is unusable (unreadable, bad header, shorter than its header
    says), or None. Reads only the header."""
    try:
        size = path.stat().st_size
        with path.open("rb") as handle:
            prefix = handle.read(8)
            if len(prefix) < 8:
                return f"{size} bytes: too short for a safetensors header"
            (header_size,) = struct.unpack("<Q", prefix)
            if header_size > size - 8:
                return f"its header claims {header_size} bytes but the file has {size}"
            header = json.loads(handle.read(header_size))
    except OSError as err:
        return f"unreadable: {err.strerror or err}"
    except (ValueError, UnicodeDecodeError):
        return "its header is not valid JSON"
    ends = [
        entry["data_offsets"][1]
        for key, entry in header.items()
        if key != "__metadata__" and isinstance(entry, dict) and "data_offsets" in entry
    ]
    expected = 8 + header_size + max(ends, default=0)
    if size < expected:
        return f"truncated: {size} of {expected} bytes"
    return None


def json_problem(path: Path) -> str | None:
    """Why a JSON file is unusable, or None."""
    try:
        json.loads(path.read_text(encoding="utf-8"))
    except OSError as err:
        return f"unreadable: {err.strerror or err}"
    except (ValueError, UnicodeDecodeError) as err:
        return f"not valid JSON ({err})"
    return None


def _os_error(err: BaseException) -> OSError | None:
    """The first ``OSError`` with an errno in ``err``'s chain (causes and contexts)."""
    seen: set[int] = set()
    current: BaseException | None = err
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OSError) and current.errno is not None:
            return current
        current = current.__cause__ or current.__context__
    return None


__all__ = [
    "ModelLoadError",
    "cache_problem",
    "cached_model_folder",
    "damaged_files",
    "explain_load_error",
    "local_folder_problem",
    "safetensors_problem",
]
