"""Load or build captioning models and processors; LoRA, freezing and parameter counts.

``load_captioner(cfg)`` is the one entry point. ``cfg.model_name`` is either

* a Hugging Face Hub id or a local folder (what the ``full`` profile uses): BLIP checkpoints
  load through ``BlipForConditionalGeneration``/``BlipProcessor``, GIT-style ones
  (``microsoft/git-base``) through ``AutoModelForCausalLM``/``AutoProcessor``; the family comes
  from ``config.json``'s ``model_type``. When neither the Hub nor the local cache has the model,
  ``ModelUnavailableError`` says so and names the offline ``demo`` profile: there is never a
  silent fallback to random weights. Other failures say what is wrong instead
  (``helpers.model.load_errors``): a damaged or half-downloaded cached file (named, with the cache
  folder to delete), a folder without safetensors weights, a full disk, a permission problem.
* ``"random:tiny"``, ``"random:small"`` or ``"random:blip-large"``: the real BLIP classes with
  random weights (seeded by ``cfg.seed``) and an offline processor, for the offline profiles and
  for shape, memory and LoRA checks of the true BLIP-large architecture.

The offline tokenizer is BERT's uncased WordPiece vocabulary (the one BLIP uses) plus BLIP's two
extra tokens, ``[DEC]`` (id 30522, the decoder start) and ``[ENC]`` (30523). ``[DEC]`` is also its
sequence-start token, so training inputs begin with ``[DEC]`` exactly as ``generate`` does.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from huggingface_hub import constants, get_hf_file_metadata, hf_hub_url
from huggingface_hub.errors import HfHubHTTPError
from peft import PeftModel
from safetensors import SafetensorError
from transformers import (
    AutoConfig,
    AutoModelForCausalLM,
    AutoProcessor,
    BlipConfig,
    BlipForConditionalGeneration,
    BlipImageProcessorPil,
    BlipProcessor,
    PreTrainedModel,
)

from helpers.config import CaptionConfig, shareable_name
from helpers.data.tokenizer import offline_tokenizer
from helpers.model.attention import use_sdpa
from helpers.model.attributes import (
    HEADS_KEY,
    BlipAttributeCaptioner,
    base_model,
    heads_settings,
    with_attribute_heads,
)
from helpers.model.load_errors import ModelLoadError, explain_load_error

STAND_IN_PREFIX = "random:"
IMAGE_BACKEND = "pil"  # transformers' image processors: "pil" or "torchvision" (not a dependency)
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
}


class ModelUnavailableError(ModelLoadError):
    """The model is neither reachable on the Hugging Face Hub nor in the local cache."""

    def __init__(self, message: str) -> None:
        super().__init__(message, "unavailable")


LOAD_ERRORS = (OSError, HfHubHTTPError, SafetensorError)  # what a failed from_pretrained raises


@dataclass
class Captioner:
    """A captioning model with its processor; ``family`` is "blip" or "git"."""

    model: PreTrainedModel
    processor: Any
    family: str
    source: str


def load_captioner(cfg: CaptionConfig, *, cache_dir: str | Path | None = None) -> Captioner:
    """Load ``cfg.model_name``: a stand-in ("random:..."), a local folder or a Hub id."""
    name = cfg.model_name
    if name.startswith(STAND_IN_PREFIX):
        processor = build_offline_processor(cfg.image_size)
        heads = _heads(cfg, processor)
        model = build_stand_in(
            name, cfg.image_size, seed=cfg.seed, attn=cfg.attn_implementation, heads=heads
        )
        source = f"{name}: BLIP architecture with random weights (seed {cfg.seed}), not pretrained"
        return Captioner(_smoothed(model, cfg), processor, "blip", source)
    folder = Path(name).expanduser()
    if folder.is_dir():
        return _load_local(folder, cfg)
    if name.startswith((".", "/", "~")) or name.count("/") > 1 or "\\" in name:
        raise FileNotFoundError(f"Model folder {name} (cfg.model_name) does not exist.")
    problem = _hub_problem(name)
    options = {"cache_dir": cache_dir, "local_files_only": problem is not None}
    where = "local cache (Hub unreachable)" if problem else "Hugging Face Hub"
    try:
        return _load_pretrained(name, cfg, options, f"{name} from the {where}")
    except LOAD_ERRORS as err:
        specific = explain_load_error(err, name, cache_dir=cache_dir)
        if specific is not None:
            raise specific from err
        reason = problem or _one_line(err)
        raise ModelUnavailableError(
            f"Could not load the model {name!r} from the Hugging Face Hub or the local cache "
            f"({cache_dir or constants.HF_HUB_CACHE}): {reason}. To work offline, use the demo "
            'profile (CAPTION_PROFILE=demo, or load_config("demo")), which builds a small BLIP '
            "with random weights and trains it on synthetic data."
        ) from err


def _load_local(folder: Path, cfg: CaptionConfig) -> Captioner:
    """Load a model folder, saying what is wrong with it when it cannot load."""
    if not (folder / "config.json").is_file():
        raise FileNotFoundError(f"{folder} is not a model folder: it has no config.json.")
    try:
        return _load_pretrained(str(folder), cfg, {}, f"local folder {shareable_name(folder)}")
    except LOAD_ERRORS as err:
        specific = explain_load_error(err, str(folder))
        if specific is None:
            raise
        raise specific from err


def _load_pretrained(name: str, cfg: CaptionConfig, options: dict, source: str) -> Captioner:
    config = AutoConfig.from_pretrained(name, trust_remote_code=False, **options)
    common = dict(options, trust_remote_code=False)
    # PIL preprocessing whether torchvision is installed or not: the same pixels everywhere
    # (the two backends differ by up to 2/255; bench/results/image_backend.json)
    processing = dict(common, backend=IMAGE_BACKEND)
    weights = dict(common, use_safetensors=True, attn_implementation=cfg.attn_implementation)
    if config.model_type == "blip":
        weights["attn_implementation"] = _blip_attn(cfg.attn_implementation)
        processor = BlipProcessor.from_pretrained(name, **processing)
        heads = getattr(config, HEADS_KEY, None) or _heads(cfg, processor)
        if heads:  # a fine-tuned model keeps its heads; a pretrained one gets new ones
            config = with_attribute_heads(config, heads)
            model = BlipAttributeCaptioner.from_pretrained(name, config=config, **weights)
        else:
            model = BlipForConditionalGeneration.from_pretrained(name, **weights)
        if cfg.attn_implementation == "sdpa":
            use_sdpa(model)
        return Captioner(_smoothed(model, cfg), processor, "blip", source)
    if config.model_type == "git":
        model = AutoModelForCausalLM.from_pretrained(name, **weights)
        return Captioner(model, AutoProcessor.from_pretrained(name, **processing), "git", source)
    raise ValueError(
        f"{name}: model_type {config.model_type!r} in its config.json is not supported; "
        "use a BLIP ('blip') or GIT ('git') captioning checkpoint."
    )


def _hub_problem(repo_id: str) -> str | None:
    """None when the Hub answers for ``repo_id``, else why not (one line). One quick request,
    no retries, so an unreachable Hub is reported in about a second, not after minutes."""
    try:
        get_hf_file_metadata(hf_hub_url(repo_id, "config.json"), timeout=10)
    except Exception as err:  # any failure (offline mode, network, 404) means: local cache only
        return _one_line(err)
    return None


def _one_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0] if text else 'no details'}"


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


def _smoothed(model: BlipForConditionalGeneration, cfg: CaptionConfig) -> PreTrainedModel:
    """Set the caption loss's label smoothing to ``cfg.label_smoothing`` (saved in the config)."""
    model.config.text_config.label_smoothing = cfg.label_smoothing
    model.text_decoder.label_smoothing = cfg.label_smoothing
    return model


def _heads(cfg: CaptionConfig, processor: Any) -> dict[str, Any] | None:
    """The attribute-head settings ``cfg`` asks for (None: no heads)."""
    if not (cfg.attribute_heads or cfg.attribute_prompt):
        return None
    return heads_settings(
        processor.tokenizer, prompt=cfg.attribute_prompt, loss_weight=cfg.attribute_loss_weight
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
        model = model_class._from_config(config, attn_implementation=_blip_attn(attn))
    if attn == "sdpa":
        use_sdpa(model)
    return model


def _blip_attn(attn: str) -> str:
    """transformers' BLIP refuses "sdpa": load it eager, then ``use_sdpa`` patches it in."""
    return "eager" if attn == "sdpa" else attn


def vision_encoder(model: PreTrainedModel | PeftModel) -> torch.nn.Module:
    """The image encoder: BLIP's ``vision_model`` or GIT's ``git.image_encoder``."""
    git = getattr(model, "git", None)
    encoder = getattr(model, "vision_model", None) or getattr(git, "image_encoder", None)
    if encoder is None:
        raise ValueError(f"{type(model).__name__} has no known vision encoder.")
    return encoder


def freeze_vision_encoder(model: PreTrainedModel) -> int:
    """Freeze the image encoder (BLIP ``vision_model``, GIT ``git.image_encoder``); return how
    many parameters were frozen."""
    encoder = vision_encoder(model)
    encoder.requires_grad_(False)
    return sum(p.numel() for p in encoder.parameters())


def enable_gradient_checkpointing(model: PreTrainedModel | PeftModel) -> None:
    """Recompute activations in the backward pass: less memory, about 30% more compute.
    Non-reentrant checkpointing also works when the inputs need no gradient (LoRA)."""
    options = {"use_reentrant": False}
    enable = getattr(model, "activation_checkpointing_enable", None)  # newer transformers 5.x
    if enable is None:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs=options)
    else:
        enable(options)


def decoder_start_token_id(model: torch.nn.Module) -> int | None:
    """The token BLIP's ``generate`` starts captions from (``[DEC]``), for ``CaptionCollator``;
    None for other families (GIT starts from its tokenizer's own ``[CLS]``)."""
    base = base_model(model)
    config = base.config
    if getattr(config, "model_type", None) == "blip":
        return config.text_config.bos_token_id
    return None


def count_parameters(model: torch.nn.Module) -> tuple[int, int]:
    """``(trainable, total)``; shared (tied) tensors count once."""
    params = list(model.parameters())
    return sum(p.numel() for p in params if p.requires_grad), sum(p.numel() for p in params)


def describe_model(model: torch.nn.Module) -> str:
    """One line, e.g. ``BlipForConditionalGeneration with LoRA: 446,904,892 parameters,
    614,400 trainable (0.137%)``."""
    trainable, total = count_parameters(model)
    name = type(base_model(model)).__name__
    lora = " with LoRA" if isinstance(model, PeftModel) else ""
    share = 100 * trainable / max(total, 1)
    return f"{name}{lora}: {total:,} parameters, {trainable:,} trainable ({share:.3g}%)"


__all__ = [
    "STAND_INS",
    "Captioner",
    "decoder_start_token_id",
    "ModelUnavailableError",
    "build_offline_processor",
    "build_stand_in",
    "count_parameters",
    "describe_model",
    "enable_gradient_checkpointing",
    "freeze_vision_encoder",
    "load_captioner",
    "stand_in_config",
    "vision_encoder",
]
