"""BLIP with attribute heads: it predicts the annotation's facts and (optionally) writes its
caption from an attribute prompt.

Why: a small, templated caption set lets BLIP's decoder lower its loss from the language prior
alone, and it does so long before its cross-attention learns to read the image; the fine-tuned
model then writes the same few captions for every image (DESIGN.md section 5). The heads give
the image encoder a direct signal (the facts of ``helpers.data.attributes``); the prompt hands
the decoder what the heads see as ordinary text tokens, which it learns to copy within epochs.

``BlipAttributeCaptioner`` is ``BlipForConditionalGeneration`` plus one linear layer on the image
features ([CLS] and the mean of the patch tokens). Its settings live in ``config.attribute_heads``
(saved in ``config.json``), so ``save_pretrained`` / ``from_pretrained`` round-trip the heads and
the prompt; a plain ``BlipForConditionalGeneration.from_pretrained`` of the folder still loads
the captioner (without the heads). ``forward`` adds ``attribute_loss_weight`` times the heads'
binary cross-entropy to the caption loss when the batch has ``attribute_targets``; ``generate``
predicts the facts, builds the prompt, captions, and returns ``[DEC]`` + the caption (the prompt
is cut off), so decoding and scoring code needs no change.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from peft import PeftModel
from transformers import BlipConfig, BlipForConditionalGeneration
from transformers.models.blip.modeling_blip import BlipForConditionalGenerationModelOutput

from helpers.data.attributes import ATTRIBUTE_NAMES, decide, prompt_ids, prompt_vocabulary

HEADS_KEY = "attribute_heads"  # the config attribute holding the settings below


def heads_settings(tokenizer, *, prompt: bool, loss_weight: float) -> dict[str, Any]:
    """What ``config.attribute_heads`` holds: the attributes, their prompt tokens, whether
    captions are conditioned on them, the loss weight and the decision thresholds (set from the
    training data by ``set_thresholds``; 0.5 until then)."""
    word_ids, filler_id = prompt_vocabulary(tokenizer)
    return {
        "names": list(ATTRIBUTE_NAMES),
        "word_ids": list(word_ids),
        "filler_id": filler_id,
        "prompt": prompt,
        "loss_weight": loss_weight,
        "thresholds": [0.5] * len(ATTRIBUTE_NAMES),
    }


class BlipAttributeCaptioner(BlipForConditionalGeneration):
    """BLIP captioner with attribute heads (see the module docstring)."""

    def __init__(self, config: BlipConfig) -> None:
        super().__init__(config)
        settings = getattr(config, HEADS_KEY)
        width = config.vision_config.hidden_size
        self.attribute_head = torch.nn.Linear(2 * width, len(settings["names"]))

    @property
    def heads(self) -> dict[str, Any]:
        return getattr(self.config, HEADS_KEY)

    def attribute_logits(self, image_embeds: torch.Tensor) -> torch.Tensor:
        """One logit per attribute from the encoder's output (batch, tokens, width)."""
        pooled = torch.cat([image_embeds[:, 0], image_embeds[:, 1:].mean(dim=1)], dim=-1)
        return self.attribute_head(pooled.to(self.attribute_head.weight.dtype))

    def forward(
        self,
        pixel_values: torch.Tensor | None = None,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.LongTensor | None = None,
        labels: torch.LongTensor | None = None,
        attribute_targets: torch.Tensor | None = None,
        **kwargs: Any,
    ) -> BlipForConditionalGenerationModelOutput:
        """With ``labels``: the caption loss (BLIP's, computed on the labelled positions only,
        which skips the vocabulary projection of padding and prompt tokens) plus, with
        ``attribute_targets``, ``loss_weight`` times the heads' loss. Without: BLIP's forward."""
        if labels is None:
            return super().forward(
                pixel_values=pixel_values, input_ids=input_ids, attention_mask=attention_mask
            )
        image_embeds = self.vision_model(pixel_values=pixel_values)[0]
        decoder = self.text_decoder
        hidden = decoder.bert(
            input_ids,
            attention_mask=attention_mask,
            encoder_hidden_states=image_embeds,
            is_decoder=True,
        ).last_hidden_state
        targets = labels[:, 1:]
        scored = targets != -100
        logits = decoder.cls(hidden[:, :-1][scored])
        loss = torch.nn.functional.cross_entropy(
            logits.float(), targets[scored], label_smoothing=decoder.label_smoothing
        )
        if attribute_targets is not None:
            heads_loss = torch.nn.functional.binary_cross_entropy_with_logits(
                self.attribute_logits(image_embeds).float(), attribute_targets.float()
            )
            loss = loss + self.heads["loss_weight"] * heads_loss
        return BlipForConditionalGenerationModelOutput(
            loss=loss, image_embeds=image_embeds, last_hidden_state=image_embeds
        )

    def attribute_probabilities(self, image_embeds: torch.Tensor) -> torch.Tensor:
        """The heads' probabilities (batch, attributes) from the encoder's output."""
        return torch.sigmoid(self.attribute_logits(image_embeds).float())

    @torch.no_grad()
    def predict_attributes(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """The heads' probabilities, (batch, attributes), from the images."""
        return self.attribute_probabilities(self.vision_model(pixel_values=pixel_values)[0])

    def prompt_for(self, probabilities: torch.Tensor) -> torch.Tensor:
        """The attribute prompt (batch, attributes) of what the heads predict."""
        settings = self.heads
        rows = [
            prompt_ids(
                decide(row.tolist(), settings["thresholds"]),
                settings["word_ids"],
                settings["filler_id"],
            )
            for row in probabilities
        ]
        return torch.tensor(rows, dtype=torch.long, device=probabilities.device)

    @torch.no_grad()
    def generate(
        self,
        pixel_values: torch.Tensor,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.LongTensor | None = None,
        **generate_kwargs: Any,
    ) -> torch.LongTensor:
        """Caption ``pixel_values``; with the prompt on, from the predicted facts."""
        if not self.heads["prompt"] or input_ids is not None:
            return super().generate(pixel_values, input_ids, attention_mask, **generate_kwargs)
        image_embeds = self.vision_model(pixel_values=pixel_values)[0]
        prompt = self.prompt_for(self.attribute_probabilities(image_embeds))
        start = torch.full_like(prompt[:, :1], self.config.text_config.bos_token_id)
        ids = torch.cat([start, prompt], dim=1)
        text = self.config.text_config
        outputs = self.text_decoder.generate(
            input_ids=ids,
            attention_mask=torch.ones_like(ids),
            eos_token_id=text.sep_token_id,
            pad_token_id=text.pad_token_id,
            encoder_hidden_states=image_embeds,
            encoder_attention_mask=torch.ones(
                image_embeds.shape[:-1], dtype=torch.long, device=image_embeds.device
            ),
            **generate_kwargs,
        )
        return torch.cat([outputs[:, :1], outputs[:, ids.shape[1] :]], dim=1)


def with_attribute_heads(config: BlipConfig, settings: dict[str, Any]) -> BlipConfig:
    """A copy of a BLIP config that builds a ``BlipAttributeCaptioner``."""
    copy = BlipConfig.from_dict(config.to_dict())
    setattr(copy, HEADS_KEY, settings)
    copy.architectures = [BlipAttributeCaptioner.__name__]
    return copy


def base_model(model: torch.nn.Module) -> torch.nn.Module:
    """The model under a LoRA wrapper (or the model itself)."""
    return model.get_base_model() if isinstance(model, PeftModel) else model


def attribute_heads(model: torch.nn.Module) -> BlipAttributeCaptioner | None:
    """The model as a ``BlipAttributeCaptioner`` (LoRA unwrapped), or None without heads."""
    base = base_model(model)
    return base if isinstance(base, BlipAttributeCaptioner) else None


def prompt_settings(model: torch.nn.Module) -> tuple[Sequence[int], int] | None:
    """(word ids, filler id) of the attribute prompt, for ``CaptionCollator``; None when the
    model has no heads or captions without the prompt."""
    heads = attribute_heads(model)
    if heads is None or not heads.heads["prompt"]:
        return None
    return heads.heads["word_ids"], heads.heads["filler_id"]


def set_thresholds(model: torch.nn.Module, rates: Sequence[float]) -> None:
    """Decide deformation and atmosphere at their training rates (``helpers.data.attributes``)."""
    heads = attribute_heads(model)
    if heads is not None:
        heads.heads["thresholds"] = [float(rate) for rate in rates]


__all__ = [
    "BlipAttributeCaptioner",
    "attribute_heads",
    "base_model",
    "heads_settings",
    "prompt_settings",
    "set_thresholds",
    "with_attribute_heads",
]
