"""Every knob of the collection in one dataclass, with three named profiles.

``full`` (the default) is the real thing: pretrained BLIP-large from the Hugging Face Hub and the
Hephaestus zips. ``demo`` and ``smoke`` run offline on stand-ins: a small or tiny BLIP with random
weights and the synthetic InSAR-like dataset (see ``helpers.data.synthetic``).

Pick a profile with the ``CAPTION_PROFILE`` environment variable or by name, and override any
field in code::

    cfg = load_config("demo", epochs=3, batch_size=8)
    print(cfg)
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

from helpers.files import model_slug

PROFILE_ENV_VAR = "CAPTION_PROFILE"
MODEL_ENV_VAR = "CAPTION_MODEL"  # a model in place of the profile's (load_config's model=)
PROFILES = ("full", "demo", "smoke")
DEFAULT_PROFILE = "full"
WORKSPACE_ENV_VAR = "CAPTION_WORKSPACE"
PROJECT_ROOT = Path(__file__).resolve().parent.parent
REAL_DATA_FOLDER = "Hephaestus_dataset"  # under the workspace; the stand-ins use subfolders
SPLIT_RULES = ("random-frames", "hephaestus-test-frames")
TRI_STATE, TRI_STATE_FIELDS = (True, False, "auto"), ("compile", "cache_image_features")
# (num_beams, length_penalty, no_repeat_ngram_size, repetition_penalty), cheapest first: the
# order breaks ties left by the criterion (helpers.eval.decoding)
DEFAULT_DECODING_GRID = (
    *((1, 1.0, 0, 1.0), (1, 1.0, 3, 1.0), (1, 1.0, 0, 1.2)),
    *((3, 1.0, 0, 1.0), (3, 1.0, 3, 1.0), (3, 1.0, 0, 1.2)),
    *((5, 1.0, 0, 1.0), (5, 1.0, 3, 1.2)),
)


@dataclass(frozen=True)
class CaptionConfig:
    """All settings of a run. Plain values: print it to see exactly what a notebook uses."""

    profile: str = "full"

    # model: a Hub id or a local folder (BLIP, GIT or Florence-2, e.g.
    # "florence-community/Florence-2-base"); "random:tiny" / "random:small" / "random:blip-large"
    # build the real BLIP classes with random weights, "random:florence-tiny" / "-base" / "-large"
    # Florence-2's (offline stand-ins, see helpers.model.loading).
    model_name: str = "Salesforce/blip-image-captioning-large"
    image_size: int = 384
    # training captions are cut at this many tokens ([CLS]/[SEP] included): the real captions
    # reach 125 (DESIGN.md section 4); BLIP's limit is 512 (cost: docs/PERFORMANCE.md)
    max_caption_tokens: int = 128
    # "sdpa" (BLIP's vision encoder via helpers.model.attention; its text decoder, which the
    # grounding maps read, stays eager; GIT loads eager) or "eager" (transformers' default)
    attn_implementation: str = "sdpa"

    # data, outputs and checkpoints; load_config places them under the workspace (see workspace())
    data_dir: Path = PROJECT_ROOT / REAL_DATA_FOLDER
    output_dir: Path = PROJECT_ROOT / "assets"
    run_dir: Path = PROJECT_ROOT / "runs" / "full"
    synthetic_samples: int = 1000  # stand-in profiles only, generated into their empty data_dir
    unique_captions: bool = True  # the Intel sample's subset: images with unique captions
    # "random-frames": frames drawn at random (seeded), stratified by deformation;
    # "hephaestus-test-frames": the official benchmark's 13 test frames are the test split
    split: str = "random-frames"
    val_fraction: float = 0.1
    test_fraction: float = 0.1
    max_test_samples: int | None = None  # cap evaluation cost; None = whole test split

    # training
    epochs: int = 5
    batch_size: int = 8
    eval_batch_size: int = 16
    gradient_accumulation_steps: int = 1
    # halve the batch on out-of-memory (helpers.training.auto_batch); None: on GPUs, not on CPU
    auto_batch_size: bool | None = None
    learning_rate: float = 5e-5
    weight_decay: float = 0.01
    warmup_ratio: float = 0.1
    max_grad_norm: float = 1.0
    early_stopping_patience: int = 2
    precision: str = "auto"  # "auto", "bf16", "fp16" or "fp32"
    device: str = "auto"  # "auto", "xpu", "cuda", "mps" or "cpu"
    seed: int = 42
    num_workers: int = 0
    freeze_vision_encoder: bool = False
    gradient_checkpointing: bool = False
    # reuse a frozen image encoder's features after epoch 1 (helpers.model.feature_cache): needs
    # freeze_vision_encoder=True or LoRA (default targets). "auto": CPU only (slower on an H200)
    cache_image_features: bool | str = False
    # torch.compile of training steps (helpers.training.compilation): "auto" on GPUs, long runs
    compile: bool | str = "auto"
    # live curves through Accelerate's trackers (helpers.training.tracking): None, "tensorboard", or
    # any tracker Accelerate supports ("wandb", "mlflow", "all"...); files go to <run_dir>/logs
    log_with: str | None = None
    log_every_steps: int = 10  # training loss, learning rate, gradient norm every N updates

    # attribute heads (helpers.model.attributes): BLIP predicts the annotation's facts (deformation,
    # activity types, intensities, sectors, atmosphere) from the image features, trained with the
    # caption loss at attribute_loss_weight; attribute_prompt captions from those facts (the
    # annotation's in training, the heads' at test time). The profiles turn both on.
    attribute_heads: bool = False
    attribute_prompt: bool = False
    attribute_loss_weight: float = 3.0
    # label smoothing of BLIP's caption loss (BLIP's own pre-training used 0.1; transformers' 0)
    label_smoothing: float = 0.0
    # Florence-2's caption task (helpers.model.florence): "<CAPTION>", "<DETAILED_CAPTION>" or
    # "<MORE_DETAILED_CAPTION>" (paragraphs, as Hephaestus'). Heads and smoothing: BLIP only.
    florence_task: str = "<MORE_DETAILED_CAPTION>"

    # LoRA (seed 001's recipe: 614,400 trainable parameters on BLIP-large); target modules None:
    # the family's (helpers.model.lora: "query"/"value" in BLIP, GIT; "q_proj"/"v_proj" Florence-2)
    lora_r: int = 8
    lora_alpha: int = 32
    lora_dropout: float = 0.1
    lora_target_modules: tuple[str, ...] | None = None
    # the learning rate of LoRA runs (helpers.model.lora.lora_config); None: 4 x learning_rate
    lora_learning_rate: float | None = None

    # decoding of fine-tuned models: free to repeat the phrases real captions repeat, long enough
    # for the longest real caption. Notebook 04 replaces these with what tune_decoding picks on
    # the validation split (helpers.eval.decoding); results JSONs record them, decoding_source.
    num_beams: int = 3
    max_new_tokens: int = 128
    repetition_penalty: float = 1.0
    no_repeat_ngram_size: int = 0
    length_penalty: float = 1.0
    decoding_source: str = "fine-tuned defaults"  # what set the five fields above
    # zero-shot decoding (notebook 02): anti-repetition helps the rambling pretrained model
    zero_shot_repetition_penalty: float = 1.2
    zero_shot_no_repeat_ngram_size: int = 3
    # tune_decoding: the settings tried, (num_beams, length_penalty, no_repeat_ngram_size,
    # repetition_penalty) each, and how many validation images score them (None: all)
    decoding_grid: tuple[tuple[int, float, int, float], ...] = DEFAULT_DECODING_GRID
    decoding_val_samples: int | None = 64

    # evaluation: None = the profile's scorer (roberta-large in full, packaged MiniLM offline)
    bertscore_model: str | None = None
    # the Intel sample's scorer, reported beside ours (helpers.eval.bertscore): None = the
    # profile's choice (bert-base-uncased in full, none offline); "off" = none; "minilm" = the
    # packaged MiniLM standing in for it (flagged as a stand-in in every result)
    bertscore_intel_model: str | None = None
    # bootstrap 95% intervals over test images (helpers.eval.bootstrap): resamples and their seed
    bootstrap_resamples: int = 1000
    bootstrap_seed: int = 42

    def __post_init__(self) -> None:
        if self.split not in SPLIT_RULES:
            raise ValueError(f"split={self.split!r}: choose one of {', '.join(SPLIT_RULES)}")
        for name in (name for name in TRI_STATE_FIELDS if getattr(self, name) not in TRI_STATE):
            raise ValueError(f"{name}={getattr(self, name)!r}: choose True, False or 'auto'")

    @property
    def synthetic_data(self) -> bool:
        """True for the stand-in profiles, which train on synthetic data (``full`` refuses it)."""
        return self.profile != "full"

    @property
    def is_stand_in(self) -> bool:
        """True when the model or the data is a stand-in, so results must be labelled as such."""
        return self.synthetic_data or self.model_name.startswith("random:")

    def provenance(self, data_synthetic: bool) -> str:
        """One line saying what produced a result; every figure and results file carries it.

        Anything made from synthetic data, a random-init model or a stand-in profile ends with
        "not a Hephaestus result"."""
        reasons = []
        if data_synthetic:
            reasons.append("SYNTHETIC stand-in data")
        if self.model_name.startswith("random:"):
            reasons.append("model trained from random init")
        if self.profile != "full" and not reasons:
            reasons.append(f"stand-in profile {self.profile!r}")
        verdict = (
            " + ".join(reasons) + ": not a Hephaestus result" if reasons else "Hephaestus data"
        )
        return f"profile={self.profile} | model={shareable_name(self.model_name)} | {verdict}"

    def with_overrides(self, **overrides: Any) -> CaptionConfig:
        """Return a copy with some fields changed; unknown names raise a clear error."""
        known = {f.name for f in fields(self)}
        unknown = sorted(set(overrides) - known)
        if unknown:
            raise TypeError(
                f"Unknown config field(s): {', '.join(unknown)}. "
                f"Known fields: {', '.join(sorted(known))}"
            )
        converted = {name: _coerce(name, value) for name, value in overrides.items()}
        return replace(self, **converted)

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly dict (paths as strings, tuples as lists)."""
        return {k: _jsonable(v) for k, v in dataclasses.asdict(self).items()}

    def __str__(self) -> str:
        width = max(len(f.name) for f in fields(self))
        lines = [f"CaptionConfig (profile={self.profile!r})"]
        lines += [f"  {f.name:<{width}} = {getattr(self, f.name)!r}" for f in fields(self)]
        return "\n".join(lines)


def _coerce(name: str, value: Any) -> Any:
    if name.endswith("_dir") and isinstance(value, str):
        return Path(value)
    if name == "lora_target_modules" and isinstance(value, list):
        return tuple(value)
    if name in TRI_STATE_FIELDS and str(value).lower() in ("true", "false"):
        return str(value).lower() == "true"  # as a command line or environment writes them
    if name == "decoding_grid" and isinstance(value, list | tuple):
        return tuple(tuple(setting) for setting in value)
    return value


def _jsonable(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, tuple):
        return [_jsonable(item) for item in value]
    return value


ATTRIBUTE_PROMPT = {"attribute_heads": True, "attribute_prompt": True}
_PROFILE_FIELDS: dict[str, dict[str, Any]] = {
    "full": ATTRIBUTE_PROMPT,  # measured on the demo only (bench/results/collapse_ablation.md)
    "demo": {
        **ATTRIBUTE_PROMPT,
        "model_name": "random:small",
        "image_size": 128,
        "max_caption_tokens": 128,  # the synthetic captions reach ~125 tokens, as the real ones
        "synthetic_samples": 1000,
        # 10 epochs at batch 8: the decoder learns to follow the prompt (6 at 16 were too few
        # updates; bench/results/collapse_ablation.md)
        "epochs": 10,
        "batch_size": 8,
        "eval_batch_size": 32,
        "learning_rate": 5e-4,
        "warmup_ratio": 0.05,
        "early_stopping_patience": 3,
        "max_test_samples": 200,
        "num_beams": 1,
        "max_new_tokens": 128,
        "decoding_grid": DEFAULT_DECODING_GRID[:4],  # greedy variants and 3 beams: CPU minutes
        "decoding_val_samples": 32,
    },
    "smoke": {
        **ATTRIBUTE_PROMPT,
        "model_name": "random:tiny",
        "image_size": 32,
        "max_caption_tokens": 128,
        "synthetic_samples": 48,
        "epochs": 2,
        "batch_size": 8,
        "eval_batch_size": 8,
        "learning_rate": 1e-3,
        "warmup_ratio": 0.0,
        "early_stopping_patience": 1,
        "max_test_samples": 8,
        "num_beams": 1,
        "max_new_tokens": 12,  # a random tiny model writes noise: short is enough, and fast
        "log_every_steps": 2,
        "decoding_grid": DEFAULT_DECODING_GRID[:2],
        "decoding_val_samples": 8,
    },
}


def profile_model_name(profile: str) -> str:
    """The model a profile trains when no other is chosen."""
    return _PROFILE_FIELDS[profile].get("model_name", CaptionConfig.model_name)


def get_profile_name(name: str | None = None) -> str:
    """Resolve a profile name: the argument, else ``$CAPTION_PROFILE``, else ``full``."""
    chosen = (name or os.environ.get(PROFILE_ENV_VAR) or DEFAULT_PROFILE).strip().lower()
    if chosen not in PROFILES:
        raise ValueError(
            f"Unknown profile {chosen!r} (from {PROFILE_ENV_VAR} or the argument). "
            f"Choose one of: {', '.join(PROFILES)}."
        )
    return chosen


def workspace() -> Path:
    """The folder holding ``Hephaestus_dataset/``, ``assets/`` and ``runs/``: the project root,
    or ``$CAPTION_WORKSPACE`` (the tests use it to run the notebooks in a scratch folder)."""
    override = os.environ.get(WORKSPACE_ENV_VAR, "").strip()
    return Path(override).expanduser().resolve() if override else PROJECT_ROOT


def shareable_name(model: str | Path) -> str:
    """How results, cards and logs name a model: a Hub id or stand-in as it is, a local folder
    relative to the workspace (``runs/full/best``), or by its own name when it lies elsewhere:
    never an absolute path of this machine."""
    text = str(model)
    path = Path(text).expanduser()
    if not (path.is_absolute() or path.exists()) or text.startswith("random:"):
        return text
    path = path.resolve()
    root = workspace()
    return path.relative_to(root).as_posix() if path.is_relative_to(root) else path.name


def load_config(
    profile: str | None = None, *, model: str | None = None, **overrides: Any
) -> CaptionConfig:
    """Build the config of a profile (argument, else ``$CAPTION_PROFILE``, else ``full``).

    Keyword arguments override single fields, e.g. ``load_config("demo", epochs=2)``. ``model``
    (else ``$CAPTION_MODEL``) swaps the profile's model, with its own run and results folders
    (``florence-community/Florence-2-base``: ``runs/full-florence-2-base/``, ``assets/
    florence-2-base/``), so two models compare side by side. ``full`` reads ``Hephaestus_dataset/``,
    writes ``assets/`` and checkpoints to ``runs/full/``. The stand-in profiles keep their
    synthetic data in ``Hephaestus_dataset/synthetic-<profile>/`` and write to ``assets/<profile>/``
    and ``runs/<profile>/``: never over (or mistaken for) real data or results of a real run.
    """
    name = get_profile_name(profile)
    root = workspace()
    data_dir = root / REAL_DATA_FOLDER
    output_dir = root / "assets"
    if name != "full":
        data_dir, output_dir = data_dir / f"synthetic-{name}", output_dir / name
    base = CaptionConfig(
        profile=name,
        data_dir=data_dir,
        output_dir=output_dir,
        run_dir=root / "runs" / name,
        **_PROFILE_FIELDS[name],
    )
    model = (model or os.environ.get(MODEL_ENV_VAR, "")).strip()
    if model and model != base.model_name:
        slug = model_slug(model)
        base = base.with_overrides(
            model_name=model,
            run_dir=base.run_dir.with_name(f"{base.run_dir.name}-{slug}"),
            output_dir=base.output_dir / slug,
        )
    return base.with_overrides(**overrides)


__all__ = [
    "DEFAULT_DECODING_GRID",
    "MODEL_ENV_VAR",
    "PROFILES",
    "PROFILE_ENV_VAR",
    "PROJECT_ROOT",
    "REAL_DATA_FOLDER",
    "SPLIT_RULES",
    "WORKSPACE_ENV_VAR",
    "CaptionConfig",
    "get_profile_name",
    "load_config",
    "profile_model_name",
    "shareable_name",
    "workspace",
]
