"""Trivial baselines a fine-tuned captioner has to beat, on the same test images.

- **majority**: the most frequent training caption, for every test image (ties: the caption of
  the first record by id). With ``unique_captions`` every training caption occurs once, so it is
  the first record's caption: the point is a captioner that knows nothing about the image.
- **nearest neighbour**: the caption of the most similar training image. Similarity is the
  cosine of the captioning model's own image embedding: BLIP's ``vision_model`` ``pooler_output``
  (the final-layer [CLS] token after the last layer norm), or the mean of the last hidden state
  for an encoder without a pooler (Florence-2: the mean of its projected image tokens). Ties go
  to the first training record by id. A fine-tuned
  captioner that does not beat it has learnt little more than "find a training image that looks
  alike and copy its caption".
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from tqdm.auto import tqdm

from helpers.data.batching import image_pixels
from helpers.data.records import Record, id_sort_key
from helpers.device import DeviceChoice
from helpers.eval.inference import open_rgb
from helpers.model.florence import image_embeddings as florence_embeddings
from helpers.model.florence import is_florence
from helpers.model.loading import vision_encoder

MAJORITY, NEAREST = "majority", "nearest"
STAGES = {MAJORITY: "baseline_majority", NEAREST: "baseline_nearest"}


def majority_caption(train: Sequence[Record]) -> str:
    """The most frequent training caption; ties go to the first record by id."""
    if not train:
        raise ValueError("the majority baseline needs training records")
    ordered = sorted(train, key=lambda r: id_sort_key(r.unique_id))
    counts = Counter(r.caption for r in ordered)
    return max(ordered, key=lambda r: counts[r.caption]).caption  # max keeps the first of ties


@torch.no_grad()
def image_embeddings(
    model: torch.nn.Module,
    processor: Any,
    records: Sequence[Record],
    device: DeviceChoice,
    batch_size: int,
    desc: str = "embedding",
) -> torch.Tensor:
    """L2-normalised pooled image-encoder outputs, one row per record (on the CPU), computed
    ``batch_size`` images at a time on ``device`` with a progress bar."""
    model.to(device.torch_device).eval()
    encoder = vision_encoder(model)
    dtype = next(encoder.parameters()).dtype
    rows = []
    for start in tqdm(range(0, len(records), batch_size), desc=desc, unit="batch"):
        batch = records[start : start + batch_size]
        pixels = image_pixels(processor, [open_rgb(r.image_path) for r in batch])
        pixels = pixels.to(device.torch_device, dtype)
        if is_florence(model):
            pooled = florence_embeddings(model, pixels)
        else:
            output = encoder(pixel_values=pixels)
            pooled = getattr(output, "pooler_output", None)
            if pooled is None:
                pooled = output.last_hidden_state.mean(dim=1)
        rows.append(torch.nn.functional.normalize(pooled.float(), dim=-1).cpu())
    return torch.cat(rows)


@dataclass(frozen=True)
class NearestNeighbours:
    """For each test record: its most similar training record and the cosine similarity."""

    train_ids: list[str]
    similarities: list[float]
    captions: list[str]


def nearest_neighbours(
    model: torch.nn.Module,
    processor: Any,
    train: Sequence[Record],
    test: Sequence[Record],
    device: DeviceChoice,
    batch_size: int = 16,
) -> NearestNeighbours:
    """The nearest training record of every test record by cosine similarity of the model's
    pooled image embeddings (ties: the first training record by id)."""
    if not train or not test:
        raise ValueError("the nearest-neighbour baseline needs training and test records")
    train = sorted(train, key=lambda r: id_sort_key(r.unique_id))
    known = image_embeddings(model, processor, train, device, batch_size, "embed train images")
    asked = image_embeddings(model, processor, test, device, batch_size, "embed test images")
    best, index = (asked @ known.T).max(dim=1)  # max returns the first index of ties
    picked = [train[i] for i in index.tolist()]
    return NearestNeighbours(
        [r.unique_id for r in picked], best.tolist(), [r.caption for r in picked]
    )


__all__ = [
    "MAJORITY",
    "NEAREST",
    "STAGES",
    "NearestNeighbours",
    "image_embeddings",
    "majority_caption",
    "nearest_neighbours",
]
