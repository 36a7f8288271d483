"""From records to model batches: a torch ``Dataset`` and the collators.

loader = DataLoader(CaptionDataset(records), batch_size=8,
                    collate_fn=CaptionCollator(processor, max_length=64))

``CaptionCollator`` serves captioners that decode from the image alone (BLIP, GIT),
``TaskPromptCollator`` encoder-decoders that read a task prompt (Florence-2);
``helpers.model.collators.caption_collator`` picks the one a model needs, and pads every batch's
captions to a multiple of ``LENGTH_BUCKET`` tokens: a handful of lengths instead of one per
batch, so a compiled training step (``helpers.training.compilation``) is not compiled again for
each new length. The extra positions are padding (mask 0, label -100): same loss.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from PIL import Image
from torch.utils.data import Dataset

from helpers.data.attributes import attribute_targets, prompt_ids
from helpers.data.records import Record

LENGTH_BUCKET = 16  # caption_collator pads token lengths to a multiple of this


def pad_to_multiple(tensor: torch.Tensor, multiple: int | None, value: int) -> torch.Tensor:
    """``tensor`` (batch x length) padded on the right with ``value`` to a length that is a
    multiple of ``multiple`` (None: unchanged)."""
    if not multiple or tensor.shape[1] % multiple == 0:
        return tensor
    extra = multiple - tensor.shape[1] % multiple
    return torch.nn.functional.pad(tensor, (0, extra), value=value)


class CaptionDataset(Dataset):
    """Items ``{"unique_id", "image" (PIL RGB), "caption", "attribute_targets"}`` (the
    record's facts, ``helpers.data.attributes``).

    With a ``processor``, items also carry ``pixel_values`` computed per item, so image
    preprocessing runs in the DataLoader workers; ``CaptionCollator`` then only tokenizes.
    """

    def __init__(self, records: Sequence[Record], processor: Any = None) -> None:
        self.records = list(records)
        self.processor = processor

    def __len__(self) -> int:
        return len(self.records)

    def attribute_targets(self) -> list[tuple[float, ...]]:
        """Every record's attribute targets (each image's header is read for its size)."""
        targets = []
        for record in self.records:
            with Image.open(record.image_path) as image:
                targets.append(attribute_targets(record, image.size))
        return targets

    def __getitem__(self, index: int) -> dict[str, Any]:
        record = self.records[index]
        with Image.open(record.image_path) as image:
            rgb = image.convert("RGB")
        item = {
            "unique_id": record.unique_id,
            "image": rgb,
            "caption": record.caption,
            "attribute_targets": attribute_targets(record, rgb.size),
        }
        if self.processor is not None:
            item["pixel_values"] = image_pixels(self.processor, [rgb])[0]
        return item


def image_pixels(processor: Any, images: Sequence[Image.Image]) -> torch.Tensor:
    """The ``pixel_values`` of ``images`` through the processor's image part (a processor that
    also takes text, as Florence-2's, is never asked for a prompt here)."""
    image_processor = getattr(processor, "image_processor", processor)
    return image_processor(images=list(images), return_tensors="pt")["pixel_values"]


def batch_pixels(processor: Any, items: Sequence[dict[str, Any]]) -> torch.Tensor:
    """The items' ``pixel_values``: computed per item by ``CaptionDataset``, or here."""
    if all("pixel_values" in item for item in items):
        return torch.stack([item["pixel_values"] for item in items])
    return image_pixels(processor, [item["image"] for item in items])


class CaptionCollator:
    """Batch items for a Hugging Face captioning processor (BLIP, GIT, ...).

    Returns ``pixel_values``, ``input_ids``, ``attention_mask`` and ``labels`` (the input ids with
    padding positions set to -100 so the loss ignores them).

    ``decoder_start_token_id``: BLIP's ``generate`` starts every caption from its ``[DEC]`` token,
    but its tokenizer begins sequences with ``[CLS]`` and its ``forward`` does not swap them; pass
    the model's start id (``modeling.decoder_start_token_id``) so training sees what generation
    sees. None (GIT and other models) leaves the ids as tokenized.

    ``attribute_prompt``: (word ids, filler id) of a model captioning from an attribute prompt
    (``helpers.model.attributes.prompt_settings``): each caption is preceded by the prompt of
    its annotation's facts, right after the start token, with label -100 (never in the loss).
    With it, or ``with_targets=True``, the batch also carries ``attribute_targets``.

    ``pad_multiple``: pad the token dimension (prompt included) to a multiple of this many
    tokens (None: to the longest caption of the batch).
    """

    def __init__(
        self,
        processor: Any,
        max_length: int,
        decoder_start_token_id: int | None = None,
        *,
        attribute_prompt: tuple[Sequence[int], int] | None = None,
        with_targets: bool = False,
        pad_multiple: int | None = None,
    ) -> None:
        self.processor = processor
        self.max_length = max_length
        self.decoder_start_token_id = decoder_start_token_id
        self.attribute_prompt = attribute_prompt
        self.with_targets = with_targets or attribute_prompt is not None
        self.pad_multiple = pad_multiple

    def __call__(self, items: Sequence[dict[str, Any]]) -> dict[str, torch.Tensor]:
        text_args = {"padding": "longest", "truncation": True, "max_length": self.max_length}
        captions = [item["caption"] for item in items]
        enc = self.processor(text=captions, return_tensors="pt", **text_args)
        pixel_values = batch_pixels(self.processor, items)
        if self.decoder_start_token_id is not None:
            enc["input_ids"][:, 0] = self.decoder_start_token_id
        input_ids, attention_mask = enc["input_ids"], enc["attention_mask"]
        labels = input_ids.clone()
        labels[attention_mask == 0] = -100
        batch = {"pixel_values": pixel_values}
        if self.with_targets:
            targets = torch.tensor([item["attribute_targets"] for item in items])
            batch["attribute_targets"] = targets
        if self.attribute_prompt is not None:
            word_ids, filler_id = self.attribute_prompt
            prompt = torch.tensor([prompt_ids(row, word_ids, filler_id) for row in targets])
            input_ids = torch.cat([input_ids[:, :1], prompt, input_ids[:, 1:]], dim=1)
            attention_mask = torch.cat(
                [attention_mask[:, :1], torch.ones_like(prompt), attention_mask[:, 1:]], dim=1
            )
            ignored = torch.full_like(prompt, -100)
            labels = torch.cat([labels[:, :1], ignored, labels[:, 1:]], dim=1)
        texts = {"input_ids": input_ids, "attention_mask": attention_mask, "labels": labels}
        if self.pad_multiple:
            pad_id = self.processor.tokenizer.pad_token_id
            fill = {"input_ids": pad_id, "attention_mask": 0, "labels": -100}
            texts = {k: pad_to_multiple(v, self.pad_multiple, fill[k]) for k, v in texts.items()}
        return {**batch, **texts}


class TaskPromptCollator:
    """Batches for an encoder-decoder captioner that reads a task prompt (Florence-2).

    The encoder reads the image tokens and the task prompt (``input_ids``, ``attention_mask``:
    the same for every image, ``prompt`` from ``helpers.model.florence.prompt_ids``); the
    decoder learns the caption: ``labels`` are its tokens (``<s>`` ... ``</s>``) with padding set
    to -100, which the model shifts right behind its own start token. So the prompt is never in
    the loss, and neither is padding. ``pad_multiple`` as in ``CaptionCollator`` (the labels).
    """

    def __init__(
        self,
        processor: Any,
        max_length: int,
        prompt: Sequence[int],
        *,
        pad_multiple: int | None = None,
    ) -> None:
        self.processor = processor
        self.max_length = max_length
        self.prompt = torch.tensor(list(prompt))
        self.pad_multiple = pad_multiple

    def __call__(self, items: Sequence[dict[str, Any]]) -> dict[str, torch.Tensor]:
        tokens = self.processor.tokenizer(
            [item["caption"] for item in items],
            padding="longest",
            truncation=True,
            max_length=self.max_length,
            return_tensors="pt",
        )
        labels = tokens["input_ids"].masked_fill(tokens["attention_mask"] == 0, -100)
        input_ids = self.prompt.repeat(len(items), 1)
        return {
            "pixel_values": batch_pixels(self.processor, items),
            "input_ids": input_ids,
            "attention_mask": torch.ones_like(input_ids),
            "labels": pad_to_multiple(labels, self.pad_multiple, -100),
        }
