"""Model cards: a ``README.md`` in the Hugging Face Hub's format beside every export of a run.

``best/`` and ``final/`` get a card for the model in them (with LoRA, the merged model), and
their ``adapter/`` folder a card for the adapters alone. A card has the Hub's YAML header
(``base_model``, ``library_name``, ``pipeline_tag: image-to-text``, ``tags``, ``datasets`` and,
once notebook 04 or 05 has evaluated the run, a ``model-index`` with its test scores), then prose:
what it was trained on and how, the before/after table with 95% intervals, how to load it, and
the provenance line. A stand-in (synthetic data or a random-init model) says so in its title, the
first line under the header, and in its tags.

Everything a card says is read from the run folder (``config.json``, ``last/run.json``,
``summary.json``, ``evaluation/``) or passed in while training, so the cards can be rewritten at
any time (``write_export_cards``, after an evaluation; ``helpers.sharing`` with the Hub id).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, fields
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from huggingface_hub import EvalResult, ModelCardData

from helpers.config import CaptionConfig, shareable_name
from helpers.files import write_text_atomic
from helpers.model.lora import default_targets
from helpers.training.card_usage import how_to_use
from helpers.training.checkpoints import ADAPTER_DIR, find_checkpoint, read_run

CARD_FILE = "README.md"
EVALUATION_DIR = "evaluation"  # written by helpers.eval.record
MODEL_INDEX_FILE = "model_index.json"
COMPARISON_TABLE_FILE = "comparison.md"
DATASET_NAME = "Hephaestus"
PLACEHOLDER_ID = "path/to/this/folder"  # in the loading code until the card names a Hub id
HUB_ID = re.compile(r"^[\w.-]+/[\w.-]+$")


@dataclass
class CardFacts:
    """What a card states about a run."""

    cfg: CaptionConfig
    lora: bool
    train_samples: int | None
    val_samples: int | None
    training: dict[str, Any]  # TrainingState / summary.json fields
    model_index: dict[str, Any] | None = None  # evaluation/model_index.json
    comparison_table: str | None = None  # evaluation/comparison.md
    family: str = "blip"  # config.model_type of the model
    lora_targets: tuple[str, ...] = ()

    @property
    def data_synthetic(self) -> bool:
        return self.cfg.synthetic_data

    @property
    def random_init(self) -> bool:
        return self.cfg.model_name.startswith("random:")

    @property
    def base_name(self) -> str:
        """The base model as the card names it (a local folder never by its absolute path)."""
        return shareable_name(self.cfg.model_name)

    @property
    def stand_in(self) -> bool:
        return self.cfg.is_stand_in or self.data_synthetic


def card_facts(
    run_dir: Path, run: dict[str, Any] | None = None, state: Any | None = None
) -> CardFacts:
    """The facts of the run in ``run_dir``. ``run`` (its ``helpers.training.resume.run_record``) and
    ``state`` (its ``TrainingState``) are passed while training; otherwise they are read from
    the checkpoint's ``run.json`` and ``summary.json``."""
    run_dir = Path(run_dir)
    if run is None:
        checkpoint = find_checkpoint(run_dir)
        run = read_run(checkpoint) if checkpoint else None
        if run is None:
            raise FileNotFoundError(
                f"{run_dir} holds no checkpoint with its run record: the run folder is incomplete."
            )
    if state is None:
        training = _read_json(run_dir / "summary.json")
    else:  # device and precision are in the history rows while training
        last = state.history[-1] if state.history else {}
        training = {**vars(state), **{k: last[k] for k in ("device", "precision") if k in last}}
    evaluation = run_dir / EVALUATION_DIR
    table_path = evaluation / COMPARISON_TABLE_FILE
    return CardFacts(
        cfg=config_from_dict(run["config"]),
        lora=bool(run["lora"]),
        train_samples=run["data"]["train"]["samples"],
        val_samples=run["data"]["val"]["samples"],
        training={k: v for k, v in training.items() if k != "history"},
        model_index=_read_json(evaluation / MODEL_INDEX_FILE, missing_ok=True),
        comparison_table=table_path.read_text(encoding="utf-8") if table_path.is_file() else None,
        family=run.get("family") or "blip",
        lora_targets=tuple(run.get("lora_targets") or default_targets(run.get("family"))),
    )


def config_from_dict(values: dict[str, Any]) -> CaptionConfig:
    """A ``CaptionConfig`` from ``to_dict()`` output; fields this version lacks are ignored."""
    known = {f.name for f in fields(CaptionConfig)}
    return CaptionConfig().with_overrides(**{k: v for k, v in values.items() if k in known})


def write_export_cards(export_dir: Path, facts: CardFacts, repo_id: str | None = None) -> None:
    """Write the card of the model in ``export_dir`` and, when it has one, of its ``adapter/``.
    ``repo_id`` is the Hub id the loading code should name (default: a placeholder path)."""
    export_dir = Path(export_dir)
    architecture = export_architecture(export_dir)
    write_text_atomic(
        export_dir / CARD_FILE, render_card(facts, architecture, adapter=False, repo_id=repo_id)
    )
    adapter_dir = export_dir / ADAPTER_DIR
    if adapter_dir.is_dir():
        text = render_card(facts, architecture, adapter=True, repo_id=repo_id)
        write_text_atomic(adapter_dir / CARD_FILE, text)


def render_card(
    facts: CardFacts, architecture: str, *, adapter: bool, repo_id: str | None = None
) -> str:
    """The card's text: YAML header, then the prose (see the module docstring)."""
    header = card_data(facts, adapter).to_yaml()
    sections = [
        f"# {title(facts, adapter)}",
        _summary(facts, adapter),
        "## Training data\n\n" + _data_section(facts),
        "## Training settings\n\n" + _settings_table(facts),
        "## Evaluation on the test split\n\n" + _evaluation_section(facts),
        "## How to use\n\n"
        + how_to_use(
            facts.family,
            architecture,
            facts.base_name,
            repo_id or PLACEHOLDER_ID,
            adapter=adapter,
            task=facts.cfg.florence_task,
            max_new_tokens=facts.cfg.max_new_tokens,
        ),
        "## Provenance\n\n" + _provenance(facts),
    ]
    return f"---\n{header}\n---\n\n" + "\n\n".join(sections) + "\n"


def title(facts: CardFacts, adapter: bool) -> str:
    """The card's first line: what the model is, and STAND-IN first when it is one."""
    what = "LoRA adapters for " if adapter else ""
    if not facts.stand_in:
        return f"{what}{facts.base_name} fine-tuned to caption InSAR interferograms (Hephaestus)"
    return f"STAND-IN, not a Hephaestus model: {what}{_stand_in_reason(facts)}"


def card_data(facts: CardFacts, adapter: bool) -> ModelCardData:
    """The YAML header's fields (``huggingface_hub.ModelCardData``)."""
    base = facts.cfg.model_name
    tags = ["image-captioning", "blip", "insar", "remote-sensing"]
    if not facts.data_synthetic:  # a Hub search for Hephaestus models finds no stand-ins
        tags.append("hephaestus")
    if facts.lora:
        tags.append("lora")
    if facts.stand_in:
        tags.append("stand-in")
    if facts.data_synthetic:
        tags.append("synthetic-data")
    if facts.random_init:
        tags.append("random-init")
    index = facts.model_index
    return ModelCardData(
        base_model=base if HUB_ID.match(base) and not facts.random_init else None,
        library_name="peft" if adapter else "transformers",
        pipeline_tag="image-to-text",
        tags=tags,
        datasets=["synthetic-insar-stand-in" if facts.data_synthetic else DATASET_NAME],
        model_name=title(facts, adapter) if index else None,
        eval_results=_eval_results(facts, index) if index else None,
    )


def _eval_results(facts: CardFacts, index: dict[str, Any]) -> list[EvalResult]:
    dataset = "synthetic stand-in" if facts.data_synthetic else DATASET_NAME
    return [
        EvalResult(
            task_type="image-to-text",
            task_name="Image captioning",
            dataset_type=dataset.lower().replace(" ", "-"),
            dataset_name=f"{dataset} (test split, {index['test_images']} images)",
            dataset_split="test",
            metric_type=key,
            metric_name=metric["name"],
            metric_value=round(float(metric["value"]), 4),
        )
        for key, metric in index["metrics"].items()
        if metric["value"] is not None
    ]


def _stand_in_reason(facts: CardFacts) -> str:
    model = (
        f"a BLIP with random initial weights ({facts.base_name})"
        if facts.random_init
        else facts.base_name
    )
    data = "synthetic InSAR-like images" if facts.data_synthetic else "Hephaestus"
    return f"{model} trained on {data} (profile {facts.cfg.profile!r})"


def _summary(facts: CardFacts, adapter: bool) -> str:
    cfg = facts.cfg
    if adapter:
        how = (
            f"LoRA adapters (rank {cfg.lora_r}, alpha {cfg.lora_alpha}, on "
            f"{', '.join(facts.lora_targets)}) for `{facts.base_name}`; the folder above "
            "holds the model with these adapters merged in."
        )
    elif facts.lora:
        how = (
            f"`{facts.base_name}` with LoRA adapters (rank {cfg.lora_r}) merged into its weights: "
            "a plain model, no `peft` needed; the adapters alone are in `adapter/`."
        )
    else:
        how = f"`{facts.base_name}` with all its weights fine-tuned."
    use = (
        "It exists to test the pipeline and must not be used to caption real interferograms."
        if facts.stand_in
        else "It writes captions of Sentinel-1 InSAR interferograms in the style of the "
        "Hephaestus annotations: whether they show ground deformation, its kind and intensity, "
        "and atmospheric signal."
    )
    return f"{how} {use}"


def _data_section(facts: CardFacts) -> str:
    cfg = facts.cfg
    counts = f"{facts.train_samples} training and {facts.val_samples} validation images"
    split = (
        "the official benchmark's 13 test frames held out"
        if cfg.split == "hephaestus-test-frames"
        else f"frames drawn at random (seed {cfg.seed}), stratified by deformation"
    )
    source = (
        "Synthetic InSAR-like images and captions from `helpers.data.synthetic`, a stand-in for "
        "Hephaestus made for offline tests: **not real data**."
        if facts.data_synthetic
        else "Hephaestus (Bountos et al., 2022): Sentinel-1 interferograms with expert "
        "annotations and captions"
        + (", the subset of images with a unique caption" if cfg.unique_captions else "")
        + "."
    )
    return f"{source} {counts}; splits by frame ({split}), so no frame is in two splits."


def _settings_table(facts: CardFacts) -> str:
    cfg, run = facts.cfg, facts.training
    rows = [
        ("method", "LoRA" if facts.lora else "full fine-tune"),
        ("epochs", f"{run.get('epochs_done')} (best: epoch {run.get('best_epoch')})"),
        (
            "learning rate",
            f"{cfg.learning_rate:g}, warm-up ratio {cfg.warmup_ratio:g}, linear decay",
        ),
        ("batch", f"{cfg.batch_size} x {cfg.gradient_accumulation_steps} accumulation"),
        ("image size", f"{cfg.image_size} px"),
        ("caption tokens", str(cfg.max_caption_tokens)),
        ("frozen vision encoder", "yes" if cfg.freeze_vision_encoder else "no"),
        ("precision / device", f"{run.get('precision', cfg.precision)} / {run.get('device', '')}"),
        (
            "validation loss",
            f"{_number(run.get('initial_val_loss'))} before, "
            f"{_number(run.get('best_val_loss'))} at the best epoch",
        ),
    ]
    return markdown_table(["setting", "value"], rows)


def _evaluation_section(facts: CardFacts) -> str:
    if facts.comparison_table is None:
        return (
            "Not evaluated yet: notebook 04 (full fine-tune) or 05 (LoRA) scores the model on "
            "the test split and rewrites this card with the results."
        )
    return facts.comparison_table.strip()


def _provenance(facts: CardFacts) -> str:
    try:
        made_with = f"hephaestus-captioning {version('hephaestus-captioning')}"
    except PackageNotFoundError:
        made_with = "hephaestus-captioning"
    return f"`{facts.cfg.provenance(facts.data_synthetic)}`. Trained with {made_with}."


def markdown_table(header: list[str], rows: list[tuple[str, ...]]) -> str:
    """A GitHub-flavoured markdown table (``|`` in cells escaped)."""

    def line(cells: tuple[str, ...] | list[str]) -> str:
        return "| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |"

    return "\n".join([line(header), line(["---"] * len(header)), *map(line, rows)])


def export_architecture(export_dir: Path) -> str:
    """The model class an export folder loads with (its ``config.json``'s ``architectures``)."""
    config = _read_json(export_dir / "config.json", missing_ok=True) or {}
    return (config.get("architectures") or ["BlipForConditionalGeneration"])[0]


def _number(value: Any) -> str:
    return "n/a" if value is None else f"{value:.4f}"


def _read_json(path: Path, missing_ok: bool = False) -> Any:
    if not path.is_file():
        if missing_ok:
            return None
        raise FileNotFoundError(f"{path} is missing: the run folder is incomplete.")
    return json.loads(path.read_text(encoding="utf-8"))


__all__ = [
    "CARD_FILE",
    "CardFacts",
    "card_data",
    "card_facts",
    "config_from_dict",
    "export_architecture",
    "markdown_table",
    "render_card",
    "title",
    "write_export_cards",
]
