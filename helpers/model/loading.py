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
  for shape, memory and LoRA checks of the true BLIP-large architecture
  (``helpers.model.blip_stand_in``);
  ``"random:florence-tiny"``, ``-base``, ``-large``: the same for Florence-2
  (``helpers.model.florence_stand_in``).

Florence-2 checkpoints (``model_type`` "florence2", e.g. ``florence-community/Florence-2-base``)
load through transformers' native classes (``helpers.model.florence``); checkpoints that need
``trust_remote_code`` (``microsoft/Florence-2-*``) are refused with the native id.
"""

from __future__ import annotations

import logging
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
    BlipForConditionalGeneration,
    BlipProcessor,
    GitForCausalLM,
    PreTrainedModel,
)

from helpers.config import CaptionConfig, shareable_name
from helpers.model.attention import loadable_attn, use_sdpa
from helpers.model.attributes import (
    HEADS_KEY,
    BlipAttributeCaptioner,
    base_model,
    heads_settings,
    with_attribute_heads,
)
from helpers.model.blip_stand_in import (
    STAND_INS,
    blip_attn,
    build_offline_processor,
    build_stand_in,
    stand_in_config,
)
from helpers.model.florence import (
    FLORENCE_MODEL_TYPE,
    load_florence,
    local_config,
    refuse_remote_code,
)
from helpers.model.florence_stand_in import (
    FLORENCE_STAND_INS,
    build_florence_stand_in,
    build_offline_florence_processor,
)
from helpers.model.load_errors import ModelLoadError, explain_load_error

log = logging.getLogger(__name__)

STAND_IN_PREFIX = "random:"
IMAGE_BACKEND = "pil"  # transformers' image processors: "pil" or "torchvision" (not a dependency)


class ModelUnavailableError(ModelLoadError):
    """The model is neither reachable on the Hugging Face Hub nor in the local cache."""

    def __init__(self, message: str) -> None:
        super().__init__(message, "unavailable")


LOAD_ERRORS = (OSError, HfHubHTTPError, SafetensorError)  # what a failed from_pretrained raises


@dataclass
class Captioner:
    """A captioning model with its processor; ``family`` is "blip", "git" or "florence2"."""

    model: PreTrainedModel
    processor: Any
    family: str
    source: str


def load_captioner(cfg: CaptionConfig, *, cache_dir: str | Path | None = None) -> Captioner:
    """Load ``cfg.model_name``: a stand-in ("random:..."), a local folder or a Hub id."""
    captioner = _load(cfg, cache_dir)
    if captioner.family != "blip" and (cfg.attribute_heads or cfg.attribute_prompt):
        log.info("The attribute heads and prompt are BLIP's only: this model trains on captions.")
    return captioner


def _load(cfg: CaptionConfig, cache_dir: str | Path | None) -> Captioner:
    name = cfg.model_name
    if name in FLORENCE_STAND_INS:
        processor = build_offline_florence_processor(cfg.image_size)
        model = build_florence_stand_in(
            name, processor, seed=cfg.seed, task=cfg.florence_task, attn=cfg.attn_implementation
        )
        source = f"{name}: Florence-2 architecture with random weights (seed {cfg.seed})"
        return Captioner(model, processor, FLORENCE_MODEL_TYPE, source + ", not pretrained")
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
    refuse_remote_code(name)
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
    refuse_remote_code(shareable_name(folder), local_config(folder))
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
        weights["attn_implementation"] = blip_attn(cfg.attn_implementation)
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
    if config.model_type == FLORENCE_MODEL_TYPE:
        model, processor = load_florence(name, cfg.florence_task, processing, weights)
        return Captioner(model, processor, FLORENCE_MODEL_TYPE, source)
    if config.model_type == "git":
        weights["attn_implementation"] = loadable_attn(GitForCausalLM, cfg.attn_implementation)
        model = AutoModelForCausalLM.from_pretrained(name, **weights)
        return Captioner(model, AutoProcessor.from_pretrained(name, **processing), "git", source)
    raise ValueError(
        f"{name}: model_type {config.model_type!r} in its config.json is not supported; "
        "use a BLIP ('blip'), GIT ('git') or Florence-2 ('florence2') captioning checkpoint."
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


def vision_encoder(model: PreTrainedModel | PeftModel) -> torch.nn.Module:
    """The image encoder: BLIP's ``vision_model``, GIT's ``git.image_encoder`` or Florence-2's
    ``model.vision_tower`` (its DaViT; the projection into the text width is not included)."""
    base = base_model(model)
    if getattr(getattr(base, "config", None), "model_type", None) == FLORENCE_MODEL_TYPE:
        return base.model.vision_tower
    git = getattr(base, "git", None)
    encoder = getattr(base, "vision_model", None) or getattr(git, "image_encoder", None)
    if encoder is None:
        raise ValueError(f"{type(model).__name__} has no known vision encoder.")
    return encoder


def freeze_vision_encoder(model: PreTrainedModel) -> int:
    """Freeze the image encoder (``vision_encoder``); return how many parameters were frozen."""
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
