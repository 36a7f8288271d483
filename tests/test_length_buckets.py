"""Caption lengths in buckets: ``caption_collator`` pads every batch to a multiple of
``LENGTH_BUCKET`` tokens with padding the loss ignores, so a compiled training step sees a few
lengths and compiles a bounded number of graphs over batches of many caption lengths."""

from __future__ import annotations

import math

import pytest
import torch
from compile_fixtures import CountingBackend

from helpers.data.batching import LENGTH_BUCKET, CaptionCollator, pad_to_multiple
from helpers.model.collators import caption_collator
from helpers.model.loading import build_offline_processor, build_stand_in, decoder_start_token_id
from helpers.training.compilation import CompiledModule

SIZE = 32
WORD_COUNTS = (1, 3, 6, 10, 15, 21, 28, 36, 45, 55)  # captions from 3 to about 60 tokens


def items(words: int, count: int = 2) -> list[dict]:
    generator = torch.Generator().manual_seed(words)
    pixels = torch.rand(count, 3, SIZE, SIZE, generator=generator)
    return [
        {"pixel_values": pixels[i], "caption": " ".join(["fringes"] * (words + i))}
        for i in range(count)
    ]


@pytest.fixture(scope="module")
def tiny():
    model = build_stand_in("random:tiny", SIZE, seed=0)
    return model, build_offline_processor(SIZE)


def test_pad_to_multiple():
    ids = torch.ones(2, 17, dtype=torch.long)
    padded = pad_to_multiple(ids, 16, -100)
    assert padded.shape == (2, 32) and (padded[:, 17:] == -100).all()
    assert pad_to_multiple(ids[:, :16], 16, 0).shape == (2, 16)
    assert pad_to_multiple(ids, None, 0) is ids


def test_buckets_add_only_padding_the_loss_ignores(tiny):
    model, processor = tiny
    bucketed = caption_collator(model, processor, 128)
    longest = CaptionCollator(processor, 128, decoder_start_token_id(model))
    model.eval()
    for words in (1, 14, 40):
        batch, plain = bucketed(items(words)), longest(items(words))
        width = plain["input_ids"].shape[1]
        assert batch["input_ids"].shape[1] == LENGTH_BUCKET * math.ceil(width / LENGTH_BUCKET)
        assert torch.equal(batch["input_ids"][:, :width], plain["input_ids"])
        assert (batch["attention_mask"][:, width:] == 0).all()
        assert (batch["labels"][:, width:] == -100).all()
        with torch.no_grad():
            torch.testing.assert_close(model(**batch).loss, model(**plain).loss)


@pytest.mark.slow
def test_varied_caption_lengths_compile_a_bounded_number_of_graphs(tiny):
    torch._dynamo.reset()
    model, processor = tiny
    collate = caption_collator(model, processor, 128)
    raw = CaptionCollator(processor, 128, decoder_start_token_id(model))
    backend = CountingBackend()
    compiled = CompiledModule(model, backend)
    compiled.train()
    lengths, graphs_for_one_length = set(), None
    for words in WORD_COUNTS:
        batch = collate(items(words))
        lengths.add(raw(items(words))["input_ids"].shape[1])
        compiled(**batch).loss.backward()
        graphs_for_one_length = graphs_for_one_length or backend.graphs
    buckets = {math.ceil(length / LENGTH_BUCKET) for length in lengths}
    print(f"{len(lengths)} caption lengths in {len(buckets)} buckets: {backend.graphs} graphs")
    assert not compiled.failed and len(lengths) == len(WORD_COUNTS) > len(buckets)
    assert backend.graphs <= graphs_for_one_length * len(buckets)
