"""Live curves through Accelerate's trackers: what TensorBoard gets, and a resumed run's curves."""

from __future__ import annotations

import importlib.util

import pytest
from test_training import run_tiny, tiny_config

from helpers.training import tracking
from helpers.training.tracking import LOG_FOLDER, CurveLogger, read_curves, start_trackers

# 8 training samples at batch 4: 2 updates per epoch, 6 in 3 epochs
UPDATES_PER_EPOCH = 2


def steps(curve: list[tuple[int, float]]) -> list[int]:
    return [step for step, _ in curve]


def test_tensorboard_gets_the_loss_of_every_logged_step(tmp_path, capsys):
    cfg = tiny_config(tmp_path / "run", log_with="tensorboard", log_every_steps=1)
    _, result = run_tiny(cfg)
    curves = read_curves(result.run_dir)

    assert steps(curves["train/loss"]) == [1, 2, 3, 4, 5, 6]
    assert steps(curves["train/learning_rate"]) == [1, 2, 3, 4, 5, 6]
    assert steps(curves["train/grad_norm"]) == [1, 2, 3, 4, 5, 6]
    assert all(norm > 0 for _, norm in curves["train/grad_norm"])
    # the mean of an epoch's logged losses is the epoch's training loss in history.csv
    for epoch, row in enumerate(result.history):
        logged = [loss for step, loss in curves["train/loss"] if (step - 1) // 2 == epoch]
        assert sum(logged) / len(logged) == pytest.approx(row["train_loss"], rel=1e-5)
    # validation loss before training (step 0) and after each epoch
    assert steps(curves["val/loss"]) == [0, 2, 4, 6]
    assert [v for _, v in curves["val/loss"][1:]] == pytest.approx(
        [row["val_loss"] for row in result.history], rel=1e-6
    )
    assert steps(curves["train/samples_per_second"]) == [2, 4, 6]
    # the curves say what made them: here a random-init model on synthetic data
    assert curves["provenance"] == [(0, cfg.provenance(True))]
    assert cfg.provenance(True).endswith("not a Hephaestus result")


def test_losses_are_averaged_between_logged_steps():
    logged = []

    class Recorder:
        def log(self, values, step):
            logged.append((step, values))

        def finish(self):
            pass

    logger = CurveLogger([Recorder()], every=2)
    for step, loss in enumerate([4.0, 2.0, 1.0, 3.0], start=1):
        logger.update(step, loss, learning_rate=0.1 * step, grad_norm=float(step))
    assert [step for step, _ in logged] == [2, 4]
    assert logged[0][1] == {"train/loss": 3.0, "train/learning_rate": 0.2, "train/grad_norm": 1.5}
    assert logged[1][1]["train/loss"] == 2.0
    with pytest.raises(ValueError, match="log_every_steps=0"):
        CurveLogger([], every=0)


def test_resumed_run_continues_the_curves_without_duplicate_steps(tmp_path, monkeypatch, capsys):
    straight_cfg = tiny_config(tmp_path / "straight", log_with="tensorboard", log_every_steps=1)
    _, straight = run_tiny(straight_cfg)

    cfg = tiny_config(tmp_path / "resumed", log_with="tensorboard", log_every_steps=1)
    real_update = CurveLogger.update

    def killed_after_step_3(self, step, *args):
        real_update(self, step, *args)
        if step == 3:  # logged, but epoch 2 never reaches its checkpoint
            raise KeyboardInterrupt

    with monkeypatch.context() as patch:
        patch.setattr(CurveLogger, "update", killed_after_step_3)
        with pytest.raises(KeyboardInterrupt):
            run_tiny(cfg)
    _, resumed = run_tiny(cfg)
    assert resumed.resumed_from_epoch == 1

    raw = read_curves(resumed.run_dir, purge=False)
    assert steps(raw["train/loss"]).count(3) == 2  # the killed process logged step 3 too
    shown = read_curves(resumed.run_dir)
    expected = read_curves(straight.run_dir)
    for tag in ("train/loss", "train/learning_rate", "val/loss"):
        assert steps(shown[tag]) == steps(expected[tag])  # every step once, in order
        assert [v for _, v in shown[tag]] == pytest.approx([v for _, v in expected[tag]])
    assert shown["provenance"] == expected["provenance"]  # once, at step 0


def test_no_tracker_no_logs(tmp_path, capsys):
    _, result = run_tiny(tiny_config(tmp_path / "run", epochs=1))
    assert not (result.run_dir / LOG_FOLDER).exists()
    assert start_trackers(None, tmp_path, 0) == []


def test_missing_tracker_package_says_how_to_install(tmp_path, monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(
        tracking.importlib.util,
        "find_spec",
        lambda name, *a: None if name == "tensorboard" else real(name, *a),
    )
    with pytest.raises(ModuleNotFoundError, match="needs the 'tensorboard' package.*uv add"):
        start_trackers("tensorboard", tmp_path, 0)


def test_unknown_tracker_is_refused_by_accelerate(tmp_path):
    with pytest.raises(ValueError, match="Unsupported logging capability: nonsense"):
        start_trackers("nonsense", tmp_path, 0)


def test_cli_flag_sets_the_tracker():
    from helpers.training.cli import config_from_args, parse_args

    args = parse_args(["--profile", "smoke", "--log-with", "tensorboard", "--log-every-steps", "5"])
    cfg = config_from_args(args)
    assert (cfg.log_with, cfg.log_every_steps) == ("tensorboard", 5)
