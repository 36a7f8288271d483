"""Share a finished run on the Hugging Face Hub: one call, private by default.

    from helpers import share_run
    share_run(cfg.run_dir, "your-name/blip-large-hephaestus", private=True)

It uploads, in one commit, the model of ``<run_dir>/final`` (weights, processor, and with LoRA the
``adapter/`` folder), its model card with the loading code naming ``repo_id``
(helpers.training.model_card), the evaluation notebooks 04/05 recorded (``evaluation/``: results
JSONs, comparison) and the training history (``training/history.csv``, ``training/summary.json``).
The run's ``config.json`` stays home: it holds paths of your machine. Nothing else that does is
uploaded: a file holding the workspace's absolute path or your home folder is refused, by name
(``LocalPathRefused``).

Log in first with ``hf auth login`` (or set ``HF_TOKEN``); the token is read by
``huggingface_hub`` and never printed or written. Offline, or without a valid token, it fails
with a ``HubUploadError`` saying which. A stand-in run (synthetic data or a random-init model) is
refused unless ``allow_stand_in=True``: the Hub should not fill up with models that look like
InSAR captioners and are not.
"""

from __future__ import annotations

import json
import logging
import os
import struct
from pathlib import Path

from huggingface_hub import CommitOperationAdd, HfApi
from huggingface_hub.errors import HfHubHTTPError, LocalTokenNotFoundError, OfflineModeIsEnabled

from helpers.config import workspace
from helpers.training.model_card import (
    ADAPTER_DIR,
    CARD_FILE,
    EVALUATION_DIR,
    CardFacts,
    card_facts,
    export_architecture,
    render_card,
)

log = logging.getLogger(__name__)

EXPORT = "final"
TRAINING_FILES = ("history.csv", "summary.json")
NETWORK_ERRORS = {"ConnectionError", "ConnectError", "ConnectTimeout", "TransportError", "Timeout"}


class HubUploadError(RuntimeError):
    """The upload could not happen; the message says why and what to do."""


class StandInRefused(ValueError):
    """``share_run`` was asked to upload a stand-in without ``allow_stand_in=True``."""


class LocalPathRefused(ValueError):
    """A file ``share_run`` would upload names a folder of this machine (the message says which)."""


def share_run(
    run_dir: str | Path,
    repo_id: str,
    private: bool = True,
    *,
    allow_stand_in: bool = False,
    token: str | None = None,
    api: HfApi | None = None,
) -> str:
    """Upload the run in ``run_dir`` to the model repository ``repo_id`` (created when missing,
    ``private`` by default); returns the repository's URL. ``token`` overrides the logged-in
    one; ``api`` is for tests."""
    run_dir = Path(run_dir)
    if not (run_dir / EXPORT / "config.json").is_file():
        raise FileNotFoundError(
            f"{run_dir / EXPORT} holds no model: finish training the run first (notebook 03 or "
            "05, or `python -m helpers.training`)."
        )
    facts = card_facts(run_dir)
    if facts.stand_in and not allow_stand_in:
        raise StandInRefused(
            f"{run_dir} is a stand-in run ({facts.cfg.provenance(facts.data_synthetic)}), not a "
            "Hephaestus model. Upload it only to test the sharing itself, with "
            "allow_stand_in=True; its card says it is a stand-in."
        )
    operations = upload_plan(run_dir, repo_id, facts)
    refuse_local_paths(operations)
    if os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in {"1", "true", "yes", "on"}:
        raise HubUploadError(upload_failure(OfflineModeIsEnabled()))
    api = api or HfApi(token=token)
    try:
        user = api.whoami()
        url = api.create_repo(repo_id, private=private, repo_type="model", exist_ok=True)
        api.create_commit(
            repo_id,
            operations=operations,
            commit_message=f"Upload {facts.cfg.profile} run: model, card, evaluation",
            repo_type="model",
        )
    except Exception as error:  # turned into a message that says what to do
        raise HubUploadError(upload_failure(error)) from error
    name = user.get("name", "?") if isinstance(user, dict) else "?"
    log.info(f"Uploaded {len(operations)} files to {repo_id} as {name} (private={private}).")
    return str(url)


def upload_plan(run_dir: Path, repo_id: str, facts: CardFacts) -> list[CommitOperationAdd]:
    """What ``share_run`` uploads, as Hub commit operations (see the module docstring);
    ``facts`` are the run's (``card_facts``)."""
    export = run_dir / EXPORT
    operations = [
        CommitOperationAdd(path_in_repo=path.relative_to(export).as_posix(), path_or_fileobj=path)
        for path in sorted(export.rglob("*"))
        if path.is_file() and path.name != CARD_FILE
    ]
    architecture = export_architecture(export)
    cards = {CARD_FILE: render_card(facts, architecture, adapter=False, repo_id=repo_id)}
    if (export / ADAPTER_DIR).is_dir():
        cards[f"{ADAPTER_DIR}/{CARD_FILE}"] = render_card(
            facts, architecture, adapter=True, repo_id=repo_id
        )
    operations += [
        CommitOperationAdd(path_in_repo=name, path_or_fileobj=text.encode("utf-8"))
        for name, text in cards.items()
    ]
    evaluation = run_dir / EVALUATION_DIR
    if evaluation.is_dir():
        operations += [
            CommitOperationAdd(path_in_repo=f"{EVALUATION_DIR}/{path.name}", path_or_fileobj=path)
            for path in sorted(evaluation.iterdir())
            if path.is_file()
        ]
    operations += [
        CommitOperationAdd(path_in_repo=f"training/{name}", path_or_fileobj=run_dir / name)
        for name in TRAINING_FILES
        if (run_dir / name).is_file()
    ]
    return operations


def local_folders() -> dict[str, list[bytes]]:
    """The folders no uploaded file may name: the workspace and the home folder, each as the
    bytes it appears as in text and in JSON (a filesystem root alone is left out)."""
    folders = {"the workspace's absolute path": workspace(), "your home folder": Path.home()}
    found = {}
    for what, folder in folders.items():
        folder = Path(folder).resolve()
        if len(folder.parts) < 2:
            continue
        spellings = {str(folder), folder.as_posix(), json.dumps(str(folder))[1:-1]}
        found[what] = sorted(text.encode("utf-8") for text in spellings)
    return found


def refuse_local_paths(operations: list[CommitOperationAdd]) -> None:
    """Raise ``LocalPathRefused`` naming every file of ``operations`` that holds a folder of
    this machine (see :func:`local_folders`); safetensors weights are checked in their header."""
    folders = local_folders()
    offending = []
    for operation in operations:
        content = _searchable(operation)
        named = [
            what for what, spellings in folders.items() if any(s in content for s in spellings)
        ]
        if named:
            offending.append(f"{operation.path_in_repo} ({' and '.join(named)})")
    if offending:
        raise LocalPathRefused(
            "Not uploading: these files name folders of this machine: "
            + "; ".join(offending)
            + ". Results, cards and logs name a local model relative to the workspace "
            "(runs/full/best); a file made by an older version or by hand may not. Remove the "
            "path from it (or the file from the run folder), then share again."
        )


def _searchable(operation: CommitOperationAdd) -> bytes:
    """The bytes of an upload to search: a file's whole text, a safetensors file's header."""
    source = operation.path_or_fileobj
    if isinstance(source, bytes):
        return source
    path = Path(source)
    if path.suffix != ".safetensors":
        return path.read_bytes()
    with open(path, "rb") as fh:
        (length,) = struct.unpack("<Q", fh.read(8))
        return fh.read(min(length, 100 * 1024**2))


def upload_failure(error: BaseException) -> str:
    """What went wrong talking to the Hub, in words, with the way out."""
    if isinstance(error, OfflineModeIsEnabled):
        return "HF_HUB_OFFLINE is set, so nothing can be uploaded: unset it and try again."
    if isinstance(error, LocalTokenNotFoundError):
        return (
            "You are not logged in to the Hugging Face Hub: run `hf auth login` (or set the "
            "HF_TOKEN environment variable to a token with write access), then try again."
        )
    status = getattr(getattr(error, "response", None), "status_code", None)
    if isinstance(error, HfHubHTTPError) and status in (401, 403):
        return (
            f"The Hub refused the request ({status}): the token is invalid or cannot write to "
            "this repository. Log in again with `hf auth login` using a token with write access."
        )
    if isinstance(error, ConnectionError | TimeoutError) or any(
        cls.__name__ in NETWORK_ERRORS for cls in type(error).__mro__
    ):
        return (
            f"Cannot reach the Hugging Face Hub ({type(error).__name__}): this machine seems "
            "to be offline or behind a proxy. Connect and run share_run again (it uploads "
            "everything anew)."
        )
    return f"The upload failed: {type(error).__name__}: {error}"


__all__ = [
    "HubUploadError",
    "LocalPathRefused",
    "StandInRefused",
    "local_folders",
    "refuse_local_paths",
    "share_run",
    "upload_failure",
    "upload_plan",
]
