"""BLIP stand-ins: the real BLIP classes with random weights and BLIP's processor built offline.

``"random:tiny"`` and ``"random:small"`` run the offline profiles; ``"random:blip-large"`` is the
architecture of ``Salesforce/blip-image-captioning-large`` for shape, memory and LoRA checks.
The offline tokenizer is BERT's uncased WordPiece vocabulary (the one BLIP uses) plus BLIP's two
extra tokens, ``[DEC]`` (id 30522, the decoder start) and ``[ENC]`` (30523). ``[DEC]`` is also its
sequence-start token, so training inputs begin with ``[DEC]`` exactly as ``generate`` does.
"""

from __future__ import annotations

from typing import Any

import torch
from transformers import (
    BlipConfig,
    BlipForConditionalGeneration,
    BlipImageProcessorPil,
    BlipProcessor,
)

from helpers.data.tokenizer import offline_tokenizer
from helpers.model.attention import loadable_attn, use_sdpa
from helpers.model.attributes import BlipAttributeCaptioner, with_attribute_heads

# BLIP's image normalisation (the same as CLIP's)
BLIP_IMAGE_MEAN = (0.48145466, 0.4578275, 0.40821073)
BLIP_IMAGE_STD = (0.26862954, 0.26130258, 0.27577711)


def _tower(hidden: int, layers: int, heads: int, mlp: int) -> dict[str, int]:
    return {
        "hidden_size": hidden,
        "num_hidden_layers": layers,
        "num_attention_heads": heads,
        "intermediate_size": mlp,
    }


# name -> (vision tower, text decoder, patch size). "random:blip-large" is the architecture of
# Salesforce/blip-image-captioning-large: ViT-L/16 at 384 px and a BERT-base sized decoder.
STAND_INS: dict[str, tuple[dict[str, int], dict[str, int], int]] = {
    "random:tiny": (_tower(32, 2, 2, 64), _tower(32, 2, 2, 64), 8),
    "random:small": (_tower(256, 4, 4, 1024), _tower(256, 4, 4, 1024), 16),
    "random:blip-large": (_tower(1024, 24, 16, 4096), _tower(768, 12, 12, 3072), 16),
    # Salesforce/blip-image-captioning-base: ViT-B/16 at 384 px, the same decoder
    "random:blip-base": (_tower(768, 12, 12, 3072), _tower(768, 12, 12, 3072), 16),
}


def build_offline_processor(image_size: int) -> BlipProcessor:
    """BLIP's processor rebuilt offline: BLIP image preprocessing at ``image_size`` px and BLIP's
    tokenizer (``helpers.data.tokenizer.offline_tokenizer``)."""
    image_processor = BlipImageProcessorPil(
        size={"height": image_size, "width": image_size},
        image_mean=list(BLIP_IMAGE_MEAN),
        image_std=list(BLIP_IMAGE_STD),
    )
    return BlipProcessor(image_processor=image_processor, tokenizer=offline_tokenizer())


def stand_in_config(name: str, image_size: int) -> BlipConfig:
    """The ``BlipConfig`` of a stand-in; token ids match ``build_offline_processor``."""
    if name not in STAND_INS:
        raise ValueError(f"Unknown stand-in model {name!r}; choose one of {', '.join(STAND_INS)}.")
    vision, text, patch = STAND_INS[name]
    if image_size % patch:
        raise ValueError(
            f"image_size={image_size} is not a multiple of the patch size {patch} of {name}."
        )
    return BlipConfig(
        vision_config=dict(vision, image_size=image_size, patch_size=patch, initializer_range=0.02),
        text_config=dict(
            text, vocab_size=30524, bos_token_id=30522, sep_token_id=102, pad_token_id=0
        ),
    )


def build_stand_in(
    name: str,
    image_size: int,
    *,
    seed: int = 0,
    attn: str = "eager",
    heads: dict[str, Any] | None = None,
) -> BlipForConditionalGeneration:
    """A BLIP captioner with random weights; the same ``seed`` gives the same weights. With
    ``heads`` (``helpers.model.attributes.heads_settings``), a ``BlipAttributeCaptioner``."""
    config = stand_in_config(name, image_size)
    model_class = BlipForConditionalGeneration
    if heads:
        config, model_class = with_attribute_heads(config, heads), BlipAttributeCaptioner
    with torch.random.fork_rng(devices=[]):  # leave the caller's random state alone
        torch.manual_seed(seed)
        model = model_class._from_config(config, attn_implementation=blip_attn(attn))
    if attn == "sdpa":
        use_sdpa(model)
    return model


def blip_attn(attn: str) -> str:
    """transformers' BLIP refuses "sdpa": load it eager, then ``use_sdpa`` patches it in."""
    return loadable_attn(BlipForConditionalGeneration, attn)


__all__ = [
    "BLIP_IMAGE_MEAN",
    "BLIP_IMAGE_STD",
    "STAND_INS",
    "blip_attn",
    "build_offline_processor",
    "build_stand_in",
    "stand_in_config",
]
