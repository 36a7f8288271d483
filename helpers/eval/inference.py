"""Batched captioning: a list of images, image files or a folder, in batches, with a progress bar.

Works with any Hugging Face captioner whose processor takes ``images=`` and whose model has
``generate(pixel_values=...)`` (BLIP, GIT), with Florence-2 (which also reads its caption task
prompt), and with PEFT/LoRA-wrapped versions of them.
Decoding settings come from the config (``num_beams``, ``max_new_tokens``,
``repetition_penalty``, ``no_repeat_ngram_size``, ``length_penalty``): a fine-tuned model's
defaults, the zero-shot baseline's or a choice made on validation (``helpers.eval.decoding``).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from PIL import Image, UnidentifiedImageError

from helpers.config import CaptionConfig
from helpers.data.batching import image_pixels
from helpers.data.detokenize import clean_caption
from helpers.data.records import IMAGE_SUFFIXES
from helpers.device import DeviceChoice
from helpers.model.attributes import attribute_heads
from helpers.model.florence import caption_task, is_florence, task_inputs
from helpers.oom import map_in_halving_batches

log = logging.getLogger(__name__)

ImageInput = Image.Image | str | Path


def generation_kwargs(cfg: CaptionConfig) -> dict[str, Any]:
    """The ``generate`` arguments of a config (beam-only ones only when beams are used)."""
    kwargs: dict[str, Any] = {
        "max_new_tokens": cfg.max_new_tokens,
        "num_beams": cfg.num_beams,
        "repetition_penalty": cfg.repetition_penalty,
        "no_repeat_ngram_size": cfg.no_repeat_ngram_size,
        "do_sample": False,
    }
    if cfg.num_beams > 1:
        # early_stopping=True would stop at the first num_beams finished candidates: short ones
        # that end early beat a long caption still being written (tests/test_decoding.py)
        kwargs.update(length_penalty=cfg.length_penalty, early_stopping=False)
    return kwargs


def list_images(folder: Path) -> list[Path]:
    """Image files directly inside ``folder`` (sorted); a clear error when there are none."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder} is not a folder")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise FileNotFoundError(f"no images ({', '.join(sorted(IMAGE_SUFFIXES))}) in {folder}")
    return files


def open_rgb(image: ImageInput) -> Image.Image:
    """An RGB PIL image from a PIL image or a file; a clear error naming a bad file."""
    if isinstance(image, Image.Image):
        return image.convert("RGB")
    try:
        with Image.open(image) as opened:
            return opened.convert("RGB")
    except (OSError, UnidentifiedImageError) as error:
        raise ValueError(f"cannot read image {image}: {error}") from error


def autocast_for(device: DeviceChoice) -> contextlib.AbstractContextManager:
    if device.precision == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.device, dtype=device.dtype)


def image_list(images: Sequence[ImageInput] | Path) -> list[ImageInput]:
    """The images to caption: every image file in a folder, or the given images as a list."""
    if isinstance(images, (str, Path)):
        return list_images(Path(images))
    return list(images)


def pixel_values(
    processor: Any, images: Sequence[ImageInput], device: DeviceChoice
) -> torch.Tensor:
    """One batch of images opened, preprocessed and put on ``device``."""
    pixels = image_pixels(processor, [open_rgb(item) for item in images])
    return pixels.to(device.torch_device)


def model_inputs(
    model: torch.nn.Module, processor: Any, images: Sequence[ImageInput], device: DeviceChoice
) -> dict[str, torch.Tensor]:
    """What ``model.generate`` reads for one batch, on ``device``: the pixels, and for
    Florence-2 also its caption task prompt (``helpers.model.florence``)."""
    if not is_florence(model):
        return {"pixel_values": pixel_values(processor, images, device)}
    rgb = [open_rgb(item) for item in images]
    inputs = task_inputs(processor, rgb, caption_task(model))
    return {name: value.to(device.torch_device) for name, value in inputs.items()}


@torch.no_grad()
def caption_images(
    model: torch.nn.Module,
    processor: Any,
    images: Sequence[ImageInput] | Path,
    cfg: CaptionConfig,
    device: DeviceChoice,
    *,
    batch_size: int | None = None,
    progress: bool = True,
) -> list[str]:
    """Caption images (PIL images, files, or every image in a folder), ``batch_size`` at a time.

    Each caption is decoded and cleaned of WordPiece's spacing ("north - eastern" ->
    "north-eastern": ``helpers.data.detokenize.clean_caption``), so every CSV, figure, widget
    and metric reads the text the references are written in. Images are opened lazily, one
    batch at a time, so a large folder does not fill memory.
    The model is moved to ``device`` and put in eval mode. A batch that runs out of device
    memory is retried at half the size (said so; ``helpers.oom.map_in_halving_batches``), with
    the same captions as a run at the smaller size.
    """
    model.to(device.torch_device).eval()
    kwargs = generation_kwargs(cfg)

    def caption_batch(batch: Sequence[ImageInput]) -> list[str]:
        with autocast_for(device):
            tokens = model.generate(**model_inputs(model, processor, batch, device), **kwargs)
        texts = processor.batch_decode(tokens, skip_special_tokens=True)
        return [clean_caption(text) for text in texts]

    return map_in_halving_batches(
        caption_batch,
        image_list(images),
        cfg.eval_batch_size if batch_size is None else batch_size,
        device.device,
        desc="captioning",
        progress=progress,
        unit="img",
    )


@torch.no_grad()
def head_probabilities(
    model: torch.nn.Module,
    processor: Any,
    images: Sequence[ImageInput],
    device: DeviceChoice,
    batch_size: int = 16,
) -> np.ndarray | None:
    """The attribute heads' probabilities, (images, ``ATTRIBUTE_NAMES``), ``batch_size`` images at
    a time; None for a model without heads (``helpers.model.attributes``)."""
    heads = attribute_heads(model)
    if heads is None:
        return None
    model.to(device.torch_device).eval()
    rows = [
        heads.predict_attributes(
            pixel_values(processor, images[start : start + batch_size], device)
        )
        .cpu()
        .numpy()
        for start in range(0, len(images), batch_size)
    ]
    return np.concatenate(rows) if rows else np.zeros((0, len(heads.heads["names"])))


def caption_image(
    model: torch.nn.Module,
    processor: Any,
    image: ImageInput,
    cfg: CaptionConfig,
    device: DeviceChoice,
) -> str:
    """Caption one image: the quick way to try a checkpoint."""
    return caption_images(model, processor, [image], cfg, device, batch_size=1, progress=False)[0]


@dataclass
class FolderCaptions:
    """Captions of a folder: a table of (image, caption) and the files that could not be read."""

    table: pd.DataFrame
    unreadable: list[tuple[Path, str]]


def caption_folder(
    folder: Path,
    model: torch.nn.Module,
    processor: Any,
    cfg: CaptionConfig,
    device: DeviceChoice,
    out_csv: Path | None = None,
) -> FolderCaptions:
    """Caption every image of a folder; unreadable files are reported, not fatal.

    With ``out_csv``, the table (columns ``image``, ``caption``) is also written there.
    """
    readable: list[Path] = []
    unreadable: list[tuple[Path, str]] = []
    for path in list_images(folder):
        try:
            with Image.open(path) as image:
                image.load()
            readable.append(path)
        except (OSError, UnidentifiedImageError) as error:
            unreadable.append((path, str(error)))
    for path, reason in unreadable:
        log.info(f"skipped {path.name}: {reason}")
    captions = caption_images(model, processor, readable, cfg, device) if readable else []
    table = pd.DataFrame({"image": [p.name for p in readable], "caption": captions})
    if out_csv is not None:
        Path(out_csv).parent.mkdir(parents=True, exist_ok=True)
        table.to_csv(out_csv, index=False)
    return FolderCaptions(table, unreadable)
