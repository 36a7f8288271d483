"""Resumable checkpoints (``run_dir/last``) and model exports (``run_dir/best``, ``run_dir/final``).

A checkpoint holds what a rerun needs to continue exactly where training stopped: the trainable
weights (every weight in a full fine-tune, only the adapters with LoRA), the optimizer, the
scheduler, the fp16 loss scaler (when there is one), each process's random states (python, numpy,
torch), the training state (epochs done, history, best validation loss, patience counter) and the
record of the run it belongs to (``run.json``: config, LoRA or not, data fingerprint; see
``helpers.training.resume``). It is written to a temporary folder in
``run_dir`` and then renamed into place, so a write that dies midway leaves the previous checkpoint
intact, on Windows too (``helpers.files.replace_folder``). A checkpoint only holds what training
changes: resume with the same base model.

An export is a Hugging Face folder (``save_pretrained``, safetensors) with the processor, which
``from_pretrained`` and ``helpers.model.loading.load_captioner`` load like any Hub model. With LoRA
the folder holds the merged model (adapters folded in, no peft needed) and the adapters themselves
in ``<export>/adapter`` (``helpers.model.lora.load_lora`` attaches them to the base model).

``write_history``/``read_history`` handle ``run_dir/history.csv``, one row per epoch.
"""

from __future__ import annotations

import copy
import csv
import io
import json
import random
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from accelerate import Accelerator
from peft import PeftModel, set_peft_model_state_dict
from safetensors.torch import load_file, save_file

from helpers.files import backup_of, replace_folder, write_text_atomic

CHECKPOINT_DIR = "last"
WEIGHTS_FILE = "trainable.safetensors"
OPTIMIZER_FILE = "optimizer.pt"
SCHEDULER_FILE = "scheduler.pt"
SCALER_FILE = "scaler.pt"  # the fp16 loss scaler's state, when training uses one
RUN_FILE = "run.json"  # which run this is (helpers.training.resume.run_record)
STATE_FILE = "state.json"  # written last: a folder without it is incomplete
ADAPTER_DIR = "adapter"
# history.csv, one row per epoch
HISTORY_INT_COLUMNS = ("epoch", "batch_size", "accumulation_steps")
HISTORY_COLUMNS = (
    "epoch",
    "train_loss",
    "val_loss",
    "learning_rate",
    "seconds",
    "samples_per_second",
    "peak_memory_mb",
    "device",
    "precision",
    "batch_size",
    "accumulation_steps",
)
HISTORY_TEXT_COLUMNS = ("device", "precision")
# what a run writes into its run_dir (besides the checkpoint): what a restart deletes
RUN_OUTPUTS = (
    "best",
    "final",
    "history.csv",
    "summary.json",
    "config.json",
    "logs",  # the trackers' curves (helpers.training.tracking)
    "evaluation",  # what notebooks 04/05 recorded about the run (helpers.eval.record)
)


@dataclass
class TrainingState:
    """Where a run stands; saved as JSON in every checkpoint."""

    model_name: str
    epochs_done: int = 0
    initial_val_loss: float | None = None  # before any training: the loss the run starts from
    best_val_loss: float | None = None
    best_epoch: int | None = None
    epochs_without_improvement: int = 0
    stopped_early: bool = False
    micro_batch_size: int | None = None  # the batch auto_batch_size settled on (None: cfg's)
    samples_per_step: int | None = None  # batch_size x gradient_accumulation_steps
    history: list[dict[str, float]] = field(default_factory=list)


def trainable_state_dict(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The parameters that train (all of them, or only LoRA adapters), on the CPU."""
    return {
        name: param.detach().cpu().contiguous()
        for name, param in model.named_parameters()
        if param.requires_grad
    }


def load_trainable_state(
    model: torch.nn.Module, tensors: dict[str, torch.Tensor], source: Path
) -> None:
    """Copy saved trainable parameters into ``model``; the names must match exactly."""
    expected = {name for name, param in model.named_parameters() if param.requires_grad}
    missing, unexpected = sorted(expected - set(tensors)), sorted(set(tensors) - expected)
    if missing or unexpected:
        raise ValueError(
            f"{source}: the saved weights do not fit this model's trainable parameters "
            f"(missing: {missing[:3]}, unexpected: {unexpected[:3]}). It was written for another "
            "model or setup (LoRA or not, frozen vision encoder or not): use another run_dir."
        )
    model.load_state_dict(tensors, strict=False)


def rng_state() -> dict[str, Any]:
    """This process's random states, in types that ``torch.load(weights_only=True)`` accepts."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    state = {
        "python": random.getstate(),
        "numpy": (kind, keys.tolist(), pos, has_gauss, cached),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    if hasattr(torch, "xpu") and torch.xpu.is_available():
        state["xpu"] = torch.xpu.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what ``rng_state`` captured."""
    random.setstate(state["python"])
    kind, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, np.array(keys, dtype=np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    if "xpu" in state and hasattr(torch, "xpu") and torch.xpu.is_available():
        torch.xpu.set_rng_state_all(state["xpu"])


def save_checkpoint(
    accelerator: Accelerator,
    run_dir: Path,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    state: TrainingState,
    run: dict[str, Any],
) -> Path:
    """Write ``run_dir/last`` atomically; every process calls this (each saves its RNG state).
    ``run`` is the run's record (``helpers.training.resume.run_record``)."""
    final = run_dir / CHECKPOINT_DIR
    tmp = run_dir / f".{CHECKPOINT_DIR}.tmp"
    if accelerator.is_main_process:
        shutil.rmtree(tmp, ignore_errors=True)  # leftovers of a write that died
        tmp.mkdir(parents=True)
    accelerator.wait_for_everyone()
    torch.save(rng_state(), tmp / f"rng_state_{accelerator.process_index}.pt")
    if accelerator.is_main_process:
        save_file(trainable_state_dict(model), tmp / WEIGHTS_FILE)
        torch.save(optimizer.state_dict(), tmp / OPTIMIZER_FILE)
        torch.save(scheduler.state_dict(), tmp / SCHEDULER_FILE)
        if accelerator.scaler is not None:
            torch.save(accelerator.scaler.state_dict(), tmp / SCALER_FILE)
        (tmp / RUN_FILE).write_text(json.dumps(run, indent=1))
        (tmp / STATE_FILE).write_text(json.dumps(asdict(state), indent=1))
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        publish(tmp, final)
    accelerator.wait_for_everyone()
    return final


def find_checkpoint(run_dir: Path) -> Path | None:
    """The complete checkpoint in ``run_dir``, if any (also the one a crash left in the
    moment between the two renames of ``publish``)."""
    final = run_dir / CHECKPOINT_DIR
    for folder in (final, backup_of(final)):
        if (folder / STATE_FILE).is_file():
            return folder
    return None


def load_checkpoint(
    accelerator: Accelerator,
    run_dir: Path,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
) -> TrainingState | None:
    """Restore weights, optimizer, scheduler, loss scaler and random states; None when there
    is nothing. A scaler's state is restored when the checkpoint and this run both have one."""
    folder = find_checkpoint(run_dir)
    if folder is None:
        return None
    state = TrainingState(**json.loads((folder / STATE_FILE).read_text()))
    load_trainable_state(model, load_file(folder / WEIGHTS_FILE), folder / WEIGHTS_FILE)
    optimizer.load_state_dict(_load(folder / OPTIMIZER_FILE))
    scheduler.load_state_dict(_load(folder / SCHEDULER_FILE))
    if accelerator.scaler is not None and (folder / SCALER_FILE).is_file():
        accelerator.scaler.load_state_dict(_load(folder / SCALER_FILE))
    rng_file = folder / f"rng_state_{accelerator.process_index}.pt"
    set_rng_state(_load(rng_file if rng_file.is_file() else folder / "rng_state_0.pt"))
    return state


def read_run(folder: Path) -> dict[str, Any] | None:
    """The run record of a checkpoint folder; None for checkpoints written before there was one."""
    path = folder / RUN_FILE
    return json.loads(path.read_text()) if path.is_file() else None


def clear_run(run_dir: Path) -> list[str]:
    """Delete what a training run left in ``run_dir`` (checkpoint, exports, history, summary,
    config, and their temporary copies); other files stay. Returns the names deleted."""
    removed = []
    for name in (CHECKPOINT_DIR, *RUN_OUTPUTS):
        target = run_dir / name
        for path in (target, backup_of(target), target.with_name(f".{name}.tmp")):
            if path.is_dir():
                shutil.rmtree(path)
            elif path.exists():
                path.unlink()
            else:
                continue
            removed.append(path.name)
    return removed


def export_model(model: torch.nn.Module, processor: Any, out_dir: Path) -> Path:
    """Save a loadable model folder (see the module docstring), atomically."""
    tmp = out_dir.with_name(f".{out_dir.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    if isinstance(model, PeftModel):
        model.save_pretrained(tmp / ADAPTER_DIR)
        copy.deepcopy(model).merge_and_unload().save_pretrained(tmp)
    else:
        model.save_pretrained(tmp)
    processor.save_pretrained(tmp)
    publish(tmp, out_dir)
    return out_dir


def restore_export(model: torch.nn.Module, export_dir: Path) -> None:
    """Load the trained weights of an ``export_model`` folder back into the live ``model``."""
    if isinstance(model, PeftModel):
        adapter = load_file(export_dir / ADAPTER_DIR / "adapter_model.safetensors")
        set_peft_model_state_dict(model, adapter)
        return
    saved = load_file(export_dir / "model.safetensors")
    missing, unexpected = model.load_state_dict(saved, strict=False)
    trainable = {name for name, param in model.named_parameters() if param.requires_grad}
    if unexpected or trainable & set(missing):  # tied copies may be absent; nothing else
        raise ValueError(f"{export_dir}: the export does not fit this model.")


def copy_export(source: Path, out_dir: Path) -> Path:
    """Copy an export folder atomically (used for ``final`` = ``best``)."""
    tmp = out_dir.with_name(f".{out_dir.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(source, tmp)
    publish(tmp, out_dir)
    return out_dir


def publish(tmp: Path, final: Path) -> None:
    """Move the finished folder ``tmp`` to ``final``, replacing it (``replace_folder``): a
    complete checkpoint stays findable through any crash."""
    replace_folder(tmp, final)


def write_history(path: Path, history: list[dict[str, float]]) -> None:
    """Write the per-epoch history as CSV (replacing the file in one step)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=HISTORY_COLUMNS)
    writer.writeheader()
    writer.writerows(history)
    write_text_atomic(path, buffer.getvalue())


def read_history(path: Path) -> list[dict[str, Any]]:
    """Read ``history.csv`` back (epoch and batch columns as int, device and precision as text,
    the rest floats; files from before a column existed read without it)."""
    with Path(path).open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    return [{k: _history_value(k, v) for k, v in row.items() if v != ""} for row in rows]


def _history_value(column: str, text: str) -> int | float | str:
    if column in HISTORY_TEXT_COLUMNS:
        return text
    return int(text) if column in HISTORY_INT_COLUMNS else float(text)


def _load(path: Path) -> Any:
    return torch.load(path, map_location="cpu", weights_only=True)


__all__ = [
    "HISTORY_COLUMNS",
    "TrainingState",
    "clear_run",
    "copy_export",
    "export_model",
    "find_checkpoint",
    "load_checkpoint",
    "load_trainable_state",
    "publish",
    "read_history",
    "read_run",
    "restore_export",
    "rng_state",
    "save_checkpoint",
    "set_rng_state",
    "trainable_state_dict",
    "write_history",
]
