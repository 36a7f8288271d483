"""Checkpoint pieces on their own: publishing folders, random states, weight checks, history.
``test_training.py`` covers them inside real training runs (resume, interrupted writes)."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from helpers.training.checkpoints import (
    STATE_FILE,
    find_checkpoint,
    load_trainable_state,
    publish,
    read_history,
    rng_state,
    set_rng_state,
    trainable_state_dict,
    write_history,
)


def draws() -> tuple[float, float, float]:
    return random.random(), float(np.random.rand()), torch.rand(1).item()


def test_random_states_round_trip_through_a_weights_only_file(tmp_path):
    torch.save(rng_state(), tmp_path / "rng.pt")
    expected = draws()
    set_rng_state(torch.load(tmp_path / "rng.pt", weights_only=True))
    assert draws() == expected


def test_publish_replaces_a_folder_and_find_survives_the_rename_window(tmp_path):
    last = tmp_path / "last"
    for epoch in (1, 2):
        tmp = tmp_path / ".tmp"
        tmp.mkdir()
        (tmp / STATE_FILE).write_text(str(epoch))
        publish(tmp, last)
    assert (last / STATE_FILE).read_text() == "2" and not (tmp_path / ".tmp").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last"]

    last.rename(tmp_path / ".last.old")  # a crash after "rename the old one aside"
    assert (find_checkpoint(tmp_path) / STATE_FILE).read_text() == "2"
    (tmp_path / ".last.old" / STATE_FILE).unlink()  # incomplete folders do not count
    assert find_checkpoint(tmp_path) is None


def test_trainable_weights_must_match_the_model(tmp_path):
    model = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.LayerNorm(2))
    model[1].requires_grad_(False)
    saved = trainable_state_dict(model)
    assert sorted(saved) == ["0.bias", "0.weight"]
    other = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.LayerNorm(2).requires_grad_(False))
    load_trainable_state(other, saved, tmp_path / "w.safetensors")
    assert torch.equal(other[0].weight, model[0].weight)
    with pytest.raises(ValueError, match=r"w\.safetensors.*missing: \['1.bias', '1.weight'\]"):
        load_trainable_state(model.requires_grad_(True), saved, tmp_path / "w.safetensors")


def test_history_round_trip(tmp_path):
    rows = [
        {"epoch": 1, "train_loss": 2.5, "val_loss": 2.0, "learning_rate": 1e-4},
        {"epoch": 2, "train_loss": 1.5, "val_loss": 1.8, "learning_rate": 5e-5},
    ]
    rows = [dict(row, seconds=3.0, samples_per_second=10.0, peak_memory_mb=812.5) for row in rows]
    write_history(tmp_path / "history.csv", rows)  # a history from before the device columns
    assert read_history(tmp_path / "history.csv") == rows
    rows = [dict(row, device="xpu", precision="bf16") for row in rows]
    write_history(tmp_path / "history.csv", rows)
    assert read_history(tmp_path / "history.csv") == rows
