"""From records to model batches: a torch ``Dataset`` and a collator for any HF processor.

loader = DataLoader(CaptionDataset(records), batch_size=8,
                    collate_fn=CaptionCollator(processor, max_length=64))
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from PIL import Image
from torch.utils.data import Dataset

from helpers.data.records import Record


class CaptionDataset(Dataset):
    """Items ``{"unique_id", "image" (PIL RGB), "caption"}``.

    With a ``processor``, items also carry ``pixel_values`` computed per item, so image
    preprocessing runs in the DataLoader workers; ``CaptionCollator`` then only tokenizes.
    """

    def __init__(self, records: Sequence[Record], processor: Any = None) -> None:
        self.records = list(records)
        self.processor = processor

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, index: int) -> dict[str, Any]:
        record = self.records[index]
        with Image.open(record.image_path) as image:
            rgb = image.convert("RGB")
        item = {"unique_id": record.unique_id, "image": rgb, "caption": record.caption}
        if self.processor is not None:
            pixels = self.processor(images=rgb, return_tensors="pt")["pixel_values"]
            item["pixel_values"] = pixels[0]
        return item


class CaptionCollator:
    """Batch items for a Hugging Face captioning processor (BLIP, GIT, ...).

    Returns ``pixel_values``, ``input_ids``, ``attention_mask`` and ``labels`` (the input ids with
    padding positions set to -100 so the loss ignores them).

    ``decoder_start_token_id``: BLIP's ``generate`` starts every caption from its ``[DEC]`` token,
    but its tokenizer begins sequences with ``[CLS]`` and its ``forward`` does not swap them; pass
    the model's start id (``modeling.decoder_start_token_id``) so training sees what generation
    sees. None (GIT and other models) leaves the ids as tokenized.
    """

    def __init__(
        self, processor: Any, max_length: int, decoder_start_token_id: int | None = None
    ) -> None:
        self.processor = processor
        self.max_length = max_length
        self.decoder_start_token_id = decoder_start_token_id

    def __call__(self, items: Sequence[dict[str, Any]]) -> dict[str, torch.Tensor]:
        text_args = {"padding": "longest", "truncation": True, "max_length": self.max_length}
        captions = [item["caption"] for item in items]
        if all("pixel_values" in item for item in items):
            enc = self.processor(text=captions, return_tensors="pt", **text_args)
            pixel_values = torch.stack([item["pixel_values"] for item in items])
        else:
            images = [item["image"] for item in items]
            enc = self.processor(images=images, text=captions, return_tensors="pt", **text_args)
            pixel_values = enc["pixel_values"]
        if self.decoder_start_token_id is not None:
            enc["input_ids"][:, 0] = self.decoder_start_token_id
        labels = enc["input_ids"].clone()
        labels[enc["attention_mask"] == 0] = -100
        return {
            "pixel_values": pixel_values,
            "input_ids": enc["input_ids"],
            "attention_mask": enc["attention_mask"],
            "labels": labels,
        }
