"""The training loop: one explicit loop on ``accelerate.Accelerator``, full fine-tune or LoRA.

Like Hugging Face's ``run_*_no_trainer.py`` examples: Accelerate places the model, runs mixed
precision, accumulates gradients and, under ``accelerate launch`` or ``notebook_launcher``, splits
the batches over several processes (DDP) without code changes. ``cfg.batch_size`` is per process.
``train`` creates its ``Accelerator`` itself, as ``accelerate.notebook_launcher(fn, args,
num_processes=N)`` requires (no Accelerator may exist in the kernel before that call).

AdamW runs fused on CUDA and Intel GPUs, foreach elsewhere (``helpers.training.optimizer``); the
training steps run through ``torch.compile`` when ``cfg.compile`` asks for it
(``helpers.training.compilation``: "auto" on GPUs for long runs, eager on any failure).
What a run leaves in ``run_dir`` is listed in ``helpers.training.outputs``.

Rerunning ``train`` with the same ``run_dir`` resumes from ``last/`` and gives the same weights and
losses as a run that never stopped. It resumes only the same run (same model, LoRA or not, data
and training settings, ``helpers.training.resume``); otherwise it refuses and says what differs.
``resume=False`` starts over in place. More epochs (and other safe changes) continue the run.

The Accelerator trains on exactly the device ``helpers.device`` picked (Accelerate on its own
prefers CUDA to an Intel GPU); fp16 runs keep their loss scaler's state in every checkpoint.
When training ends, the model passed in holds the best epoch's weights (with LoRA: the best
adapters, still unmerged; ``final/`` holds the merged model).
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable, Sized
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import torch
from accelerate import Accelerator
from accelerate.utils import set_seed
from torch.utils.data import DataLoader, Dataset, Sampler
from tqdm.auto import tqdm
from transformers import get_scheduler

from helpers.config import CaptionConfig
from helpers.data.attributes import positive_rates
from helpers.device import peak_memory_mb, reset_peak_memory
from helpers.files import write_text_atomic
from helpers.model.attributes import attribute_heads, set_thresholds
from helpers.model.feature_cache import cache_image_features, cache_wanted
from helpers.model.loading import (
    describe_model,
    enable_gradient_checkpointing,
    freeze_vision_encoder,
)
from helpers.training.accelerator import make_accelerator
from helpers.training.auto_batch import MicroBatchStep, NonFiniteLossError, micro_batch_step
from helpers.training.checkpoints import (
    TrainingState,
    copy_export,
    load_checkpoint,
    restore_export,
    save_checkpoint,
    write_history,
)
from helpers.training.compilation import compiled_for_run
from helpers.training.model_card import card_facts, write_export_cards
from helpers.training.optimizer import make_optimizer, parameter_groups
from helpers.training.outputs import TrainResult, epoch_curves, track_best, write_summary
from helpers.training.resume import (
    ResumeRefused,
    changes_note,
    check_checkpoint,
    run_record,
)
from helpers.training.tracking import CurveLogger, start_trackers

log = logging.getLogger(__name__)


class EpochShuffleSampler(Sampler[int]):
    """A shuffle that depends only on ``seed + epoch``, so a resumed run sees the same batches.
    Accelerate calls ``set_epoch`` through its data loader wrappers."""

    def __init__(self, size: int, seed: int) -> None:
        self.size, self.seed, self.epoch = size, seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.size

    def __iter__(self):
        generator = torch.Generator().manual_seed(self.seed + self.epoch)
        return iter(torch.randperm(self.size, generator=generator).tolist())


def train(
    cfg: CaptionConfig,
    model: torch.nn.Module,
    processor: Any,
    train_dataset: Dataset,
    val_dataset: Dataset,
    collate_fn: Callable[[list], dict[str, torch.Tensor]],
    *,
    run_dir: str | Path | None = None,
    resume: bool = True,
) -> TrainResult:
    """Train ``model`` (a plain model or a LoRA ``PeftModel``) and return what happened.

    Each batch from ``collate_fn`` must hold the model's inputs and ``labels``. Settings come
    from ``cfg``; ``run_dir`` defaults to ``cfg.run_dir``. A checkpoint there is continued when
    it belongs to this run (``helpers.training.resume``: otherwise ``ResumeRefused``);
    ``resume=False`` deletes it and the run's other outputs first and starts over.
    """
    run_dir = Path(run_dir or cfg.run_dir)
    for name, data in (("train_dataset", train_dataset), ("val_dataset", val_dataset)):
        if not isinstance(data, Sized) or len(data) == 0:
            raise ValueError(f"train(): {name} is empty; it needs at least one sample.")
    if cfg.epochs < 1:
        raise ValueError(f"train(): epochs={cfg.epochs}; it needs at least 1.")
    accelerator, choice = make_accelerator(cfg)
    log.info(f"{choice.summary()}; processes: {accelerator.num_processes}")
    run = run_record(cfg, model, train_dataset, val_dataset)
    check = check_checkpoint(accelerator, run_dir, run, resume)
    set_seed(cfg.seed)
    if cfg.freeze_vision_encoder:
        freeze_vision_encoder(model)
    if cfg.gradient_checkpointing:
        enable_gradient_checkpointing(model)
    if attribute_heads(model) is not None and hasattr(train_dataset, "attribute_targets"):
        set_thresholds(model, positive_rates(train_dataset.attribute_targets()))
    log.info(describe_model(model))

    train_loader = (
        DataLoader(  # one optimizer step's samples per batch (see helpers.training.auto_batch)
            train_dataset,
            batch_size=cfg.batch_size * cfg.gradient_accumulation_steps,
            sampler=EpochShuffleSampler(len(train_dataset), cfg.seed),
            collate_fn=collate_fn,
            num_workers=cfg.num_workers,
        )
    )
    val_loader = DataLoader(
        val_dataset,
        batch_size=cfg.eval_batch_size,
        collate_fn=collate_fn,
        num_workers=cfg.num_workers,
    )
    optimizer = make_optimizer(model, cfg, choice.device)  # fused on GPUs, else foreach
    model, optimizer, train_loader, val_loader = accelerator.prepare(
        model, optimizer, train_loader, val_loader
    )
    updates_per_epoch = len(train_loader)
    updates = updates_per_epoch * cfg.epochs
    scheduler = get_scheduler(
        "linear",
        optimizer=optimizer,
        num_warmup_steps=int(cfg.warmup_ratio * updates),
        num_training_steps=updates,
    )
    raw_model = accelerator.unwrap_model(model)  # what checkpoints and exports save
    # training steps through torch.compile where cfg.compile asks for it (never saved)
    samples = updates * cfg.batch_size * cfg.gradient_accumulation_steps
    runner = compiled_for_run(model, cfg.compile, choice.device, samples)

    caching = cache_wanted(cfg.cache_image_features, choice.device)
    reuse = cache_image_features(raw_model) if caching else nullcontext()
    with reuse as feature_cache:
        state = load_checkpoint(accelerator, run_dir, raw_model, optimizer, scheduler)
        if state is None:
            initial = evaluate(accelerator, model, val_loader, desc="val before training")
            log.info(f"validation loss before training: {initial:.4f}")
            state = TrainingState(model_name=cfg.model_name, initial_val_loss=initial)
            if accelerator.is_main_process:
                run_dir.mkdir(parents=True, exist_ok=True)
                write_text_atomic(run_dir / "config.json", json.dumps(cfg.to_dict(), indent=1))
        else:
            log.info(
                f"Resuming from {run_dir / 'last'}: {state.epochs_done} of {cfg.epochs} epochs "
                "done." + changes_note(check, state, optimizer, scheduler, updates_per_epoch)
            )
        resumed_from = state.epochs_done
        step = micro_batch_step(cfg, accelerator, choice, raw_model, state)
        # a new run logs from step 0 (the loss before training), a resumed one after its updates
        first_step = resumed_from * updates_per_epoch + (1 if resumed_from else 0)
        curves = CurveLogger(start_trackers(cfg.log_with, run_dir, first_step), cfg.log_every_steps)
        if not resumed_from:  # what made the curves, in TensorBoard's Text tab
            provenance = cfg.provenance(cfg.synthetic_data)
            curves.log({"val/loss": state.initial_val_loss, "provenance": provenance}, step=0)

        try:
            for epoch in range(state.epochs_done, cfg.epochs):
                if state.stopped_early:
                    break
                advice = step.nan_advice = _nan_advice(cfg, state, run_dir)
                reset_peak_memory(choice.device)
                start = time.perf_counter()
                train_loss = _train_one_epoch(
                    cfg,
                    accelerator,
                    runner,
                    optimizer,
                    scheduler,
                    train_loader,
                    epoch,
                    step,
                    curves,
                )
                state.micro_batch_size = step.micro_batch_size
                state.samples_per_step = step.samples_per_step
                seconds = time.perf_counter() - start
                val_loss = evaluate(accelerator, model, val_loader, desc=f"epoch {epoch + 1} val")
                if not math.isfinite(val_loss):
                    raise NonFiniteLossError(
                        f"The validation loss became {val_loss} at epoch {epoch + 1}; {advice}"
                    )
                state.history.append(
                    {
                        "epoch": epoch + 1,
                        "train_loss": train_loss,
                        "val_loss": val_loss,
                        "learning_rate": scheduler.get_last_lr()[0],
                        "seconds": round(seconds, 3),
                        "samples_per_second": round(len(train_dataset) / seconds, 3),
                        "peak_memory_mb": round(peak_memory_mb(choice.device), 1),
                        "device": accelerator.device.type,
                        "precision": choice.precision,
                        "batch_size": step.micro_batch_size,
                        "accumulation_steps": step.accumulation_steps,
                    }
                )
                state.epochs_done = epoch + 1
                curves.log(
                    epoch_curves(state.history[-1]), step=state.epochs_done * updates_per_epoch
                )
                track_best(cfg, accelerator, raw_model, processor, state, run, val_loss, run_dir)
                if accelerator.is_main_process:
                    write_history(run_dir / "history.csv", state.history)
                save_checkpoint(accelerator, run_dir, raw_model, optimizer, scheduler, state, run)
                log.info(
                    f"epoch {epoch + 1}/{cfg.epochs}: train loss {train_loss:.4f}, val loss "
                    f"{val_loss:.4f}, {seconds:.1f} s"
                    + (" (best so far)" if state.best_epoch == epoch + 1 else "")
                )
                if state.stopped_early:
                    log.info(
                        "Early stopping: no improvement for "
                        f"{state.epochs_without_improvement} epochs (best: epoch "
                        f"{state.best_epoch}, val loss {state.best_val_loss:.4f})."
                    )
        finally:
            curves.finish()  # closes the log files, also when training stops with an error
        if feature_cache is not None:
            log.info(feature_cache.summary())

    restore_export(raw_model, run_dir / "best")
    if accelerator.is_main_process:
        copy_export(run_dir / "best", run_dir / "final")
        write_summary(run_dir, raw_model, accelerator, choice, state, updates_per_epoch)
        write_export_cards(run_dir / "final", card_facts(run_dir))
    accelerator.wait_for_everyone()
    model.eval()
    accelerator.unwrap_model(model, keep_fp32_wrapper=False)  # undo the mixed-precision wrapper
    accelerator.free_memory()
    return TrainResult(
        run_dir=run_dir,
        history=state.history,
        best_epoch=state.best_epoch,
        best_val_loss=state.best_val_loss,
        stopped_early=state.stopped_early,
        resumed_from_epoch=resumed_from,
    )


def _train_one_epoch(
    cfg: CaptionConfig,
    accelerator: Accelerator,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    loader: DataLoader,
    epoch: int,
    step: MicroBatchStep,
    curves: CurveLogger,
) -> float:
    """One pass over the training data, one optimizer step per batch; returns the mean loss
    over all processes. ``curves`` gets every update's loss, learning rate and gradient norm."""
    model.train()
    loader.set_epoch(epoch)
    losses = []
    bar = tqdm(
        loader,
        desc=f"epoch {epoch + 1}/{cfg.epochs} train",
        disable=not accelerator.is_local_main_process,
        leave=False,
    )
    for index, batch in enumerate(bar):
        where = f"epoch {epoch + 1}, training step {index + 1}"
        losses.append(step(model, optimizer, scheduler, batch, where))
        rate = scheduler.get_last_lr()[0]
        bar.set_postfix(loss=f"{losses[-1]:.4f}", lr=f"{rate:.2e}")
        curves.update(epoch * len(loader) + index + 1, losses[-1], rate, step.last_grad_norm)
    return sum(losses) / len(losses)


def evaluate(
    accelerator: Accelerator, model: torch.nn.Module, loader: DataLoader, desc: str = "val"
) -> float:
    """Mean loss per sample over ``loader`` (all processes), in eval mode without gradients."""
    model.eval()
    total, count = 0.0, 0
    with torch.no_grad():
        for batch in tqdm(
            loader, desc=desc, disable=not accelerator.is_local_main_process, leave=False
        ):
            loss = model(**batch).loss.detach().float()
            size = batch["labels"].shape[0]
            # one value per sample, so gather_for_metrics can drop the samples that
            # even_batches repeated to give every process a full last batch
            per_sample = accelerator.gather_for_metrics(loss.repeat(size))
            total += per_sample.sum().item()
            count += per_sample.numel()
    return total / count


def _nan_advice(cfg: CaptionConfig, state: TrainingState, run_dir: Path) -> str:
    """What a NaN/inf loss message says after the where: what was kept, what to try."""
    kept = (
        f"the checkpoint after epoch {state.epochs_done} in {run_dir / 'last'} is intact"
        if state.epochs_done
        else "no checkpoint was written yet"
    )
    return (
        f"training stopped and {kept}. Try a lower learning_rate (now {cfg.learning_rate}), "
        f"precision='fp32' (now {cfg.precision!r}) or a smaller max_grad_norm (now "
        f"{cfg.max_grad_norm}), then rerun."
    )


__all__ = [
    "EpochShuffleSampler",
    "NonFiniteLossError",
    "ResumeRefused",
    "TrainResult",
    "evaluate",
    "parameter_groups",
    "train",
]
