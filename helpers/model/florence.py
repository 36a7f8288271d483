"""Florence-2 as a captioner: native transformers classes, a task prompt, no remote code.

Florence-2 (``Florence2ForConditionalGeneration``, native in transformers) is an encoder-decoder:
a DaViT image tower whose features, projected, replace the ``<image>`` tokens of the encoder's
input, followed by a *task prompt*; a BART decoder writes the answer. Captioning is three tasks:

* ``<CAPTION>`` ("What does the image describe?"): one short sentence;
* ``<DETAILED_CAPTION>``: a few sentences;
* ``<MORE_DETAILED_CAPTION>`` ("Describe with a paragraph what is shown in the image."): a
  paragraph. **Our default**: Hephaestus captions are paragraphs (54 BLIP tokens on average, up
  to 125; several patterns, their positions, the atmosphere), so fine-tuning starts from the task
  whose answers already have that length and shape, and the zero-shot baseline is not penalised
  for writing one short sentence.

The task is ``cfg.florence_task``; it is stored in the model's config (``caption_task``), so a
fine-tuned checkpoint captions with the prompt it was trained on. Only the decoder's caption is
in the loss: the prompt is the encoder's input, never a label.

The checkpoints are ``florence-community/Florence-2-base`` and ``-large`` (and their ``-ft``
versions). The original ``microsoft/Florence-2-*`` repositories run their own Python code
(``trust_remote_code``), which this collection never does: they are refused with the native id.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from PIL import Image
from transformers import Florence2ForConditionalGeneration, Florence2Processor, PreTrainedModel

from helpers.model.attributes import base_model

CAPTION_TASKS = ("<CAPTION>", "<DETAILED_CAPTION>", "<MORE_DETAILED_CAPTION>")
DEFAULT_TASK = "<MORE_DETAILED_CAPTION>"
TASK_KEY = "caption_task"  # the config attribute holding a model's caption task
FLORENCE_MODEL_TYPE = "florence2"
_REMOTE_CODE_ID = re.compile(r"^microsoft/(florence-2-[a-z-]+)$", re.IGNORECASE)
# the DaViT tower halves the image 5 times (strides 4, 2, 2, 2): one token per 32 x 32 pixels
PIXELS_PER_TOKEN = 32


def native_id(name: str) -> str | None:
    """The native checkpoint of a ``microsoft/Florence-2-*`` id (None for any other name)."""
    found = _REMOTE_CODE_ID.match(name.strip())
    if not found:
        return None
    suffix = found.group(1).lower().removeprefix("florence-2-")
    return f"florence-community/Florence-2-{suffix}"


def refuse_remote_code(name: str, config: dict | None = None) -> None:
    """Raise ``ValueError`` for a checkpoint that needs ``trust_remote_code``: a
    ``microsoft/Florence-2-*`` id, or a folder whose ``config.json`` has an ``auto_map``."""
    native = native_id(name)
    if native is not None:
        raise ValueError(
            f"{name} runs its own Python code from the Hub (trust_remote_code), which this "
            f"collection never does. Use the native checkpoint instead: model_name={native!r} "
            "(the same weights, loaded by transformers' own Florence2ForConditionalGeneration)."
        )
    if config and config.get("auto_map"):
        raise ValueError(
            f"{name}: its config.json maps the model to code shipped with the checkpoint "
            "(auto_map), which this collection never runs (no trust_remote_code). Use a "
            "checkpoint transformers supports natively, e.g. florence-community/Florence-2-base."
        )


def is_florence(model: torch.nn.Module) -> bool:
    """True for a Florence-2 model, plain or LoRA-wrapped."""
    config = getattr(base_model(model), "config", None)
    return getattr(config, "model_type", None) == FLORENCE_MODEL_TYPE


def check_task(task: str) -> str:
    if task not in CAPTION_TASKS:
        raise ValueError(
            f"florence_task={task!r} is not a Florence-2 caption task; choose one of "
            f"{', '.join(CAPTION_TASKS)}."
        )
    return task


def set_caption_task(model: PreTrainedModel, task: str) -> None:
    """Record the task a model captions with in its config (saved with it)."""
    setattr(model.config, TASK_KEY, check_task(task))


def caption_task(model: torch.nn.Module) -> str:
    """The caption task of a Florence-2 model (its config's, else the default)."""
    return getattr(base_model(model).config, TASK_KEY, None) or DEFAULT_TASK


def task_inputs(processor: Florence2Processor, images: Sequence[Image.Image], task: str) -> dict:
    """What Florence-2 reads for ``images``: ``pixel_values`` and the encoder's ``input_ids``
    (the image tokens and the task prompt) with their ``attention_mask``."""
    inputs = processor(text=[task] * len(images), images=list(images), return_tensors="pt")
    return dict(inputs)


def prompt_ids(processor: Florence2Processor, task: str) -> list[int]:
    """The encoder's input ids for one image and ``task`` (the same for every image)."""
    size = processor.image_processor.size
    blank = Image.new("RGB", (size.get("width", 768), size.get("height", 768)))
    return task_inputs(processor, [blank], task)["input_ids"][0].tolist()


def image_embeddings(model: torch.nn.Module, pixel_values: torch.Tensor) -> torch.Tensor:
    """One vector per image: the mean of the projected image tokens the encoder reads."""
    base = base_model(model)
    return base.get_image_features(pixel_values=pixel_values).pooler_output.mean(dim=1)


def load_florence(
    name: str, task: str, processing: dict[str, Any], weights: dict[str, Any]
) -> tuple[Florence2ForConditionalGeneration, Florence2Processor]:
    """A native Florence-2 checkpoint and its processor; a fine-tuned one keeps its task."""
    processor = Florence2Processor.from_pretrained(name, **processing)
    model = Florence2ForConditionalGeneration.from_pretrained(name, **weights)
    if getattr(model.config, TASK_KEY, None) is None:
        set_caption_task(model, task)
    return model, processor


def local_config(folder: Path) -> dict:
    """A model folder's ``config.json`` as a dict ({} when it is unreadable)."""
    try:
        return json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


__all__ = [
    "CAPTION_TASKS",
    "DEFAULT_TASK",
    "PIXELS_PER_TOKEN",
    "caption_task",
    "check_task",
    "image_embeddings",
    "is_florence",
    "load_florence",
    "local_config",
    "native_id",
    "prompt_ids",
    "refuse_remote_code",
    "set_caption_task",
    "task_inputs",
]
