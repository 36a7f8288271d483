"""What a training run leaves in its ``run_dir``, and the code that writes it at each epoch's end::

config.json    the config the run started with
history.csv    per epoch: epoch, train_loss, val_loss, learning_rate, seconds,
               samples_per_second, peak_memory_mb (device memory on GPUs; on the CPU the
               process's peak resident memory so far), device, precision, batch_size,
               accumulation_steps
summary.json   when training ends: parameters trained, device, precision, updates, validation
               loss before training, best epoch
last/          resumable checkpoint, rewritten each epoch (helpers.training.checkpoints),
               with the record of its run (helpers.training.resume)
best/          export of the epoch with the lowest validation loss
final/         what to use afterwards: the best epoch again, once training has ended
README.md      in best/ and final/ (and their adapter/ with LoRA): the model card
               (helpers.training.model_card)
logs/          with cfg.log_with: the live curves (helpers.training.tracking)
evaluation/    once notebook 04 or 05 has evaluated the run (helpers.eval.record)
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from accelerate import Accelerator

from helpers.config import CaptionConfig
from helpers.device import DeviceChoice
from helpers.files import write_text_atomic
from helpers.model.loading import count_parameters
from helpers.training.checkpoints import TrainingState, export_model
from helpers.training.model_card import card_facts, write_export_cards


@dataclass
class TrainResult:
    """What ``train`` did; the folders are inside ``run_dir``."""

    run_dir: Path
    history: list[dict[str, float]]
    best_epoch: int
    best_val_loss: float
    stopped_early: bool
    resumed_from_epoch: int  # epochs already done when this call started (0: fresh run)

    @property
    def best_dir(self) -> Path:
        return self.run_dir / "best"

    @property
    def final_dir(self) -> Path:
        return self.run_dir / "final"

    @property
    def history_path(self) -> Path:
        return self.run_dir / "history.csv"


def epoch_curves(row: dict[str, Any]) -> dict[str, float]:
    """What the trackers get after each epoch, from its ``history.csv`` row."""
    return {
        "val/loss": row["val_loss"],
        "train/epoch_loss": row["train_loss"],
        "train/samples_per_second": row["samples_per_second"],
        "train/peak_memory_mb": row["peak_memory_mb"],
    }


def track_best(
    cfg: CaptionConfig,
    accelerator: Accelerator,
    model: torch.nn.Module,
    processor: Any,
    state: TrainingState,
    run: dict[str, Any],
    val_loss: float,
    run_dir: Path,
) -> None:
    """Export ``best/`` with its model card when the validation loss improved; update the
    early-stopping counter."""
    if state.best_val_loss is None or val_loss < state.best_val_loss:
        state.best_val_loss, state.best_epoch = val_loss, state.epochs_done
        state.epochs_without_improvement = 0
        if accelerator.is_main_process:
            export_model(model, processor, run_dir / "best")
            write_export_cards(run_dir / "best", card_facts(run_dir, run=run, state=state))
        accelerator.wait_for_everyone()
    else:
        state.epochs_without_improvement += 1
    patience = cfg.early_stopping_patience
    state.stopped_early = bool(patience) and state.epochs_without_improvement >= patience


def write_summary(
    run_dir: Path,
    model: torch.nn.Module,
    accelerator: Accelerator,
    choice: DeviceChoice,
    state: TrainingState,
    updates_per_epoch: int,
) -> None:
    """``summary.json``: what the run trained, where, and its best epoch (for comparisons)."""
    trainable, total = count_parameters(model)
    summary = {
        "trainable_parameters": trainable,
        "total_parameters": total,
        "device": accelerator.device.type,
        "precision": choice.precision,
        "epochs_done": state.epochs_done,
        "optimizer_steps": state.epochs_done * updates_per_epoch,
        "initial_val_loss": state.initial_val_loss,
        "best_epoch": state.best_epoch,
        "best_val_loss": state.best_val_loss,
        "stopped_early": state.stopped_early,
        "batch_size": state.micro_batch_size,  # per micro-batch, after any automatic halving
        "samples_per_optimizer_step": state.samples_per_step,
    }
    write_text_atomic(run_dir / "summary.json", json.dumps(summary, indent=1) + "\n")


__all__ = ["TrainResult", "epoch_curves", "track_best", "write_summary"]
