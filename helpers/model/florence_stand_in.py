"""Florence-2 stand-ins: the native class with random weights and a processor built offline.

* ``random:florence-tiny``: a few thousand parameters per layer, for the offline tests and the
  smoke notebooks; ``random:florence-small``: about the size of BLIP's ``random:small``, for the
  demo's side-by-side comparison (notebook 08);
* ``random:florence-base`` / ``random:florence-large``: the architectures of
  ``florence-community/Florence-2-base`` (0.23 B parameters) and ``-large`` (0.77 B), for the
  memory and speed benchmarks (``bench/train_step.py``).

Florence-2's tokenizer is BART's byte-level BPE plus 1,024 added tokens (``<od>``, ``</od>``,
``<ocr>``, ``</ocr>``, the 1,000 location tokens ``<loc_0>`` ... ``<loc_999>`` and 20 region and
caption markers) and ``<image>`` last. The stand-in's BPE vocabulary is learned offline from
synthetic captions (seeded: the same every time), with BART's four special tokens at ids 0-3 and
the same added tokens in the same order. Images are resized to ``image_size`` (768 px in the real
checkpoints) and normalised with ImageNet's mean and standard deviation, as the real processor
does; the encoder reads ``(image_size / 32)**2 + 1`` image tokens.
"""

from __future__ import annotations

import json
from functools import cache

import torch
from tokenizers import ByteLevelBPETokenizer
from transformers import (
    BartTokenizer,
    CLIPImageProcessorPil,
    Florence2Config,
    Florence2ForConditionalGeneration,
    Florence2Processor,
)

from helpers.data.synthetic.dataset import MIN_IMAGE_SIZE, generate_samples
from helpers.model.florence import DEFAULT_TASK, PIXELS_PER_TOKEN, set_caption_task

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
BART_SPECIALS = ("<s>", "<pad>", "</s>", "<unk>")  # ids 0-3, as in BART
REGION_TOKENS = (
    *("<cap>", "</cap>", "<ncap>", "</ncap>", "<dcap>", "</dcap>", "<grounding>", "</grounding>"),
    *("<seg>", "</seg>", "<sep>", "<region_cap>", "</region_cap>", "<region_to_desciption>"),
    *("</region_to_desciption>", "<proposal>", "</proposal>", "<poly>", "</poly>", "<and>"),
)
ADDED_TOKENS = (
    "<od>",
    "</od>",
    "<ocr>",
    "</ocr>",
    *(f"<loc_{i}>" for i in range(1000)),
    *REGION_TOKENS,
)
IMAGE_TOKEN = "<image>"
REAL_ARCHITECTURES = ("random:florence-base", "random:florence-large")
REAL_VOCABULARY = 51290
TOKENIZER_CAPTIONS = 400  # synthetic captions the stand-in's BPE is learned from (seed 0)
BPE_VOCABULARY = 2000  # at most; the captions' small vocabulary gives fewer


def _stage(dims: tuple[int, ...], heads: tuple[int, ...], depths: tuple[int, ...]) -> dict:
    return {"embed_dim": list(dims), "num_heads": list(heads), "num_groups": list(heads),
            "depths": list(depths)}  # fmt: skip


def _bart(width: int, layers: int, heads: int, ffn: int) -> dict:
    return {
        "d_model": width,
        "encoder_layers": layers,
        "decoder_layers": layers,
        "encoder_attention_heads": heads,
        "decoder_attention_heads": heads,
        "encoder_ffn_dim": ffn,
        "decoder_ffn_dim": ffn,
    }


# name -> (vision tower, projection width = text width, text model, drop path rate)
FLORENCE_STAND_INS: dict[str, tuple[dict, dict, float]] = {
    "random:florence-tiny": (
        _stage((16, 32, 48, 64), (1, 2, 3, 4), (1, 1, 1, 1)),
        _bart(32, 1, 2, 64),
        0.0,
    ),
    "random:florence-small": (  # about the size of BLIP's random:small, for the demo
        _stage((32, 64, 128, 256), (1, 2, 4, 8), (1, 1, 2, 1)),
        _bart(256, 4, 4, 1024),
        0.0,
    ),
    "random:florence-base": (
        _stage((128, 256, 512, 1024), (4, 8, 16, 32), (1, 1, 9, 1)),
        _bart(768, 6, 12, 3072),
        0.1,
    ),
    "random:florence-large": (
        _stage((256, 512, 1024, 2048), (8, 16, 32, 64), (1, 1, 9, 1)),
        _bart(1024, 12, 16, 4096),
        0.1,
    ),
}


@cache
def _bpe() -> tuple[dict[str, int], tuple[tuple[str, str], ...]]:
    """The stand-in BPE's vocabulary and merges, learned from seeded synthetic captions."""
    captions = [
        sample.annotation["caption"]
        for sample in generate_samples(TOKENIZER_CAPTIONS, seed=0, image_size=MIN_IMAGE_SIZE)
    ]
    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(
        captions, vocab_size=BPE_VOCABULARY, special_tokens=list(BART_SPECIALS), show_progress=False
    )
    model = json.loads(bpe.to_str())["model"]
    merges = tuple(tuple(m.split(" ") if isinstance(m, str) else m) for m in model["merges"])
    return model["vocab"], merges


def offline_florence_tokenizer() -> BartTokenizer:
    """Florence-2's tokenizer layout (module docstring) on a BPE learned offline."""
    vocab, merges = _bpe()
    vocab = dict(vocab)
    for token in ("<mask>", *ADDED_TOKENS, IMAGE_TOKEN):
        vocab[token] = len(vocab)
    tokenizer = BartTokenizer(
        vocab=vocab, merges=list(merges), extra_special_tokens={"image_token": IMAGE_TOKEN}
    )
    tokenizer.add_tokens(list(ADDED_TOKENS))  # already in the vocabulary: their ids stay
    return tokenizer


def build_offline_florence_processor(image_size: int) -> Florence2Processor:
    """Florence-2's processor rebuilt offline at ``image_size`` px (a multiple of 32)."""
    if image_size % PIXELS_PER_TOKEN:
        raise ValueError(
            f"image_size={image_size}: Florence-2 needs a multiple of {PIXELS_PER_TOKEN} px."
        )
    images = CLIPImageProcessorPil(
        size={"height": image_size, "width": image_size},
        do_center_crop=False,
        resample=3,  # bicubic
        image_mean=list(IMAGENET_MEAN),
        image_std=list(IMAGENET_STD),
    )
    images.image_seq_length = (image_size // PIXELS_PER_TOKEN) ** 2 + 1
    return Florence2Processor(image_processor=images, tokenizer=offline_florence_tokenizer())


def florence_stand_in_config(name: str, tokenizer: BartTokenizer) -> Florence2Config:
    """The ``Florence2Config`` of a stand-in, its token ids those of ``tokenizer``."""
    if name not in FLORENCE_STAND_INS:
        choices = ", ".join(FLORENCE_STAND_INS)
        raise ValueError(f"Unknown Florence-2 stand-in {name!r}; choose one of {choices}.")
    vision, text, drop_path = FLORENCE_STAND_INS[name]
    ids = {"pad_token_id": 1, "bos_token_id": 0, "eos_token_id": 2}
    return Florence2Config(
        vision_config=dict(
            vision, projection_dim=text["d_model"], window_size=12, drop_path_rate=drop_path
        ),
        text_config=dict(
            text,
            model_type="bart",
            # the real architectures' embeddings: the real tokenizer's 51,289 tokens and <image>
            vocab_size=REAL_VOCABULARY if name in REAL_ARCHITECTURES else len(tokenizer),
            max_position_embeddings=1024,
            decoder_start_token_id=2,
            forced_eos_token_id=2,
            **ids,
        ),
        image_token_id=tokenizer.image_token_id,
    )


def build_florence_stand_in(
    name: str,
    processor: Florence2Processor,
    *,
    seed: int = 0,
    task: str = DEFAULT_TASK,
    attn: str = "eager",
) -> Florence2ForConditionalGeneration:
    """A Florence-2 captioner with random weights; the same ``seed`` gives the same weights."""
    config = florence_stand_in_config(name, processor.tokenizer)
    with torch.random.fork_rng(devices=[]):  # leave the caller's random state alone
        torch.manual_seed(seed)
        model = Florence2ForConditionalGeneration._from_config(config, attn_implementation=attn)
    set_caption_task(model, task)
    return model


__all__ = [
    "FLORENCE_STAND_INS",
    "build_florence_stand_in",
    "build_offline_florence_processor",
    "florence_stand_in_config",
    "offline_florence_tokenizer",
]
