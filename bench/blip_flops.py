"""Model FLOPs of one BLIP training step, counted from the architecture (for MFU).

Counted: every matrix multiplication of the forward pass, 2 FLOPs per multiply-add (patch
embedding, q/k/v/output projections, attention scores and their weighted sum over all token
pairs, the MLPs, the decoder's cross-attention to the image tokens, the LM head's transform and
its vocabulary projection), as the MFU convention of Chowdhery et al. 2022 (PaLM, appendix B)
does: the work the model needs, not what the implementation spends. Not counted: softmax,
LayerNorm, GELU, the loss, the optimizer, LoRA's rank-8 adapters (under 1% of a LoRA step in
the test) and recomputation under gradient checkpointing (hardware FLOPs, not model FLOPs).

The backward pass costs twice a forward pass where the weights train (gradients for the inputs
and for the weights), once where they are frozen but gradients flow through (LoRA's decoder),
and nothing where no gradient flows (a frozen or LoRA-untouched image encoder); the patch
embedding needs no gradient for the pixels, nor the cross-attention's key and value projections
for frozen image features. Where a cache supplies the image features, the encoder does not run
at all. tests/test_bench.py checks the count against ``torch.utils.flop_counter.FlopCounterMode``
on a small BLIP (exact without LoRA).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


def _linear(tokens: int, d_in: int, d_out: int) -> int:
    return 2 * tokens * d_in * d_out


def _attention(queries: int, keys: int, width: int) -> int:
    """Scores (q k^T) and the weighted sum of the values, all heads together."""
    return 2 * 2 * queries * keys * width


def _mlp(tokens: int, width: int, inner: int) -> int:
    return 2 * _linear(tokens, width, inner)


def patch_embedding_flops(vision: Any) -> int:
    """One image's patch embedding (a strided convolution, a matrix product per patch)."""
    patches = (vision.image_size // vision.patch_size) ** 2
    return _linear(patches, 3 * vision.patch_size**2, vision.hidden_size)


def vision_layers_flops(vision: Any) -> int:
    """One image through the ViT's encoder layers (the class token included)."""
    s, h = (vision.image_size // vision.patch_size) ** 2 + 1, vision.hidden_size
    layer = 4 * _linear(s, h, h) + _attention(s, s, h) + _mlp(s, h, vision.intermediate_size)
    return vision.num_hidden_layers * layer


def cross_attention_kv_flops(text: Any, image_tokens: int) -> int:
    """The decoder's key and value projections of the image features, all layers: their
    backward pass depends on what trains on both sides, so they are counted apart."""
    return (
        text.num_hidden_layers
        * 2
        * _linear(image_tokens, text.encoder_hidden_size, text.hidden_size)
    )


def text_forward_flops(text: Any, caption_tokens: int, image_tokens: int) -> int:
    """One caption of ``caption_tokens`` through BLIP's decoder, cross-attending to
    ``image_tokens`` image features, and its LM head; without ``cross_attention_kv_flops``."""
    s, h = caption_tokens, text.hidden_size
    self_attention = 4 * _linear(s, h, h) + _attention(s, s, h)
    cross = 2 * _linear(s, h, h) + _attention(s, image_tokens, h)
    layer = self_attention + cross + _mlp(s, h, text.intermediate_size)
    head = _linear(s, h, h) + _linear(s, h, text.vocab_size)
    return text.num_hidden_layers * layer + head


@dataclass(frozen=True)
class StepFlops:
    """FLOPs of one training step, per part."""

    vision: int
    text: int

    @property
    def total(self) -> int:
        return self.vision + self.text


def training_step_flops(
    config: Any,
    batch_size: int,
    caption_tokens: int,
    *,
    vision_trains: bool,
    vision_runs: bool = True,
    text_weights_train: bool = True,
) -> StepFlops:
    """Model FLOPs of one forward + backward pass of a BLIP captioner (see module docstring).
    ``vision_runs=False``: cached image features; ``text_weights_train=False``: LoRA."""
    vision = config.vision_config
    image_tokens = (vision.image_size // vision.patch_size) ** 2 + 1
    text = config.text_config
    vision_factor = (3 if vision_trains else 1) if vision_runs else 0
    embed_factor = (2 if vision_trains else 1) if vision_runs else 0  # pixels need no gradient
    # backward: input gradients everywhere in the decoder, weight gradients where weights train
    text_factor = 3 if text_weights_train else 2
    # the image side: weight gradients if the decoder trains, input gradients if the encoder does
    kv_factor = 1 + text_weights_train + (vision_trains and vision_runs)
    return StepFlops(
        vision=batch_size
        * (
            vision_factor * vision_layers_flops(vision)
            + embed_factor * patch_embedding_flops(vision)
        ),
        text=batch_size
        * (
            text_factor * text_forward_flops(text, caption_tokens, image_tokens)
            + kv_factor * cross_attention_kv_flops(text, image_tokens)
        ),
    )


def lever_step_flops(
    config: Any, batch_size: int, caption_tokens: int, levers: tuple[str, ...]
) -> StepFlops:
    """``training_step_flops`` for a benchmark row's levers (names as in ``train_step.ROWS``)."""
    frozen_encoder = "frozen" in levers or "lora" in levers  # LoRA adapts the decoder only
    return training_step_flops(
        config,
        batch_size,
        caption_tokens,
        vision_trains=not frozen_encoder,
        vision_runs="cache" not in levers,
        text_weights_train="lora" not in levers,
    )
