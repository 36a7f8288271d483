"""Our BERTScore gives bert-score's published algorithm on a RoBERTa-family scorer, offline.

The scorer is a tiny byte-level BPE RoBERTa made here: a vocabulary trained on caption text
with the ``tokenizers`` library and random weights, saved like a Hub repository, with its
``model_max_length`` and without (bert-score then overflows: its issue #205). bert-score 0.3.13
encodes RoBERTa/GPT-2 text with a space before the first word; transformers 5 ignores that
request at encode time, so the first word got another token. The reference below is the
published algorithm itself, written out: ids from the byte-level BPE with the prefix space,
embeddings of the scorer's layer, greedy cosine matching with ``<s>``/``</s>`` weighted 0.
"""

from __future__ import annotations

import json

import pytest
import torch
from bert_score.utils import sent_encode
from tokenizers import ByteLevelBPETokenizer
from transformers import RobertaConfig, RobertaModel

from helpers.config import load_config
from helpers.eval.metrics import load_bertscorer

SPECIAL = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]  # RoBERTa's ids 0-4
TRAINING_TEXT = [
    "deformation can be detected on the north side of the region",
    "a sill-type deformation pattern of high intensity can be detected in the centre",
    "turbulent mixing effects can be detected over a wide area",
    "stratified atmospheric effects related to high-altitude areas can be detected",
    "no deformation activity can be detected in the interferogram",
]
REFERENCES = [
    "Deformation can be detected on the north side of the region.",
    "Turbulent mixing effects can be detected over a wide area.",
    "A dyke-type deformation pattern of low intensity can be detected.",
]
CANDIDATES = [
    "deformation of high intensity can be detected in the centre",
    "stratified atmospheric effects can be detected",
    "Deformation can be detected.",
]
POSITIONS = 66  # RoBERTa counts positions after the padding id (1): 64 tokens fit


@pytest.fixture(scope="module", params=["length declared", "no length declared"])
def roberta_folder(request, tmp_path_factory):
    """A tiny RoBERTa saved as a Hub repository is (vocab.json, merges.txt, config, weights),
    its tokenizer_config.json with ``model_max_length`` as roberta-large's, or without."""
    folder = tmp_path_factory.mktemp("tiny-roberta")
    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(
        TRAINING_TEXT * 10, vocab_size=420, min_frequency=1, special_tokens=SPECIAL
    )
    bpe.save_model(str(folder))
    config = RobertaConfig(
        vocab_size=bpe.get_vocab_size(),
        hidden_size=32,
        num_hidden_layers=3,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=POSITIONS,
        pad_token_id=1,
        bos_token_id=0,
        eos_token_id=2,
    )
    torch.manual_seed(0)
    RobertaModel(config).eval().save_pretrained(folder)
    settings = {"tokenizer_class": "RobertaTokenizer"}
    if request.param == "length declared":
        settings["model_max_length"] = POSITIONS - 2
    (folder / "tokenizer_config.json").write_text(json.dumps(settings))
    return folder


@pytest.fixture(scope="module")
def scorer(roberta_folder):
    return load_bertscorer(load_config("smoke", bertscore_model=str(roberta_folder)), device="cpu")


def published_ids(folder, sentence: str, prefix_space: bool = True) -> list[int]:
    """bert-score's ids: ``<s>`` + byte-level BPE of the sentence (a space before its first
    word) + ``</s>``."""
    bpe = ByteLevelBPETokenizer(
        str(folder / "vocab.json"), str(folder / "merges.txt"), add_prefix_space=prefix_space
    )
    return [0, *bpe.encode(sentence.strip()).ids, 2]


def published_scores(folder, layer: int, candidate: str, reference: str, prefix_space: bool = True):
    """(P, R, F1) of bert-score's greedy matching: every token's best cosine match among all
    tokens of the other sentence, averaged over its own tokens with ``<s>``/``</s>`` left out."""
    model = RobertaModel.from_pretrained(folder).eval()

    def embed(sentence: str) -> torch.Tensor:
        ids = torch.tensor([published_ids(folder, sentence, prefix_space)])
        with torch.no_grad():
            hidden = model(ids, output_hidden_states=True).hidden_states[layer][0]
        return torch.nn.functional.normalize(hidden, dim=-1)

    cand, ref = embed(candidate), embed(reference)
    similarity = cand @ ref.T
    precision = similarity.max(dim=1).values[1:-1].mean()
    recall = similarity.max(dim=0).values[1:-1].mean()
    return (precision.item(), recall.item(), (2 * precision * recall / (precision + recall)).item())


def test_the_first_word_gets_the_published_token(scorer, roberta_folder):
    encoded = sent_encode(scorer.scorer._tokenizer, "deformation")  # what bert-score encodes
    expected = published_ids(roberta_folder, "deformation")
    assert encoded == expected
    assert expected != published_ids(roberta_folder, "deformation", prefix_space=False)
    for sentence in REFERENCES + CANDIDATES:
        assert sent_encode(scorer.scorer._tokenizer, sentence) == published_ids(
            roberta_folder, sentence
        )


def test_scores_are_bert_scores_published_algorithm(scorer, roberta_folder):
    ours = scorer.score(REFERENCES, CANDIDATES)
    layer = scorer.info.num_layers
    for i, (cand, ref) in enumerate(zip(CANDIDATES, REFERENCES, strict=True)):
        expected = published_scores(roberta_folder, layer, cand, ref)
        row = ours.loc[i, ["bertscore_precision", "bertscore_recall", "bertscore_f1"]].tolist()
        assert row == pytest.approx(expected, abs=1e-5), (cand, ref)
    # the test can tell: without the prefix space the same algorithm scores otherwise
    without = [
        published_scores(roberta_folder, layer, c, r, prefix_space=False)[2]
        for c, r in zip(CANDIDATES, REFERENCES, strict=True)
    ]
    assert max(abs(a - b) for a, b in zip(without, ours["bertscore_f1"], strict=True)) > 1e-3


def test_length_limit_is_declared_or_the_position_embeddings(scorer):
    tokenizer = scorer.scorer._tokenizer
    assert tokenizer.model_max_length == POSITIONS - 2  # declared, or what the positions allow
    long_caption = " ".join(["deformation can be detected on the north side"] * 20)
    assert len(sent_encode(tokenizer, long_caption)) == POSITIONS - 2  # cut, not an overflow
    scores = scorer.score([REFERENCES[0]], [long_caption])
    assert 0 < scores.loc[0, "bertscore_f1"] <= 1


def test_empty_candidates_score_zero_without_being_encoded(scorer):
    scores = scorer.score(REFERENCES[:2], ["", CANDIDATES[1]])
    assert scores.loc[0].tolist() == [0.0, 0.0, 0.0]
    assert scores.loc[1, "bertscore_f1"] > 0


def test_results_record_the_tokenizer_settings(scorer):
    assert scorer.info.tokenizer == {
        "class": "RobertaTokenizer",
        "add_prefix_space": True,
        "max_length": POSITIONS - 2,
        "lowercase": False,
    }
    assert scorer.info.to_dict()["tokenizer"]["add_prefix_space"] is True
