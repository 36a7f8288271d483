"""The training loop: one explicit loop on ``accelerate.Accelerator``, full fine-tune or LoRA.

Like Hugging Face's ``run_*_no_trainer.py`` examples: Accelerate places the model, runs mixed
precision, accumulates gradients and, under ``accelerate launch`` or ``notebook_launcher``, splits
the batches over several processes (DDP) without code changes. ``cfg.batch_size`` is per process.
``train`` creates its ``Accelerator`` itself, as ``accelerate.notebook_launcher(fn, args,
num_processes=N)`` requires (no Accelerator may exist in the kernel before that call).

What a run leaves in ``run_dir``::

    config.json    the config the run started with
    history.csv    per epoch: epoch, train_loss, val_loss, learning_rate, seconds,
                   samples_per_second, peak_memory_mb (device memory on GPUs; on the CPU the
                   process's peak resident memory so far), device, precision
    summary.json   when training ends: parameters trained, device, precision, validation loss
                   before training, best epoch
    last/          resumable checkpoint, rewritten each epoch (helpers.training.checkpoints), with the
                   record of its run (helpers.training.resume)
    best/          export of the epoch with the lowest validation loss
    final/         what to use afterwards: the best epoch again, once training has ended
    README.md      in best/ and final/ (and their adapter/ with LoRA): the model card
                   (helpers.training.model_card)
    logs/          with cfg.log_with: the live curves (helpers.training.tracking), e.g. for TensorBoard

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
import os
import time
from collections.abc import Callable, Iterator, Sized
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from accelerate import Accelerator
from accelerate.utils import set_seed
from torch.utils.data import DataLoader, Dataset, Sampler
from tqdm.auto import tqdm
from transformers import get_scheduler

from helpers.config import CaptionConfig
from helpers.device import DeviceChoice, choose_device, peak_memory_mb, reset_peak_memory
from helpers.files import write_text_atomic
from helpers.model.feature_cache import cache_image_features
from helpers.model.loading import (
    count_parameters,
    describe_model,
    enable_gradient_checkpointing,
    freeze_vision_encoder,
)
from helpers.training.auto_batch import MicroBatchStep, NonFiniteLossError
from helpers.training.checkpoints import (
    TrainingState,
    clear_run,
    copy_export,
    export_model,
    find_checkpoint,
    load_checkpoint,
    read_run,
    restore_export,
    save_checkpoint,
    write_history,
)
from helpers.training.memory import estimate_training_memory
from helpers.training.memory_advice import fit_report, free_memory_bytes
from helpers.training.model_card import card_facts, write_export_cards
from helpers.training.resume import (
    ResumeCheck,
    ResumeRefused,
    check_resume,
    refusal_message,
    run_record,
)
from helpers.training.tracking import CurveLogger, start_trackers

log = logging.getLogger(__name__)


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


def parameter_groups(model: torch.nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """AdamW groups: weight decay on matrices, none on biases and LayerNorm weights (1-D)."""
    params = [p for p in model.parameters() if p.requires_grad]
    return [
        {"params": [p for p in params if p.ndim >= 2], "weight_decay": weight_decay},
        {"params": [p for p in params if p.ndim < 2], "weight_decay": 0.0},
    ]


def make_accelerator(cfg: CaptionConfig) -> tuple[Accelerator, DeviceChoice]:
    """The Accelerator for ``cfg``'s device and precision, and that choice with its reasons.
    It runs on exactly the device ``helpers.device`` chose, or this raises and says why.

    Processes share one accelerate state, so code that runs before ``train`` (data preparation,
    downloads under ``main_process_first``) may call this too and gets the same setup."""
    choice = choose_device(cfg.device, cfg.precision)
    with _accelerate_device(choice.device):
        accelerator = Accelerator(
            cpu=choice.device == "cpu",
            mixed_precision=choice.mixed_precision,
            # helpers accumulates gradients itself, by micro-batches (helpers.training.auto_batch)
            gradient_accumulation_steps=1,
        )
    if accelerator.device.type != choice.device:
        raise RuntimeError(
            f"Accelerate set this process up on {accelerator.device}, but helpers chose "
            f"{choice.device} ({choice.device_reason}). Under `accelerate launch` with several "
            "processes Accelerate picks the GPU type itself: set CAPTION_DEVICE="
            f"{accelerator.device.type} to train there. In a notebook, an Accelerator made "
            "earlier fixed the device: restart the kernel."
        )
    return accelerator, choice


@contextmanager
def _accelerate_device(device: str) -> Iterator[None]:
    """Make a single-process Accelerator start on ``device``: Accelerate reads the device from
    ``ACCELERATE_TORCH_DEVICE`` when it first sets up (else it prefers CUDA to XPU). Launched
    processes (``LOCAL_RANK`` set) each get their own GPU from Accelerate and are left alone."""
    variable = "ACCELERATE_TORCH_DEVICE"
    if device == "cpu" or "LOCAL_RANK" in os.environ or variable in os.environ:
        yield
        return
    os.environ[variable] = device
    try:
        yield
    finally:
        os.environ.pop(variable, None)


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
    it belongs to this run (``helpers.training.resume``: otherwise ``ResumeRefused``); ``resume=False``
    deletes it and the run's other outputs first and starts over.
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
    check = _check_checkpoint(accelerator, run_dir, run, resume)
    set_seed(cfg.seed)
    if cfg.freeze_vision_encoder:
        freeze_vision_encoder(model)
    if cfg.gradient_checkpointing:
        enable_gradient_checkpointing(model)
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
    optimizer = torch.optim.AdamW(parameter_groups(model, cfg.weight_decay), lr=cfg.learning_rate)
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
    raw_model = accelerator.unwrap_model(model)

    reuse = cache_image_features(raw_model) if cfg.cache_image_features else nullcontext()
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
                "done." + _changes_note(check, state, optimizer, scheduler, updates_per_epoch)
            )
        resumed_from = state.epochs_done
        step = _micro_batch_step(cfg, accelerator, choice, raw_model, state)
        # a new run logs from step 0 (the loss before training), a resumed one after its updates
        first_step = resumed_from * updates_per_epoch + (1 if resumed_from else 0)
        curves = CurveLogger(start_trackers(cfg.log_with, run_dir, first_step), cfg.log_every_steps)
        if not resumed_from:
            curves.log({"val/loss": state.initial_val_loss}, step=0)

        try:
            for epoch in range(state.epochs_done, cfg.epochs):
                if state.stopped_early:
                    break
                advice = step.nan_advice = _nan_advice(cfg, state, run_dir)
                reset_peak_memory(choice.device)
                start = time.perf_counter()
                train_loss = _train_one_epoch(
                    cfg, accelerator, model, optimizer, scheduler, train_loader, epoch, step, curves
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
                    _epoch_curves(state.history[-1]), step=state.epochs_done * updates_per_epoch
                )
                _track_best(cfg, accelerator, raw_model, processor, state, run, val_loss, run_dir)
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
        _write_summary(run_dir, raw_model, accelerator, choice, state, updates_per_epoch)
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


def _micro_batch_step(
    cfg: CaptionConfig,
    accelerator: Accelerator,
    choice: DeviceChoice,
    model: torch.nn.Module,
    state: TrainingState,
) -> MicroBatchStep:
    """The step runner: the batch a resumed run had settled on, else ``cfg.batch_size``;
    automatic halving on out-of-memory where ``cfg.auto_batch_size`` asks for it (default: on
    GPUs, in single-process runs: under DDP one process cannot retry alone)."""
    auto = cfg.auto_batch_size
    if auto is None:
        auto = choice.device != "cpu"
    if auto and accelerator.num_processes > 1:
        log.info("auto_batch_size is off under several processes (DDP).")
        auto = False
    micro = state.micro_batch_size or cfg.batch_size
    if micro != cfg.batch_size:
        log.info(
            f"Keeping the batch this run settled on earlier: {micro} per micro-batch "
            f"(batch_size={cfg.batch_size} did not fit)."
        )

    def memory_advice() -> str:
        estimate = estimate_training_memory(model, cfg, choice.device, choice.precision)
        return fit_report(model, cfg, estimate, free_memory_bytes(choice.device))

    return MicroBatchStep(
        accelerator,
        samples_per_step=cfg.batch_size * cfg.gradient_accumulation_steps,
        micro_batch_size=micro,
        auto=auto,
        max_grad_norm=cfg.max_grad_norm,
        memory_advice=memory_advice,
    )


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


def _epoch_curves(row: dict[str, Any]) -> dict[str, float]:
    """What the trackers get after each epoch, from its ``history.csv`` row."""
    return {
        "val/loss": row["val_loss"],
        "train/epoch_loss": row["train_loss"],
        "train/samples_per_second": row["samples_per_second"],
        "train/peak_memory_mb": row["peak_memory_mb"],
    }


def _track_best(
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


def _write_summary(
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


def _check_checkpoint(
    accelerator: Accelerator, run_dir: Path, run: dict[str, Any], resume: bool
) -> ResumeCheck | None:
    """Start over when ``resume`` is False; else refuse a checkpoint of another run. Returns
    what changed safely when there is a checkpoint to continue."""
    if not resume:
        if accelerator.is_main_process:
            removed = clear_run(run_dir)
            if removed:
                log.info(f"Starting over in {run_dir}: deleted {', '.join(removed)}.")
        accelerator.wait_for_everyone()
    folder = find_checkpoint(run_dir)
    if folder is None:
        return None
    check = check_resume(read_run(folder), run)
    if check.conflicts:
        raise ResumeRefused(refusal_message(run_dir, check.conflicts))
    return check


def _changes_note(
    check: ResumeCheck | None,
    state: TrainingState,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    updates_per_epoch: int,
) -> str:
    """What changed since the checkpoint (safe ones only get here) and, for the number of
    epochs, what happens to the learning rate."""
    if check is None or not check.changes:
        return ""
    note = f" Changed since the checkpoint, safe to continue: {check.describe_changes()}."
    if "epochs" not in check.changes:
        return note
    was, now = check.changes["epochs"]
    if now <= state.epochs_done:
        return note + f" The run already has {state.epochs_done} epochs: nothing left to train."
    before, after = rebase_schedule(optimizer, scheduler)
    return note + (
        f" The learning-rate schedule (linear warm-up, then linear decay to 0) is rebuilt for "
        f"{now} epochs ({updates_per_epoch * now} updates), as if the run had been planned that "
        f"long: after update {scheduler.last_epoch} the rate is {after:.3g} instead of "
        f"{before:.3g} (the {was}-epoch schedule's), then falls to 0 by the end of epoch {now}."
    )


def rebase_schedule(optimizer: torch.optim.Optimizer, scheduler: Any) -> tuple[float, float]:
    """Set the optimizer's learning rates to what the (rebuilt) schedule gives at the step the
    checkpoint reached, instead of the rates the checkpoint's schedule left; returns the first
    group's ``(old, new)`` rate. ``scheduler`` is a ``LambdaLR`` (transformers' schedules)."""
    step = scheduler.last_epoch
    old = optimizer.param_groups[0]["lr"]
    rates = [
        base * rule(step)
        for base, rule in zip(scheduler.base_lrs, scheduler.lr_lambdas, strict=True)
    ]
    for group, rate in zip(optimizer.param_groups, rates, strict=True):
        group["lr"] = rate
    scheduler._last_lr = rates  # what get_last_lr() reports until the next step
    return old, rates[0]


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
    "make_accelerator",
    "parameter_groups",
    "rebase_schedule",
    "train",
]
