"""The collator that trains a given model: ``caption_collator(model, processor, max_length)``,
token lengths padded to a multiple of ``LENGTH_BUCKET`` (``helpers.data.batching``).

* BLIP: ``CaptionCollator`` with BLIP's start token ``[DEC]``, and the attribute targets and
  prompt when the model has heads (``helpers.model.attributes``);
* GIT: ``CaptionCollator`` with the ids as its tokenizer writes them;
* Florence-2: ``TaskPromptCollator`` with the model's caption task (``helpers.model.florence``).
"""

from __future__ import annotations

from typing import Any

import torch

from helpers.data.batching import LENGTH_BUCKET, CaptionCollator, TaskPromptCollator
from helpers.model.attributes import attribute_heads, prompt_settings
from helpers.model.florence import caption_task, is_florence, prompt_ids
from helpers.model.loading import decoder_start_token_id


def caption_collator(
    model: torch.nn.Module, processor: Any, max_length: int
) -> CaptionCollator | TaskPromptCollator:
    """The collator that trains ``model`` (plain or LoRA-wrapped), captions cut at
    ``max_length`` tokens, batches padded to a multiple of ``LENGTH_BUCKET`` tokens."""
    if is_florence(model):
        prompt = prompt_ids(processor, caption_task(model))
        return TaskPromptCollator(processor, max_length, prompt, pad_multiple=LENGTH_BUCKET)
    return CaptionCollator(
        processor,
        max_length,
        decoder_start_token_id(model),
        attribute_prompt=prompt_settings(model),
        with_targets=attribute_heads(model) is not None,
        pad_multiple=LENGTH_BUCKET,
    )


__all__ = ["caption_collator"]
