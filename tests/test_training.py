"""The training loop on the tiny stand-in (CPU, fp32): history, exports, resume, atomic
checkpoints, non-finite losses and early stopping. ``test_ddp.py`` reuses the tiny data below."""

from __future__ import annotations

import contextlib
import json
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

from helpers.config import CaptionConfig, load_config
from helpers.model.loading import (
    build_offline_processor,
    build_stand_in,
    count_parameters,
    load_captioner,
)
from helpers.model.lora import apply_lora
from helpers.training import checkpoints as checkpointing
from helpers.training import loop as training
from helpers.training.checkpoints import HISTORY_COLUMNS, find_checkpoint, read_history
from helpers.training.loop import (
    EpochShuffleSampler,
    NonFiniteLossError,
    ResumeRefused,
    parameter_groups,
    train,
)

IMAGE_SIZE = 32
# every caption is 4 word pieces, so all samples weigh the same in a token-averaged loss
WORDS_A = ("no", "strong", "weak", "clear", "small", "large")
WORDS_B = ("deformation", "fringe", "noise", "signal")


def tiny_captions(n: int, seed: int) -> list[dict]:
    """``n`` random images with short captions whose first word follows the image's brightness."""
    rng = np.random.default_rng(seed)
    items = []
    for i in range(n):
        level = i % len(WORDS_A)
        pixels = rng.integers(0, 40, (IMAGE_SIZE, IMAGE_SIZE, 3)) + 40 * level
        caption = f"{WORDS_A[level]} {WORDS_B[i % len(WORDS_B)]} {WORDS_A[(i + 1) % 6]} ."
        image = Image.fromarray(pixels.astype(np.uint8))
        items.append({"unique_id": f"{seed}-{i}", "image": image, "caption": caption})
    return items


class TinyCollate:
    """What ``helpers.data.batching.CaptionCollator`` does, padded to a fixed length."""

    def __init__(self, processor, max_length: int = 8) -> None:
        self.processor, self.max_length = processor, max_length

    def __call__(self, items: list[dict]) -> dict[str, torch.Tensor]:
        enc = self.processor(
            images=[item["image"] for item in items],
            text=[item["caption"] for item in items],
            padding="max_length",
            max_length=self.max_length,
            truncation=True,
            return_tensors="pt",
        )
        labels = enc["input_ids"].masked_fill(enc["attention_mask"] == 0, -100)
        return {**enc, "labels": labels}


def tiny_config(run_dir: Path, **overrides) -> CaptionConfig:
    settings = dict(
        device="cpu",
        precision="fp32",
        image_size=IMAGE_SIZE,
        epochs=3,
        batch_size=4,
        eval_batch_size=4,
        learning_rate=2e-3,
        warmup_ratio=0.2,
        early_stopping_patience=0,
        run_dir=run_dir,
    )
    return load_config("smoke", **{**settings, **overrides})


def run_tiny(
    cfg: CaptionConfig,
    *,
    lora: bool = False,
    n_train: int = 8,
    n_val: int = 4,
    data_seed: int = 1,
    resume: bool = True,
):
    """Build the tiny stand-in (seeded) and train it on the tiny data; return (model, result)."""
    model = build_stand_in("random:tiny", cfg.image_size, seed=cfg.seed)
    if lora:
        model = apply_lora(model, cfg)
    processor = build_offline_processor(cfg.image_size)
    collate = TinyCollate(processor)
    data = tiny_captions(n_train, seed=data_seed), tiny_captions(n_val, seed=data_seed + 1)
    return model, train(cfg, model, processor, *data, collate, resume=resume)


def losses(history: list[dict]) -> list[tuple[float, float]]:
    return [(row["train_loss"], row["val_loss"]) for row in history]


def interrupt_after_checkpoints(monkeypatch, count: int) -> None:
    """Make training stop like a Ctrl-C right after its ``count``-th checkpoint."""
    calls = []
    real = training.save_checkpoint

    def save_then_maybe_stop(*args, **kwargs):
        path = real(*args, **kwargs)
        calls.append(path)
        if len(calls) == count:
            raise KeyboardInterrupt
        return path

    monkeypatch.setattr(training, "save_checkpoint", save_then_maybe_stop)


def test_sampler_order_depends_only_on_seed_and_epoch():
    sampler = EpochShuffleSampler(10, seed=3)
    first = list(sampler)
    sampler.set_epoch(1)
    second = list(sampler)
    assert sorted(first) == list(range(10)) and first != second
    again = EpochShuffleSampler(10, seed=3)
    again.set_epoch(1)
    assert list(again) == second


def test_no_weight_decay_on_biases_and_layer_norms():
    model = build_stand_in("random:tiny", IMAGE_SIZE)
    decay, no_decay = parameter_groups(model, 0.01)
    names = {id(p): n for n, p in model.named_parameters()}
    skipped = {names[id(p)] for p in no_decay["params"]}
    assert no_decay["weight_decay"] == 0.0 and decay["weight_decay"] == 0.01
    assert "text_decoder.bert.encoder.layer.0.attention.self.query.bias" in skipped
    assert "vision_model.post_layernorm.weight" in skipped
    decayed = {names[id(p)] for p in decay["params"]}
    assert all(name.endswith(("weight", "embedding")) for name in decayed)
    assert not any("norm" in name.lower() for name in decayed)


def test_train_writes_history_checkpoint_and_reloadable_exports(tmp_path, capsys):
    cfg = tiny_config(tmp_path / "run", epochs=2)
    model, result = run_tiny(cfg)
    assert not model.training
    history = read_history(result.history_path)
    assert list(history[0]) == list(HISTORY_COLUMNS)
    assert [row["epoch"] for row in history] == [1, 2]
    assert history[1]["train_loss"] < history[0]["train_loss"]
    for row in history:  # run_tiny's 8 images over the epoch's seconds, both rounded to 1e-3
        slowest, fastest = row["seconds"] + 5e-4, row["seconds"] - 5e-4
        assert 8 / slowest - 5e-4 <= row["samples_per_second"] <= 8 / fastest + 5e-4
    assert json.loads((result.run_dir / "config.json").read_text())["epochs"] == 2
    state = json.loads((find_checkpoint(result.run_dir) / "state.json").read_text())
    assert state["epochs_done"] == 2 and state["best_epoch"] == result.best_epoch
    printed = capsys.readouterr().out
    assert "Resuming" not in printed
    summary = json.loads((result.run_dir / "summary.json").read_text())
    assert f"validation loss before training: {summary['initial_val_loss']:.4f}" in printed
    # the untrained model starts near chance (ln of the vocabulary) and training improves on it
    assert summary["initial_val_loss"] > result.best_val_loss == summary["best_val_loss"]
    counted = count_parameters(model)
    assert (summary["trainable_parameters"], summary["total_parameters"]) == counted
    assert counted[0] == counted[1]  # a full fine-tune trains every weight
    assert summary["device"] == "cpu" and summary["precision"] == "fp32"
    assert {(row["device"], row["precision"]) for row in history} == {("cpu", "fp32")}

    # final/ (= the best epoch) reloads like a Hub model and matches the returned model
    # the stand-in trained with eager attention: reload it so, for bit-identical logits
    eager = cfg.with_overrides(model_name=str(result.final_dir), attn_implementation="eager")
    reloaded = load_captioner(eager)
    batch = TinyCollate(reloaded.processor)(tiny_captions(2, seed=5))
    inputs = {name: value for name, value in batch.items() if name != "labels"}
    with torch.no_grad():
        assert torch.equal(reloaded.model(**inputs).logits, model(**inputs).logits)
        assert torch.equal(reloaded.model(**batch).loss, model(**batch).loss)
    assert (result.final_dir / "model.safetensors").is_file()


@pytest.mark.parametrize("lora", [False, True], ids=["full", "lora"])
def test_resumed_run_matches_uninterrupted_run(tmp_path, monkeypatch, capsys, lora):
    # the full fine-tune also accumulates gradients over 2 batches of 2
    extra = {} if lora else {"batch_size": 2, "gradient_accumulation_steps": 2}
    _, straight = run_tiny(tiny_config(tmp_path / "straight", **extra), lora=lora)

    cfg = tiny_config(tmp_path / "resumed", **extra)
    with monkeypatch.context() as patch:
        interrupt_after_checkpoints(patch, 1)
        with pytest.raises(KeyboardInterrupt):
            run_tiny(cfg, lora=lora)
    capsys.readouterr()
    _, resumed = run_tiny(cfg, lora=lora)
    assert "Resuming from" in capsys.readouterr().out
    assert resumed.resumed_from_epoch == 1

    assert losses(resumed.history) == losses(straight.history)
    files = ["model.safetensors"] + (["adapter/adapter_model.safetensors"] if lora else [])
    for name in files:
        a, b = load_file(straight.final_dir / name), load_file(resumed.final_dir / name)
        assert a.keys() == b.keys()
        assert all(torch.equal(a[k], b[k]) for k in a), name


def test_interrupted_checkpoint_write_keeps_previous_checkpoint(tmp_path, monkeypatch, capsys):
    cfg = tiny_config(tmp_path / "run", epochs=2)
    real_save = torch.save
    optimizer_saves = []

    def dying_save(obj, path, *args, **kwargs):
        if Path(path).name == checkpointing.OPTIMIZER_FILE:
            optimizer_saves.append(path)
            if len(optimizer_saves) == 2:  # epoch 2: half a file, then the disk is full
                Path(path).write_bytes(b"PK\x03\x04 half a file")
                raise OSError(28, "No space left on device")
        return real_save(obj, path, *args, **kwargs)

    with monkeypatch.context() as patch:
        patch.setattr(torch, "save", dying_save)
        with pytest.raises(OSError, match="No space left"):
            run_tiny(cfg)
    last = find_checkpoint(cfg.run_dir)
    assert last == cfg.run_dir / "last"
    assert json.loads((last / "state.json").read_text())["epochs_done"] == 1
    torch.load(last / checkpointing.OPTIMIZER_FILE, weights_only=True)  # intact, loadable

    capsys.readouterr()
    _, result = run_tiny(cfg)
    assert "1 of 2 epochs done" in capsys.readouterr().out
    assert [row["epoch"] for row in result.history] == [1, 2]


def test_non_finite_loss_stops_and_keeps_last_good_checkpoint(tmp_path, capsys):
    cfg = tiny_config(tmp_path / "run")
    model = build_stand_in("random:tiny", IMAGE_SIZE, seed=cfg.seed)
    processor = build_offline_processor(IMAGE_SIZE)
    calls_per_epoch = 2 + 1  # 8 training samples in batches of 4, then 4 validation samples
    calls_before_training = 1  # the validation loss of the untrained model
    calls = []

    def nan_from_epoch_2(module, args, kwargs, output):
        calls.append(1)
        if len(calls) > calls_before_training + calls_per_epoch:
            output.loss = output.loss * float("nan")
        return output

    hook = model.register_forward_hook(nan_from_epoch_2, with_kwargs=True)
    data = tiny_captions(8, seed=1), tiny_captions(4, seed=2)
    with pytest.raises(NonFiniteLossError) as caught:
        train(cfg, model, processor, *data, TinyCollate(processor))
    message = str(caught.value)
    assert "nan" in message and "epoch 2" in message and "step 1" in message
    assert "learning_rate" in message and "fp32" in message and "after epoch 1" in message

    last = find_checkpoint(cfg.run_dir)
    assert json.loads((last / "state.json").read_text())["epochs_done"] == 1
    saved = load_file(last / checkpointing.WEIGHTS_FILE)
    assert all(torch.isfinite(t).all() for t in saved.values())
    best = load_file(cfg.run_dir / "best" / "model.safetensors")  # epoch 1 was the best
    name = "text_decoder.bert.embeddings.word_embeddings.weight"
    assert torch.equal(saved[name], best[name])

    hook.remove()
    capsys.readouterr()
    _, result = run_tiny(cfg)
    assert "1 of 3 epochs done" in capsys.readouterr().out and len(result.history) == 3


def test_early_stopping_after_patience_epochs_without_improvement(tmp_path, capsys):
    # learning rate 0: the validation loss never improves after epoch 1
    cfg = tiny_config(tmp_path / "run", epochs=6, learning_rate=0.0, early_stopping_patience=2)
    _, result = run_tiny(cfg)
    assert [row["epoch"] for row in result.history] == [1, 2, 3]
    assert result.stopped_early and result.best_epoch == 1
    assert len({row["val_loss"] for row in result.history}) == 1
    assert "Early stopping" in capsys.readouterr().out

    capsys.readouterr()
    _, again = run_tiny(cfg)  # a rerun of a finished run does not train again
    assert again.history == result.history and again.resumed_from_epoch == 3


def test_more_epochs_continue_the_run_and_explain_the_learning_rate(tmp_path, capsys):
    run_tiny(tiny_config(tmp_path / "run", epochs=1))
    capsys.readouterr()
    _, result = run_tiny(tiny_config(tmp_path / "run", epochs=2))
    assert result.resumed_from_epoch == 1 and len(result.history) == 2
    out = capsys.readouterr().out
    assert (
        "1 of 2 epochs done. Changed since the checkpoint, safe to continue: epochs 1 -> 2." in out
    )
    # 2 updates per epoch (8 samples, batches of 4): after update 2 of the rebuilt 4-update
    # schedule the rate is half the base rate (2e-3), where the 1-epoch schedule had reached 0
    assert "rebuilt for 2 epochs (4 updates)" in out
    assert "after update 2 the rate is 0.001 instead of 0 (the 1-epoch schedule's)" in out
    # resuming with the same settings says nothing about changes
    run_tiny(tiny_config(tmp_path / "run2", epochs=1))
    run_tiny(tiny_config(tmp_path / "run2", epochs=1))
    assert "Changed since" not in capsys.readouterr().out


# --- the command line (the only part that uses helpers.data.prepare) ---


def test_cli_trains_the_smoke_profile_and_lora_gets_its_own_run_dir(tmp_path, capsys):
    from helpers.training import cli

    args = ["--profile", "smoke", "--device", "cpu", "--epochs", "1"]
    args += ["--data-dir", str(tmp_path / "data"), "--run-dir", str(tmp_path / "run")]
    result = cli.main(args)
    assert result.run_dir == tmp_path / "run" and len(result.history) == 1
    assert (result.final_dir / "model.safetensors").is_file()
    assert "Model: random:tiny" in capsys.readouterr().out
    with pytest.raises(ResumeRefused, match=r"learning_rate: 0\.001 in the checkpoint, 0\.0005"):
        cli.main([*args, "--learning-rate", "5e-4"])
    restarted = cli.main([*args, "--learning-rate", "5e-4", "--restart"])
    assert restarted.resumed_from_epoch == 0 and "Starting over" in capsys.readouterr().out

    lora = cli.config_from_args(cli.parse_args(["--profile", "demo", "--lora", "--epochs", "4"]))
    assert lora.run_dir.name == "demo-lora" and lora.epochs == 4 and lora.profile == "demo"
    assert lora.learning_rate == 4 * load_config("demo").learning_rate
    rate = cli.config_from_args(cli.parse_args(["--lora", "--learning-rate", "3e-4"]))
    assert rate.learning_rate == 3e-4 and rate.run_dir.name == "full-lora"
    assert lora.batch_size == load_config("demo").batch_size
    assert lora.cache_image_features is False
    cached = cli.config_from_args(cli.parse_args(["--lora", "--cache-image-features"]))
    assert cached.cache_image_features is True


def test_cli_reports_the_data_from_the_main_process_only(tmp_path, monkeypatch, capsys):
    from helpers.training import cli

    class OtherProcess:  # what make_accelerator gives a DDP process other than the main one
        is_main_process = False

        def main_process_first(self):
            return contextlib.nullcontext()

    args = ["--profile", "smoke", "--device", "cpu", "--epochs", "1"]
    args += ["--data-dir", str(tmp_path / "data"), "--run-dir", str(tmp_path / "run")]
    with pytest.warns(UserWarning, match="SYNTHETIC"):
        cli.main(args)  # the main process: writes the synthetic set and says so
    assert "SYNTHETIC STAND-IN DATA" in capsys.readouterr().out
    monkeypatch.setattr(cli, "make_accelerator", lambda cfg: (OtherProcess(), None))
    monkeypatch.setenv("RANK", "1")  # what accelerate launch sets in the second process
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message=".*SYNTHETIC")  # the banner's warning fails
        cli.main([*args, "--run-dir", str(tmp_path / "run2")])
    out = capsys.readouterr().out
    assert "SYNTHETIC" not in out and "Split:" not in out
