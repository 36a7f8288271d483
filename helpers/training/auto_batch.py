"""One optimizer step as micro-batches, and an automatic batch size that never changes the step.

``train`` hands each optimizer step's samples (``batch_size x gradient_accumulation_steps`` per
process) to ``MicroBatchStep``, which runs them as micro-batches of ``micro_batch_size``,
accumulating gradients, then clips and steps once. Starting at ``micro = batch_size``, that is
exactly gradient accumulation over ``gradient_accumulation_steps`` batches.

With ``auto`` on, a micro-batch that runs out of device memory (``helpers.oom.is_out_of_memory``:
CUDA, Intel XPU and Apple MPS errors, nothing else) makes the step start over at half the
micro-batch: gradients dropped, memory freed, the same samples again. The optimizer therefore
sees the same samples per step, the same number of steps per epoch and the same learning-rate
schedule; only the split changes (batch halved, accumulation doubled), and the smaller size is
kept for the rest of the run (and, through the checkpoint, for a resumed run). Below one sample
per micro-batch it gives up with ``BatchTooLargeError`` and the advice it was given.

Each micro-batch's loss is divided by the number of micro-batches in a full step, as Accelerate
divides by ``gradient_accumulation_steps``; so a run that had to halve from batch 4 ends with the
weights of a run started at batch 2 with twice the accumulation (same data order, no dropout).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass

import torch
from accelerate import Accelerator

from helpers.config import CaptionConfig
from helpers.device import DeviceChoice
from helpers.oom import BatchTooLargeError, free_device_memory, is_out_of_memory
from helpers.training.checkpoints import TrainingState
from helpers.training.memory import estimate_training_memory
from helpers.training.memory_advice import fit_report, free_memory_bytes

log = logging.getLogger(__name__)


class NonFiniteLossError(RuntimeError):
    """The loss became NaN or infinite; training stopped before the weights were touched."""


def split_batch(batch: dict[str, torch.Tensor], size: int) -> list[dict[str, torch.Tensor]]:
    """``batch`` cut along its first dimension into pieces of at most ``size`` samples."""
    total = next(iter(batch.values())).shape[0]
    return [{k: v[i : i + size] for k, v in batch.items()} for i in range(0, total, size)]


@dataclass
class MicroBatchStep:
    """Runs optimizer steps as micro-batches; halves ``micro_batch_size`` on out-of-memory when
    ``auto`` (see the module docstring)."""

    accelerator: Accelerator
    samples_per_step: int  # batch_size x gradient_accumulation_steps, per process
    micro_batch_size: int
    auto: bool
    max_grad_norm: float
    memory_advice: Callable[[], str] = lambda: ""  # what to change when batch 1 does not fit
    nan_advice: str = ""  # what was kept and what to try when the loss is not finite
    last_grad_norm: float = math.nan  # the gradient norm of the last step, before clipping

    @property
    def accumulation_steps(self) -> int:
        """Micro-batches in a full step."""
        return math.ceil(self.samples_per_step / self.micro_batch_size)

    def __call__(
        self,
        model: torch.nn.Module,
        optimizer: torch.optim.Optimizer,
        scheduler,
        batch: dict[str, torch.Tensor],
        where: str,
    ) -> float:
        """One optimizer step on ``batch``; returns its mean loss over micro-batches and
        processes. ``where`` names the step in error messages."""
        while True:
            try:
                loss = self._accumulate(model, batch, where)
            except Exception as error:
                if not (self.auto and is_out_of_memory(error)):
                    raise
                failed_at = self.micro_batch_size
            else:
                break
            self._shrink(optimizer, failed_at)
        norm = self.accelerator.clip_grad_norm_(model.parameters(), self.max_grad_norm)
        self.last_grad_norm = math.nan if norm is None else float(norm)
        optimizer.step()
        if not self.accelerator.optimizer_step_was_skipped:
            scheduler.step()
        optimizer.zero_grad()
        return loss

    def _accumulate(self, model: torch.nn.Module, batch: dict, where: str) -> float:
        pieces = split_batch(batch, self.micro_batch_size)
        losses = []
        for index, piece in enumerate(pieces):
            last = index == len(pieces) - 1
            with nullcontext() if last else self.accelerator.no_sync(model):
                loss = model(**piece).loss
                mean = self.accelerator.reduce(loss.detach(), reduction="mean").item()
                if not math.isfinite(mean):
                    raise NonFiniteLossError(
                        f"The loss became {mean} at {where}; {self.nan_advice}"
                    )
                self.accelerator.backward(loss / self.accumulation_steps)
            losses.append(mean)
        return sum(losses) / len(losses)

    def _shrink(self, optimizer: torch.optim.Optimizer, failed_at: int) -> None:
        """Drop the step's gradients, free memory, halve the micro-batch (or give up)."""
        optimizer.zero_grad(set_to_none=True)
        free_device_memory(self.accelerator.device.type)
        if failed_at == 1:
            raise BatchTooLargeError(
                "One sample per step does not fit in the device's memory. " + self.memory_advice()
            )
        self.micro_batch_size = failed_at // 2
        log.info(
            f"Out of {self.accelerator.device.type} memory at batch {failed_at}: continuing at "
            f"batch {self.micro_batch_size} x {self.accumulation_steps} accumulation steps "
            f"(still {self.samples_per_step} samples per optimizer step, same schedule)."
        )


def micro_batch_step(
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
