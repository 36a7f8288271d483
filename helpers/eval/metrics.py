"""Caption metrics: BERTScore per sample and the COCO caption metrics.

BERTScore (precision, recall, F1 per sample) compares contextual token embeddings of a caption
and its reference; which scorer, how it tokenises and why it matches bert-score's published
algorithm: ``helpers.eval.bertscore`` (re-exported here). In ``full`` the Intel sample's scorer
adds the column ``bertscore_intel_f1``.

COCO caption metrics come from ``pycocoevalcap`` on text tokenised by :func:`tokenize`, so
the results never depend on Java:

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
  as 0. Its corpus value comes from the jar's pooled statistics, not the per-sample mean. One
  Java process serves every call of a Python process (``helpers.eval.meteor``).
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from pycocoevalcap.bleu.bleu import Bleu
from pycocoevalcap.bleu.bleu_scorer import cook_refs, cook_test
from pycocoevalcap.cider.cider import Cider
from pycocoevalcap.rouge.rouge import Rouge

from helpers.config import CaptionConfig
from helpers.eval.bertscore import (
    BERTSCORE_COLUMNS,
    FULL_BERTSCORE,
    INTEL_BERTSCORE_COLUMN,
    OFFLINE_BERTSCORE,
    BertScoreModel,
    ScorerInfo,
    bertscore_choice,
    load_bertscorer,
)
from helpers.eval.inputs import References, check_inputs, tokenize
from helpers.eval.meteor import meteor_score

BLEU_COLUMNS = ("bleu_1", "bleu_2", "bleu_3", "bleu_4")
COCO_COLUMNS = (*BLEU_COLUMNS, "meteor", "rouge_l", "cider")
METRIC_COLUMNS = BERTSCORE_COLUMNS + COCO_COLUMNS


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
    groups = check_inputs(references, candidates)
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
        value, values = meteor_score(gts, res)
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
    groups = check_inputs(references, candidates)
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
    """Every metric of a set of captions: one row per sample, corpus values, scorer, notes;
    with the Intel sample's scorer, also its F1 column and ``intel_scorer``."""

    per_sample: pd.DataFrame  # METRIC_COLUMNS (+ INTEL_BERTSCORE_COLUMN)
    corpus: dict[str, float | None]
    scorer: ScorerInfo
    notes: tuple[str, ...] = ()
    intel_scorer: ScorerInfo | None = None


def evaluate_captions(
    references: References,
    candidates: Sequence[str],
    scorer: BertScoreModel | CaptionConfig,
) -> EvaluationResult:
    """Score ``candidates`` against ``references`` (one string or a list of strings each).

    ``scorer`` is a loaded :class:`BertScoreModel` (reuse it across calls) or a config to load one.
    """
    check_inputs(references, candidates)
    if isinstance(scorer, CaptionConfig):
        scorer = load_bertscorer(scorer)
    bert = scorer.score(references, candidates)
    coco = coco_scores(references, candidates)
    per_sample = pd.concat([bert, coco.per_sample], axis=1)[list(METRIC_COLUMNS)]
    corpus = {column: float(bert[column].mean()) for column in BERTSCORE_COLUMNS}
    corpus.update(coco.corpus)
    intel = scorer.intel
    if intel is not None:
        per_sample[INTEL_BERTSCORE_COLUMN] = intel.score(references, candidates)["bertscore_f1"]
        corpus[INTEL_BERTSCORE_COLUMN] = float(per_sample[INTEL_BERTSCORE_COLUMN].mean())
    intel_info = None if intel is None else intel.info
    return EvaluationResult(per_sample, corpus, scorer.info, coco.notes, intel_info)


__all__ = [
    "BERTSCORE_COLUMNS",
    "FULL_BERTSCORE",
    "INTEL_BERTSCORE_COLUMN",
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
