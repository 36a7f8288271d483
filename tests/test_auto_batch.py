"""Automatic batch size: out-of-memory halves the batch, doubles accumulation, keeps the
optimizer's steps and the schedule, survives a resume, and gives advice below batch 1."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
import torch
from safetensors.torch import load_file
from test_training import TinyCollate, tiny_captions, tiny_config

from helpers.model.loading import build_offline_processor, build_stand_in
from helpers.oom import BatchTooLargeError
from helpers.training.checkpoints import read_history
from helpers.training.loop import train

OOM_ERRORS: dict[str, Callable[[], BaseException]] = {
    "cuda": lambda: torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB"),
    "xpu": lambda: torch.OutOfMemoryError("XPU out of memory. Tried to allocate 2.00 GiB"),
    "xpu (old extension)": lambda: RuntimeError("XPU out of memory. Tried to allocate 1 GiB"),
    "mps": lambda: RuntimeError("MPS backend out of memory (MPS allocated: 7.9 GiB)"),
}


def run(cfg, fits_up_to: int | None = None, error=OOM_ERRORS["cuda"], n_train: int = 16):
    """Train the tiny stand-in; its forward raises ``error()`` above ``fits_up_to`` samples in
    training. Returns the result and the size of every training forward pass."""
    model = build_stand_in("random:tiny", cfg.image_size, seed=cfg.seed)
    sizes: list[int] = []
    forward = model.forward

    def limited_forward(**batch):
        size = batch["pixel_values"].shape[0]
        if model.training:  # training micro-batches only (validation runs in eval mode)
            sizes.append(size)
            if fits_up_to is not None and size > fits_up_to:
                raise error()
        return forward(**batch)

    model.forward = limited_forward
    processor = build_offline_processor(cfg.image_size)
    data = tiny_captions(n_train, seed=1), tiny_captions(4, seed=2)
    result = train(cfg, model, processor, *data, TinyCollate(processor))
    return result, sizes


def final_weights(result) -> dict[str, torch.Tensor]:
    return load_file(result.run_dir / "last" / "trainable.safetensors")


@pytest.mark.parametrize("device", list(OOM_ERRORS))
def test_out_of_memory_halves_the_batch_and_matches_a_run_started_there(
    tmp_path, device: str, capsys: pytest.CaptureFixture
) -> None:
    cfg = tiny_config(tmp_path / "auto", batch_size=4, epochs=2, auto_batch_size=True)
    halved, sizes = run(cfg, fits_up_to=3, error=OOM_ERRORS[device])
    out = capsys.readouterr().out
    assert "at batch 4: continuing at batch 2 x 2 accumulation steps" in out
    assert "(still 4 samples per optimizer step, same schedule)" in out

    plain = tiny_config(tmp_path / "plain", batch_size=2, gradient_accumulation_steps=2, epochs=2)
    reference, _ = run(plain)

    history = read_history(halved.history_path)
    assert [row["batch_size"] for row in history] == [2, 2]
    assert [row["accumulation_steps"] for row in history] == [2, 2]
    assert [r["learning_rate"] for r in halved.history] == [
        r["learning_rate"] for r in reference.history
    ]  # same optimizer steps per epoch, same schedule
    for name, value in final_weights(reference).items():
        torch.testing.assert_close(final_weights(halved)[name], value, rtol=1e-5, atol=1e-6)
    if device == "cuda":  # every tiny caption has the same token count, so the token-mean loss
        # of the whole batch of 4 equals the mean of its two halves: the run that never ran out
        # of memory ends with the same weights too
        whole, _ = run(tiny_config(tmp_path / "whole", batch_size=4, epochs=2))
        for name, value in final_weights(whole).items():
            torch.testing.assert_close(final_weights(halved)[name], value, rtol=1e-4, atol=1e-5)
    summary = json.loads((halved.run_dir / "summary.json").read_text())
    assert summary["batch_size"] == 2 and summary["samples_per_optimizer_step"] == 4
    assert sizes[0] == 4 and set(sizes[1:]) == {2}  # one failed attempt at 4, then 2s


def test_an_error_that_is_not_out_of_memory_is_not_swallowed(tmp_path) -> None:
    cfg = tiny_config(tmp_path, batch_size=4, auto_batch_size=True)
    with pytest.raises(RuntimeError, match="device-side assert"):
        run(cfg, fits_up_to=3, error=lambda: RuntimeError("CUDA error: device-side assert"))


def test_off_means_the_out_of_memory_error_propagates(tmp_path) -> None:
    cfg = tiny_config(tmp_path, batch_size=4, auto_batch_size=False)
    with pytest.raises(torch.OutOfMemoryError):
        run(cfg, fits_up_to=3)


def test_below_batch_one_it_gives_up_with_the_memory_advice(tmp_path) -> None:
    cfg = tiny_config(tmp_path, batch_size=4, auto_batch_size=True)
    with pytest.raises(BatchTooLargeError) as caught:
        run(cfg, fits_up_to=0)
    message = str(caught.value)
    assert "One sample per step does not fit" in message
    assert "Estimated peak training memory" in message and "Free memory now" in message


def test_a_resumed_run_keeps_the_reduced_batch(tmp_path, capsys: pytest.CaptureFixture) -> None:
    first = tiny_config(tmp_path, batch_size=4, epochs=1, auto_batch_size=True)
    run(first, fits_up_to=3)
    capsys.readouterr()
    resumed, sizes = run(first.with_overrides(epochs=2))  # would fit 4 now: must not re-search
    assert "Keeping the batch this run settled on earlier: 2 per micro-batch" in (
        capsys.readouterr().out
    )
    assert sizes and set(sizes) == {2}  # the resumed epoch trained at 2, no new search
    assert [row["batch_size"] for row in read_history(resumed.history_path)] == [2, 2]
