"""Where does the model look? Grounding maps of BLIP's captions over the image patches.

:func:`explain_captions` captions images with the configured decoding (exactly the captions of
``helpers.eval.inference.caption_images``) and runs one extra, teacher-forced pass of the text
decoder over the generated tokens that returns its attention weights. BLIP's text decoder computes
its attention eagerly in every configuration (``helpers.model.attention`` only fuses the vision
encoder), so the weights are always available. Works for full and LoRA-wrapped (PEFT) BLIP models;
GIT-style models are left out (their image tokens sit inside the text sequence's
self-attention, with no separate cross-attention to read) and raise a clear error.

Aggregation: **attention rollout** (Abnar & Zuidema 2020, "Quantifying Attention Flow in
Transformers") carried through the decoder's cross-attention, the gradient-free form of the
encoder-decoder propagation of Chefer et al. 2021 ("Generic Attention-model Explainability for
Interpreting Bi-Modal and Encoder-Decoder Transformers"): heads averaged, not gradient-weighted.
Each decoder position keeps a relevance row over the caption tokens and the image tokens,
starting from itself. Per layer, the self-attention (with its residual, as rollout counts it:
half identity, half head-mean attention) mixes the rows of the positions it reads, then the
cross-attention (again half residual, half head-mean attention over the image tokens) adds the
image tokens the position reads. Rows stay distributions throughout, so a position's image part
says how much of its state comes from which patch, earlier layers included (the image part's
total is fixed by the residual weights, 1 - 2^-layers, so only its split over patches carries
information; later layers weigh more, as rollout's residual weighting implies).

Why this one: it needs no gradients, so every token of every caption in a batch gets its map
from the one extra forward pass (gradient weighting needs a backward pass per token or
phrase), and unlike the last layer's raw attention it counts what a position learnt through
the earlier tokens it attends to.

The map of generated token ``j`` is the row of the position that predicted it (``j - 1``).
The vision encoder's output at patch ``k`` is taken to stand for patch ``k`` (its own mixing is
not rolled out); BLIP's image tokens are a CLS token (index 0, dropped at the end) and an
``image_size / patch_size`` square grid of patches, row by row. A phrase map is the mean of its
tokens' maps; a phrase is the tokens of the mentions the domain check reads as stated
(``helpers.eval.domain_facts.mention_spans``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from helpers.config import CaptionConfig
from helpers.data.detokenize import clean_caption, clean_offset, removed_spaces
from helpers.device import DeviceChoice
from helpers.eval.domain_facts import (
    ACTIVITY_TYPES,
    ATMOSPHERIC,
    DEFORMATION,
    MentionSpan,
    mention_spans,
)
from helpers.eval.inference import (
    ImageInput,
    autocast_for,
    generation_kwargs,
    image_list,
    pixel_values,
)
from helpers.model.attributes import base_model, prompt_settings
from helpers.oom import map_in_halving_batches

# phrase kind -> the mention topics whose stated tokens make it up. A named activity type also
# states deformation (as in the domain check), so it belongs to the deformation phrase too.
PHRASES: dict[str, frozenset[str]] = {
    "deformation": frozenset({DEFORMATION, *ACTIVITY_TYPES}),
    "activity": frozenset(ACTIVITY_TYPES),
    "atmospheric": frozenset({ATMOSPHERIC}),
}


@dataclass(frozen=True)
class Explanation:
    """One caption with a grounding map per generated token (special tokens left out).

    ``token_maps[i]`` is a ``grid x grid`` distribution over the image patches (sums to 1) for
    ``tokens[i]``, which spans ``caption[start:end]`` with ``(start, end) = token_spans[i]``.
    ``frame_size`` is the side of the processor's square frame the patches tile."""

    caption: str
    tokens: tuple[str, ...]
    token_spans: tuple[tuple[int, int], ...]
    token_maps: np.ndarray
    mentions: tuple[MentionSpan, ...]
    frame_size: int

    @property
    def grid(self) -> int:
        return int(self.token_maps.shape[-1])

    def phrase_tokens(self, kind: str) -> list[int]:
        """Indices of the tokens overlapping a stated mention of phrase ``kind`` (``PHRASES``)."""
        topics = PHRASES[kind]
        spans = [(m.start, m.end) for m in self.mentions if m.stated and m.topic in topics]
        return [
            i
            for i, (start, end) in enumerate(self.token_spans)
            if any(start < m_end and m_start < end for m_start, m_end in spans)
        ]

    def phrase_map(self, kind: str) -> np.ndarray | None:
        """The mean map of the phrase's tokens, or None when the caption has no such phrase."""
        tokens = self.phrase_tokens(kind)
        return self.token_maps[tokens].mean(axis=0) if tokens else None

    def caption_map(self) -> np.ndarray:
        """The mean map of every token of the caption (a uniform map for an empty caption)."""
        if len(self.tokens):
            return self.token_maps.mean(axis=0)
        return np.full((self.grid, self.grid), 1.0 / self.grid**2)


def rollout(
    self_attentions: Sequence[torch.Tensor], cross_attentions: Sequence[torch.Tensor]
) -> torch.Tensor:
    """Roll attention out through a decoder (see the module docstring).

    ``self_attentions[l]``: ``(batch, heads, T, T)``; ``cross_attentions[l]``:
    ``(batch, heads, T, 1 + P)`` (CLS first), one per layer in order. Returns the patch maps
    ``(batch, T, P)``: each row sums to 1 (CLS dropped)."""
    if len(self_attentions) != len(cross_attentions) or not self_attentions:
        raise ValueError("need one self- and one cross-attention tensor per decoder layer")
    first = self_attentions[0]
    batch, _, length, _ = first.shape
    eye = torch.eye(length, dtype=torch.float32, device=first.device).expand(batch, -1, -1)
    # the image part of each position's relevance row; the caption-token part is the rest of
    # the row and never flows into the image part, so it need not be tracked
    image = torch.zeros(
        (batch, length, cross_attentions[0].shape[-1]), dtype=torch.float32, device=first.device
    )
    for mixing, reading in zip(self_attentions, cross_attentions, strict=True):
        image = 0.5 * (eye + mixing.float().mean(dim=1)) @ image
        image = 0.5 * image + 0.5 * reading.float().mean(dim=1)
    patches = image[..., 1:]
    return patches / patches.sum(dim=-1, keepdim=True).clamp_min(1e-12)


def token_spans(processor: Any, token_ids: Sequence[int]) -> tuple[str, list[tuple[int, int]]]:
    """The caption as ``caption_images`` writes it (decoded, then ``clean_caption``) and each
    token's character span in it, by decoding growing prefixes (works with any tokenizer's
    clean-up rules; "##" pieces span only their own letters)."""
    text = processor.decode(list(token_ids), skip_special_tokens=True)
    spans, previous = [], ""
    for count in range(1, len(token_ids) + 1):
        prefix = processor.decode(list(token_ids[:count]), skip_special_tokens=True)
        added = prefix[len(previous) :]
        start = len(prefix) - len(added.lstrip())  # the space before a word is not the word's
        spans.append((start, len(prefix)))
        previous = prefix
    removed = removed_spaces(text)
    caption = clean_caption(text)
    spans = [(clean_offset(removed, s), clean_offset(removed, e)) for s, e in spans]
    return caption, [(min(s, len(caption)), min(e, len(caption))) for s, e in spans]


def _blip(model: torch.nn.Module) -> torch.nn.Module:
    base = base_model(model)
    if getattr(base.config, "model_type", None) != "blip":
        raise ValueError(
            f"Grounding maps need a BLIP captioner (got {type(base).__name__}): they read BLIP's "
            "cross-attention over its image patches. GIT has none, and Florence-2's encoder "
            "mixes the image tokens with its task prompt first, so neither is supported."
        )
    return base


def _decoder_attentions(
    base: torch.nn.Module, pixel_values: torch.Tensor, ids: torch.Tensor, stop_id: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Teacher-forced pass over generated ``ids``: (patch maps, attention mask). A model that
    captions from an attribute prompt (``helpers.model.attributes``) gets its prompt back in
    the pass, and the rows of the prompt positions are dropped again, so row ``j`` still
    predicts caption token ``j + 1``."""
    after_stop = (ids == stop_id).long().cumsum(dim=1) - (ids == stop_id).long()
    mask = (after_stop == 0).long()  # every position up to and including the first [SEP]
    image_embeds = base.vision_model(pixel_values=pixel_values)[0]
    width = 0
    if prompt_settings(base) is not None:
        prompt = base.prompt_for(base.attribute_probabilities(image_embeds))
        width = prompt.shape[1]
        ids = torch.cat([ids[:, :1], prompt, ids[:, 1:]], dim=1)
        mask = torch.cat([mask[:, :1], torch.ones_like(prompt), mask[:, 1:]], dim=1)
    out = base.text_decoder(
        input_ids=ids,
        attention_mask=mask,
        encoder_hidden_states=image_embeds,
        output_attentions=True,
        return_dict=True,
    )
    return rollout(out.attentions, out.cross_attentions)[:, width:], mask[:, width:]


@torch.no_grad()
def explain_captions(
    model: torch.nn.Module,
    processor: Any,
    images: Sequence[ImageInput] | Path,
    cfg: CaptionConfig,
    device: DeviceChoice,
    *,
    batch_size: int | None = None,
    progress: bool = True,
) -> list[Explanation]:
    """Caption images (batched, ``cfg``'s decoding) and map every generated token to the image.

    One ``generate`` plus one teacher-forced forward pass per batch; the captions are the ones
    ``caption_images`` gives with the same settings (and, like it, a batch that runs out of
    device memory is retried at half the size)."""
    base = _blip(model)
    special = set(processor.tokenizer.all_special_ids)
    stop_id = base.config.text_config.sep_token_id
    model.to(device.torch_device).eval()
    kwargs = generation_kwargs(cfg)

    def explain_batch(batch: Sequence[ImageInput]) -> list[Explanation]:
        pixels = pixel_values(processor, batch, device)
        with autocast_for(device):
            ids = model.generate(pixel_values=pixels, **kwargs)
            maps, mask = _decoder_attentions(base, pixels, ids, stop_id)
        grid = int(round(maps.shape[-1] ** 0.5))
        return [
            _explanation(
                processor,
                ids[row].tolist(),
                mask[row].tolist(),
                maps[row].reshape(-1, grid, grid).cpu().numpy(),
                special,
                int(pixels.shape[-1]),
            )
            for row in range(len(batch))
        ]

    return map_in_halving_batches(
        explain_batch,
        image_list(images),
        cfg.eval_batch_size if batch_size is None else batch_size,
        device.device,
        desc="explaining",
        progress=progress,
        unit="img",
    )


def _explanation(
    processor: Any,
    ids: list[int],
    mask: list[int],
    maps: np.ndarray,
    special: set[int],
    frame_size: int,
) -> Explanation:
    # token at position j was predicted by position j - 1: its map is row j - 1
    kept = [j for j in range(1, len(ids)) if mask[j] and ids[j] not in special]
    caption, spans = token_spans(processor, [ids[j] for j in kept])
    rows = [j - 1 for j in kept]
    return Explanation(
        caption=caption,
        tokens=tuple(processor.tokenizer.convert_ids_to_tokens([ids[j] for j in kept])),
        token_spans=tuple(spans),
        token_maps=maps[rows].astype(np.float64),
        mentions=tuple(mention_spans(caption)),
        frame_size=frame_size,
    )


def explain_caption(
    model: torch.nn.Module,
    processor: Any,
    image: ImageInput,
    cfg: CaptionConfig,
    device: DeviceChoice,
) -> Explanation:
    """One image's caption with its grounding maps."""
    return explain_captions(model, processor, [image], cfg, device, batch_size=1, progress=False)[0]


def upsample(grid_map: np.ndarray, size: int) -> np.ndarray:
    """A patch-grid map resampled bilinearly to ``size x size`` pixels, summing to 1 (for
    display; the pointing score reads the patch grid itself)."""
    tensor = torch.as_tensor(np.asarray(grid_map, dtype=np.float64))[None, None]
    image = torch.nn.functional.interpolate(
        tensor, size=(size, size), mode="bilinear", align_corners=False
    )[0, 0].numpy()
    return image / image.sum()


__all__ = [
    "PHRASES",
    "Explanation",
    "explain_caption",
    "explain_captions",
    "rollout",
    "token_spans",
    "upsample",
]
