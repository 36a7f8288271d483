"""A rerun continues only its own run: each kind of difference refuses with the message, safe
changes continue, ``resume=False`` starts over; an fp16 loss scaler's state survives a resume;
the Accelerator trains on the device helpers chose; notebook 05 and ``--lora`` agree."""

from __future__ import annotations

import json
from dataclasses import fields
from pathlib import Path

import nbformat
import pytest
import torch
from accelerate import Accelerator
from test_training import (
    interrupt_after_checkpoints,
    losses,
    run_tiny,
    tiny_captions,
    tiny_config,
)
from transformers import get_scheduler

from helpers import device as dev
from helpers.config import CaptionConfig, load_config
from helpers.model.loading import build_stand_in
from helpers.training import loop as training
from helpers.training import resume
from helpers.training.accelerator import make_accelerator
from helpers.training.checkpoints import RUN_FILE, SCALER_FILE, find_checkpoint
from helpers.training.resume import ResumeRefused, rebase_schedule

NOTEBOOK_05 = Path(__file__).resolve().parent.parent / "notebooks" / "05_lora_finetune.ipynb"


def epochs_done(run_dir: Path) -> int:
    return json.loads((find_checkpoint(run_dir) / "state.json").read_text())["epochs_done"]


def refusal(cfg: CaptionConfig, **kwargs) -> str:
    """Train 1 epoch with ``cfg``, rerun with ``kwargs`` changed: return the refusal."""
    run_tiny(cfg.with_overrides(epochs=1))
    with pytest.raises(ResumeRefused) as caught:
        run_tiny(cfg.with_overrides(epochs=1, **kwargs.pop("config", {})), **kwargs)
    assert epochs_done(cfg.run_dir) == 1  # the checkpoint is left as it was
    message = str(caught.value)
    # the two ways out
    assert "run_dir" in message and "--run-dir" in message
    assert "resume=False" in message and "--restart" in message
    return message


def test_every_config_field_is_classified_exactly_once():
    groups = (resume.TRAINING_FIELDS, resume.LORA_FIELDS, resume.SAFE_FIELDS, resume.OTHER_FIELDS)
    classified = [name for group in groups for name in group]
    assert sorted(classified) == sorted(f.name for f in fields(CaptionConfig))


def test_a_changed_learning_rate_refuses(tmp_path):
    message = refusal(tiny_config(tmp_path / "run"), config={"learning_rate": 1e-3})
    assert "learning_rate: 0.002 in the checkpoint, 0.001 now" in message


def test_changed_data_refuses(tmp_path):
    message = refusal(tiny_config(tmp_path / "run"), data_seed=5)
    assert "train data: 8 samples (ids " in message and "val data: 4 samples" in message
    changed_size = refusal(tiny_config(tmp_path / "run2"), n_train=12)
    assert "train data: 8 samples" in changed_size and "12 samples" in changed_size
    assert "val data" not in changed_size


def test_another_model_refuses(tmp_path):
    message = refusal(tiny_config(tmp_path / "run"), config={"model_name": "org/other-blip"})
    assert "model_name: 'random:tiny' in the checkpoint, 'org/other-blip' now" in message


def test_lora_after_a_full_fine_tune_refuses(tmp_path):
    message = refusal(tiny_config(tmp_path / "run"), lora=True)
    assert "trained all weights (a full fine-tune), this run trains LoRA adapters" in message


def test_a_checkpoint_without_a_run_record_refuses(tmp_path):
    cfg = tiny_config(tmp_path / "run", epochs=1)
    run_tiny(cfg)
    (find_checkpoint(cfg.run_dir) / RUN_FILE).unlink()
    with pytest.raises(ResumeRefused, match="records no run settings"):
        run_tiny(cfg)


def test_several_differences_are_all_listed_and_safe_ones_are_not(tmp_path):
    cfg = tiny_config(tmp_path / "run")
    changed = {"batch_size": 2, "seed": 7, "weight_decay": 0.1, "eval_batch_size": 2}
    message = refusal(cfg, config=changed)
    for name in ("batch_size", "seed", "weight_decay"):
        assert f"  - {name}: " in message
    assert "eval_batch_size" not in message


def test_resume_false_starts_over_in_place(tmp_path, capsys):
    cfg = tiny_config(tmp_path / "run", epochs=2)
    run_tiny(cfg)
    (cfg.run_dir / "notes.txt").write_text("mine")
    capsys.readouterr()
    _, result = run_tiny(cfg.with_overrides(learning_rate=1e-3), resume=False)
    assert result.resumed_from_epoch == 0 and len(result.history) == 2
    assert "Starting over in" in capsys.readouterr().out
    assert json.loads((cfg.run_dir / "config.json").read_text())["learning_rate"] == 1e-3
    assert (cfg.run_dir / "notes.txt").read_text() == "mine"  # not the run's: kept


def test_rebased_schedule_gives_the_rate_of_a_run_planned_that_long():
    def schedule(total: int):
        optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
        return optimizer, get_scheduler("linear", optimizer, 1, total)

    optimizer, short = schedule(4)
    for _ in range(3):
        optimizer.step()
        short.step()
    saved = short.state_dict()
    planned_optimizer, planned = schedule(10)  # what a 10-step run has after 3 steps
    for _ in range(3):
        planned_optimizer.step()
        planned.step()

    optimizer, rebuilt = schedule(10)
    optimizer.param_groups[0]["lr"] = short.get_last_lr()[0]  # the optimizer state's rate
    rebuilt.load_state_dict(saved)
    old, new = rebase_schedule(optimizer, rebuilt)
    assert old == short.get_last_lr()[0]
    assert new == optimizer.param_groups[0]["lr"] == planned.get_last_lr()[0] != old
    assert rebuilt.get_last_lr() == planned.get_last_lr()


# --- fp16: the loss scaler ---


def with_loss_scaler(monkeypatch) -> None:
    """Give the Accelerator a real loss scaler on the CPU (Accelerate makes one for fp16 on
    GPUs only); it doubles its scale every update, so its state changes each step."""
    real = training.make_accelerator

    def make(cfg):
        accelerator, choice = real(cfg)
        accelerator.scaler = torch.amp.GradScaler("cpu", init_scale=2.0**10, growth_interval=1)
        return accelerator, choice

    monkeypatch.setattr(training, "make_accelerator", make)


def test_the_loss_scaler_state_survives_a_resume(tmp_path, monkeypatch):
    with_loss_scaler(monkeypatch)
    _, straight = run_tiny(tiny_config(tmp_path / "straight"))
    cfg = tiny_config(tmp_path / "resumed")
    with monkeypatch.context() as patch:
        interrupt_after_checkpoints(patch, 1)
        with pytest.raises(KeyboardInterrupt):
            run_tiny(cfg)
    _, resumed = run_tiny(cfg)
    assert resumed.resumed_from_epoch == 1
    assert losses(resumed.history) == losses(straight.history)
    scaler_a = torch.load(straight.run_dir / "last" / SCALER_FILE, weights_only=True)
    scaler_b = torch.load(resumed.run_dir / "last" / SCALER_FILE, weights_only=True)
    assert scaler_a["scale"] > 2.0**10 and scaler_b == scaler_a  # a fresh scaler would lag


# --- the device ---


def test_the_accelerator_trains_on_the_device_helpers_chose(monkeypatch):
    # an Intel GPU and an NVIDIA GPU: helpers prefers xpu, Accelerate alone would take cuda
    monkeypatch.delenv("CAPTION_DEVICE", raising=False)
    monkeypatch.setattr(dev, "is_available", lambda d: d in ("xpu", "cuda", "cpu"))
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    accelerator, choice = make_accelerator(load_config("smoke", precision="fp32"))
    assert choice.device == "xpu" and accelerator.device.type == "xpu"


def test_an_accelerator_on_another_device_is_refused(monkeypatch):
    Accelerator(cpu=True)  # an earlier Accelerator fixed the shared state on the CPU
    monkeypatch.setattr(dev, "is_available", lambda d: d in ("xpu", "cpu"))
    with pytest.raises(RuntimeError, match="Accelerate set this process up on cpu, but helpers"):
        make_accelerator(load_config("smoke", device="xpu", precision="fp32"))


# --- one LoRA setup ---


def test_notebook_05_and_the_command_line_make_the_same_lora_config():
    from helpers.training import cli

    knobs = next(
        c
        for c in nbformat.read(NOTEBOOK_05, as_version=4).cells
        if c.cell_type == "code" and "PROFILE =" in c.source
    )
    namespace: dict = {}
    exec(knobs.source.replace("PROFILE = None", 'PROFILE = "demo"'), namespace)
    from_cli = cli.config_from_args(
        cli.parse_args(["--profile", "demo", "--lora", "--cache-image-features", "auto"])
    )
    assert namespace["lora_cfg"] == from_cli
    assert from_cli.learning_rate == 4 * load_config("demo").learning_rate
    assert from_cli.run_dir.name == "demo-lora"


def test_a_run_recorded_eager_without_compile_resumes_under_the_new_defaults(tmp_path):
    """A checkpoint written before SDPA and compile were defaults: attention and compile do not
    change the weights, so both are safe changes, named when the run continues."""
    cfg = tiny_config(tmp_path / "run")
    model, data = build_stand_in("random:tiny", cfg.image_size), tiny_captions(4, seed=1)
    old = resume.run_record(cfg.with_overrides(attn_implementation="eager"), model, data, data)
    del old["config"]["compile"]  # older versions of helpers had no such field
    check = resume.check_resume(old, resume.run_record(cfg, model, data, data))
    assert check.conflicts == []
    assert check.changes == {"attn_implementation": ("eager", "sdpa"), "compile": (None, "auto")}
