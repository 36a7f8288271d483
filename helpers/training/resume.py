"""Whether a rerun may continue the checkpoint in ``run_dir/last``, or belongs to another run.

Every checkpoint records the run it belongs to (``run_record``, saved as ``last/run.json``): the
whole config (model id included), LoRA or a full fine-tune, and a fingerprint of the data (how
many training and validation samples, and a hash of their ids). ``check_resume`` compares that
record with the rerun's:

* ``TRAINING_FIELDS`` (and ``LORA_FIELDS`` when both train LoRA), LoRA-vs-full and the data must
  be the same: otherwise the rerun refuses (``ResumeRefused``), lists each difference and names
  the two ways out, a new ``run_dir`` or starting over in place (``train(..., resume=False)``,
  ``--restart`` on the command line);
* ``SAFE_FIELDS`` may change (more epochs, another device, gradient checkpointing...): the run
  continues and says what changed;
* ``OTHER_FIELDS`` do not touch the weights (where files go, evaluation, decoding; the data
  settings are covered by the data fingerprint) and are not compared.

Every field of ``CaptionConfig`` belongs to exactly one of these groups (a test checks it): a new
field must be placed in one.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from accelerate import Accelerator
from peft import PeftModel

from helpers.config import CaptionConfig
from helpers.data.splits import ids_fingerprint
from helpers.model.lora import lora_targets, model_type
from helpers.training.checkpoints import TrainingState, clear_run, find_checkpoint, read_run

log = logging.getLogger(__name__)

TRAINING_FIELDS = (
    "model_name",
    "image_size",
    "max_caption_tokens",
    "batch_size",
    "gradient_accumulation_steps",
    "learning_rate",
    "weight_decay",
    "warmup_ratio",
    "max_grad_norm",
    "seed",
    "freeze_vision_encoder",
    "attribute_heads",
    "attribute_prompt",
    "attribute_loss_weight",
    "label_smoothing",
    "florence_task",
)
LORA_FIELDS = ("lora_r", "lora_alpha", "lora_dropout", "lora_target_modules")
SAFE_FIELDS = (
    "epochs",
    "early_stopping_patience",
    "eval_batch_size",
    "num_workers",
    "device",
    "precision",
    "gradient_checkpointing",
    "cache_image_features",
    "attn_implementation",  # same weights: an "eager" run resumes under "sdpa"
    "compile",  # the compiled step computes what the eager one does
    "auto_batch_size",
)
OTHER_FIELDS = (
    "profile",
    "log_with",
    "log_every_steps",
    "data_dir",
    "output_dir",
    "run_dir",
    "synthetic_samples",
    "unique_captions",
    "val_fraction",
    "test_fraction",
    "split",
    "max_test_samples",
    "lora_learning_rate",  # already in learning_rate when it applies (modeling.lora_config)
    "num_beams",
    "max_new_tokens",
    "repetition_penalty",
    "no_repeat_ngram_size",
    "length_penalty",
    "decoding_source",
    "zero_shot_repetition_penalty",
    "zero_shot_no_repeat_ngram_size",
    "decoding_grid",
    "decoding_val_samples",
    "bertscore_model",
    "bertscore_intel_model",
    "bootstrap_resamples",
    "bootstrap_seed",
)


class ResumeRefused(ValueError):
    """``run_dir/last`` holds a checkpoint of another run; the message lists the differences."""


@dataclass
class ResumeCheck:
    """What differs between a checkpoint's run and the rerun."""

    conflicts: list[str] = field(default_factory=list)  # each one stops the resume
    changes: dict[str, tuple[Any, Any]] = field(default_factory=dict)  # safe: field -> (was, now)

    def describe_changes(self) -> str:
        return ", ".join(f"{name} {was!r} -> {now!r}" for name, (was, now) in self.changes.items())


def run_record(
    cfg: CaptionConfig, model: torch.nn.Module, train_dataset: Any, val_dataset: Any
) -> dict[str, Any]:
    """What a checkpoint of this run records about it (JSON-friendly)."""
    return {
        "config": cfg.to_dict(),
        "lora": isinstance(model, PeftModel),
        "family": model_type(model),
        "lora_targets": list(lora_targets(model, cfg)),
        "data": {"train": data_fingerprint(train_dataset), "val": data_fingerprint(val_dataset)},
    }


def data_fingerprint(dataset: Any) -> dict[str, Any]:
    """Sample count and a hash of the sample ids (None when the dataset carries no ids)."""
    ids = sample_ids(dataset)
    return {"samples": len(dataset), "ids": None if ids is None else ids_fingerprint(ids)}


def sample_ids(dataset: Any) -> list[str] | None:
    """The ids of a ``CaptionDataset`` (its records' ``unique_id``) or of a list of items with a
    ``"unique_id"``; None for other datasets (their fingerprint is their size only)."""
    records = getattr(dataset, "records", None)
    if records is not None:
        return [str(record.unique_id) for record in records]
    if isinstance(dataset, Sequence) and all(
        isinstance(item, Mapping) and "unique_id" in item for item in dataset
    ):
        return [str(item["unique_id"]) for item in dataset]
    return None


def check_resume(saved: Mapping[str, Any] | None, current: Mapping[str, Any]) -> ResumeCheck:
    """Compare a checkpoint's ``run_record`` (None: it has none) with the rerun's."""
    check = ResumeCheck()
    if saved is None:
        check.conflicts.append(
            "the checkpoint records no run settings (an older version of helpers wrote it), "
            "so nothing says it belongs to this run"
        )
        return check
    was, now = saved["config"], current["config"]
    family = saved.get("family", "blip"), current.get("family", "blip")
    if family[0] != family[1]:
        check.conflicts.append(
            f"the checkpoint is a {family[0]} model, this run trains a {family[1]} model"
        )
    if saved["lora"] != current["lora"]:
        kinds = {True: "LoRA adapters", False: "all weights (a full fine-tune)"}
        check.conflicts.append(
            f"the checkpoint trained {kinds[saved['lora']]}, this run trains "
            f"{kinds[current['lora']]}"
        )
    compared = TRAINING_FIELDS + (LORA_FIELDS if saved["lora"] and current["lora"] else ())
    check.conflicts += [
        f"{name}: {was.get(name)!r} in the checkpoint, {now.get(name)!r} now"
        for name in compared
        if was.get(name) != now.get(name)
    ]
    for split in ("train", "val"):
        old, new = saved["data"][split], current["data"][split]
        same_ids = old["ids"] is None or new["ids"] is None or old["ids"] == new["ids"]
        if old["samples"] != new["samples"] or not same_ids:
            check.conflicts.append(
                f"{split} data: {_describe_data(old)} in the checkpoint, {_describe_data(new)} now"
            )
    check.changes = {
        name: (was.get(name), now.get(name))
        for name in SAFE_FIELDS
        if was.get(name) != now.get(name)
    }
    return check


def _describe_data(data: Mapping[str, Any]) -> str:
    ids = f" (ids {data['ids'][:12]})" if data["ids"] else ""
    return f"{data['samples']} samples{ids}"


def refusal_message(run_dir: Path, conflicts: list[str]) -> str:
    """Why ``train`` does not continue ``run_dir/last``, and the two ways out."""
    lines = [f"{run_dir / 'last'} holds a checkpoint of another run; it differs in:"]
    lines += [f"  - {conflict}" for conflict in conflicts]
    lines += [
        "Training did not start. Either",
        "  1. keep that run and train this one in a new folder: set run_dir to another folder "
        "(command line: --run-dir FOLDER), or",
        f"  2. start over in {run_dir}, deleting that run's checkpoint, history and exports: "
        "train(..., resume=False) (command line: --restart).",
    ]
    return "\n".join(lines)


def check_checkpoint(
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


def changes_note(
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


__all__ = [
    "LORA_FIELDS",
    "OTHER_FIELDS",
    "SAFE_FIELDS",
    "TRAINING_FIELDS",
    "ResumeCheck",
    "ResumeRefused",
    "check_resume",
    "data_fingerprint",
    "refusal_message",
    "run_record",
    "sample_ids",
]
