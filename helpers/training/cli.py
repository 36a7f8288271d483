"""Fine-tune from the command line: data + model + ``helpers.training.loop.train``.

    uv run python -m helpers.training --profile smoke
    uv run accelerate launch -m helpers.training --profile full --lora --epochs 3
    uv run accelerate launch -m helpers.training --profile full --lora --cache-image-features
    uv run accelerate launch --multi_gpu --num_processes 2 -m helpers.training --profile demo
    uv run python -m helpers.training --profile demo --log-with tensorboard   # then, elsewhere:
    uv run tensorboard --logdir runs

The profile (``--profile``, else ``$CAPTION_PROFILE``, else ``full``) sets everything; the flags
override single settings. ``--lora`` uses ``helpers.model.lora.lora_config``, like notebook 05:
the folder ``<run_dir>-lora`` (a LoRA run never resumes a full fine-tune) and the LoRA learning rate
(``--learning-rate`` sets it). Rerunning the same command resumes from the last checkpoint when
it belongs to the same run, and refuses with the differences otherwise; ``--restart`` deletes
that run and starts over in the same folder.

Several processes on CPUs only: ``accelerate launch --cpu --num_processes N`` starts a single
process (accelerate needs mpirun for several CPU processes); ``--multi_gpu --num_processes N``
with ``CAPTION_DEVICE=cpu`` starts N processes that talk over gloo.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path

from helpers.config import PROFILES, CaptionConfig, load_config
from helpers.data.prepare import prepare_dataset
from helpers.messages import show_messages
from helpers.model.loading import load_captioner
from helpers.model.lora import apply_lora, lora_config
from helpers.training.accelerator import make_accelerator
from helpers.training.outputs import TrainResult
from helpers.training.runs import train_on_splits

log = logging.getLogger(__name__)

# flag -> config field, for the plain overrides
OVERRIDES = {
    "--model-name": ("model_name", str),
    "--epochs": ("epochs", int),
    "--batch-size": ("batch_size", int),
    "--gradient-accumulation-steps": ("gradient_accumulation_steps", int),
    "--learning-rate": ("learning_rate", float),
    "--precision": ("precision", str),
    "--device": ("device", str),
    "--seed": ("seed", int),
    "--data-dir": ("data_dir", Path),
    "--run-dir": ("run_dir", Path),
    "--log-with": ("log_with", str),
    "--log-every-steps": ("log_every_steps", int),
    "--compile": ("compile", str),  # auto, true or false
    "--attn-implementation": ("attn_implementation", str),
}


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m helpers.training", description=__doc__.splitlines()[0]
    )
    parser.add_argument(
        "--profile", choices=PROFILES, help="config profile (default: $CAPTION_PROFILE or full)"
    )
    parser.add_argument(
        "--model",
        help="another model than the profile's, in its own run folder (as the notebooks' MODEL), "
        "e.g. florence-community/Florence-2-base; --model-name changes it in place",
    )
    parser.add_argument(
        "--lora", action="store_true", help="train LoRA adapters instead of all weights"
    )
    parser.add_argument(
        "--restart",
        action="store_true",
        help="delete the run in the run folder (checkpoint, history, exports) and start over",
    )
    parser.add_argument("--freeze-vision-encoder", action="store_true", default=None)
    parser.add_argument("--gradient-checkpointing", action="store_true", default=None)
    parser.add_argument(
        "--cache-image-features",
        nargs="?",
        const=True,
        choices=[True, "auto", "true", "false"],
        help="run the frozen image encoder once per image (with --lora or "
        "--freeze-vision-encoder); 'auto': on the CPU only, as notebook 05",
    )
    for flag, (field, kind) in OVERRIDES.items():
        parser.add_argument(flag, type=kind, dest=field, help=f"override cfg.{field}")
    return parser.parse_args(argv)


def config_from_args(args: argparse.Namespace) -> CaptionConfig:
    """The profile's config with the flags' overrides; with ``--lora``, ``lora_config`` of it
    (``--learning-rate`` is then the LoRA rate, ``--run-dir`` the folder as given)."""
    fields = [field for field, _ in OVERRIDES.values()]
    fields += ["freeze_vision_encoder", "gradient_checkpointing", "cache_image_features"]
    overrides = {name: getattr(args, name) for name in fields if getattr(args, name) is not None}
    if not args.lora:
        return load_config(args.profile, model=args.model, **overrides)
    if "learning_rate" in overrides:
        overrides["lora_learning_rate"] = overrides.pop("learning_rate")
    cfg = lora_config(load_config(args.profile, model=args.model, **overrides))
    return cfg if args.run_dir is None else cfg.with_overrides(run_dir=args.run_dir)


@contextlib.contextmanager
def warnings_only_from(main_process: bool) -> Iterator[None]:
    """Silence warnings inside the block in processes other than the main one (their messages
    are already silenced by ``helpers.messages``)."""
    if main_process:
        yield
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def main(argv: Sequence[str] | None = None) -> TrainResult:
    show_messages()
    args = parse_args(argv)
    cfg = config_from_args(args)
    accelerator, _ = make_accelerator(cfg)
    # one process unzips, downloads and reports; the others reuse its work quietly
    with accelerator.main_process_first(), warnings_only_from(accelerator.is_main_process):
        data = prepare_dataset(cfg, progress=accelerator.is_main_process)
        captioner = load_captioner(cfg)
    log.info(f"Model: {captioner.source}")
    model = apply_lora(captioner.model, cfg) if args.lora else captioner.model
    result = train_on_splits(cfg, model, captioner.processor, data, resume=not args.restart)
    log.info(
        f"Best epoch {result.best_epoch} (val loss {result.best_val_loss:.4f}); "
        f"model for inference: {result.final_dir}; history: {result.history_path}"
    )
    return result
