"""bench/train_step.py in quick mode (random:tiny, 32 px, 2 timed steps), as a script."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import prepare_dataset
from helpers.config import load_config

ROOT = Path(__file__).resolve().parent.parent
ROWS = ["baseline", "sdpa", "ckpt", "bf16", "lora+bf16+ckpt+sdpa", "lora", "lora+cache"]


def test_train_step_quick_mode(tmp_path):
    # one thread: tiny models run far faster so on a busy 2-core machine
    env = dict(os.environ, OMP_NUM_THREADS="1")
    command = [sys.executable, str(ROOT / "bench" / "train_step.py"), "--quick"]
    command += ["--rows", ",".join(ROWS), "--caption-images", "2", "--out", str(tmp_path)]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads((tmp_path / "train_step_random-tiny_32px.json").read_text())
    assert (report["model"], report["image_size"], report["timed_steps"]) == ("random:tiny", 32, 2)
    rows = report["rows"]
    assert list(rows) == ROWS
    base = rows["baseline"]
    for name, row in rows.items():
        assert "error" not in row, row
        assert math.isfinite(row["final_loss"]) and row["peak_memory_mb"] > 0, (name, row)
        assert math.isclose(row["samples_per_s"], report["batch_size"] / row["step_s"]), name
        assert math.isclose(row["speedup"], row["samples_per_s"] / base["samples_per_s"]), name
        ratio = row["peak_memory_mb"] / base["peak_memory_mb"]
        assert math.isclose(row["memory_ratio"], ratio), name
    # same model, same batch, same steps: the exact levers end at the loss of the row without
    # them ...
    for name in ("baseline", "sdpa", "ckpt"):
        assert (rows[name]["same_loss_as"], rows[name]["loss_matches"]) == ("baseline", True)
    assert (rows["lora+cache"]["same_loss_as"], rows["lora+cache"]["loss_matches"]) == (
        "lora",
        True,
    )
    # the untimed warm-up step runs the encoder on each image of the batch; every later step,
    # the timed ones, reuses its features instead
    steps = report["warmup_steps"] + report["timed_steps"]
    cached = rows["lora+cache"]
    assert (cached["images_encoded"], cached["images_reused"]) == (
        report["batch_size"],
        report["batch_size"] * (steps - 1),
    )
    assert "images_encoded" not in rows["lora"]  # no cache, nothing counted
    # ... LoRA trains other parameters, so its loss differs; bf16+LoRA has no reference row
    assert not math.isclose(rows["lora"]["final_loss"], rows["baseline"]["final_loss"])
    assert "loss_matches" not in rows["lora+bf16+ckpt+sdpa"]
    assert (
        rows["lora+bf16+ckpt+sdpa"]["trainable_parameters"]
        < rows["baseline"]["trainable_parameters"]
    )
    captioning = report["captioning"]
    assert captioning["same_captions"] is True
    ratio = captioning["batched_images_per_s"] / captioning["one_at_a_time_images_per_s"]
    assert math.isclose(captioning["speedup"], ratio)
    table = (tmp_path / "train_step_random-tiny_32px.md").read_text()
    assert all(f"| {name} |" in table for name in ROWS)


def test_caption_throughput_script(tmp_path):
    env = dict(os.environ, OMP_NUM_THREADS="1", CAPTION_WORKSPACE=str(tmp_path))
    command = [sys.executable, str(ROOT / "bench" / "caption_throughput.py"), "--profile", "smoke"]
    command += ["--images", "4", "--batch-size", "2", "--repeats", "1", "--out", str(tmp_path)]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads((tmp_path / "caption_throughput_smoke.json").read_text())
    assert (report["images"], report["batch_size"], report["model"]) == (4, 2, "random:tiny")
    expected = report["batched_images_per_s"] / report["one_at_a_time_images_per_s"]
    assert math.isclose(report["speedup"], expected)
    assert report["same_captions"] is True


def test_cached_run_script(tmp_path):
    env = dict(os.environ, OMP_NUM_THREADS="1")
    command = [sys.executable, str(ROOT / "bench" / "cached_run.py"), "--quick"]
    command += ["--out", str(tmp_path)]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads((tmp_path / "cached_run_random-tiny_32px.json").read_text())
    runs = report["runs"]
    assert set(runs) == {"uncached", "cached"}
    for run in runs.values():
        assert len(run["epoch_train_s"]) == len(run["val_losses"]) == report["epochs"] == 2
        assert run["peak_memory_mb"] > 0
    # the cache changes the time, never the numbers
    assert report["same_losses"] is True
    assert runs["cached"]["val_losses"] == runs["uncached"]["val_losses"]
    assert "image feature cache: 12 images cached" in done.stdout


def test_train_step_compares_caption_lengths_side_by_side(tmp_path):
    env = dict(os.environ, OMP_NUM_THREADS="1")
    command = [sys.executable, str(ROOT / "bench" / "train_step.py"), "--quick"]
    command += ["--rows", "baseline,lora", "--caption-tokens", "16,64", "--caption-images", "0"]
    command += ["--out", str(tmp_path)]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads((tmp_path / "train_step_random-tiny_32px_16-64tokens.json").read_text())
    assert report["caption_tokens"] == [16, 64] and "skipped" in report["captioning"]
    rows = report["rows"]
    assert list(rows) == ["baseline@16", "baseline@64", "lora@16", "lora@64"]
    for name in ("baseline", "lora"):
        short, long = rows[f"{name}@16"], rows[f"{name}@64"]
        assert (short["caption_tokens"], long["caption_tokens"]) == (16, 64)
        assert short["step_vs_first_length"] == 1.0
        assert long["step_vs_first_length"] == long["step_s"] / short["step_s"]
    assert (
        rows["lora@64"]["speedup"]
        == rows["lora@64"]["samples_per_s"] / (rows["baseline@64"]["samples_per_s"])
    )
    table = (tmp_path / "train_step_random-tiny_32px_16-64tokens.md").read_text()
    assert "x time vs first length" in table and "| lora@64 |" in table


def test_caption_throughput_explain_row(tmp_path):
    env = dict(os.environ, OMP_NUM_THREADS="1", CAPTION_WORKSPACE=str(tmp_path))
    command = [sys.executable, str(ROOT / "bench" / "caption_throughput.py"), "--profile", "smoke"]
    command += ["--quick", "--images", "4", "--explain", "--out", str(tmp_path)]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads((tmp_path / "caption_throughput_smoke_explain.json").read_text())
    assert (report["images"], report["batch_size"], report["repeats"]) == (4, 4, 1)
    assert report["explain_same_captions"] is True
    expected = report["batched_images_per_s"] / report["explain_images_per_s"]
    assert math.isclose(report["explain_cost"], expected)
    assert "batched + grounding maps" in done.stdout


def test_grounding_demo_script_trains_then_reports(tmp_path, monkeypatch):
    env = dict(os.environ, OMP_NUM_THREADS="1", CAPTION_WORKSPACE=str(tmp_path))
    command = [sys.executable, str(ROOT / "bench" / "grounding_demo.py"), "--profile", "smoke"]
    command += ["--resamples", "50", "--out", str(tmp_path)]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads((tmp_path / "grounding_smoke.json").read_text())
    assert report["trained_by_this_command"] is True
    assert (tmp_path / "runs" / "smoke" / "best" / "config.json").is_file()
    assert "not a Hephaestus result" in report["provenance"]
    grounding = report["grounding"]
    monkeypatch.setenv("CAPTION_WORKSPACE", str(tmp_path))  # the data the script prepared
    with pytest.warns(UserWarning, match="SYNTHETIC STAND-IN DATA"):
        test = prepare_dataset(load_config("smoke"), progress=False).test
    polygons = sum(r.polygon_count > 0 and r.has_deformation for r in test)
    assert grounding["images_with_polygons"] == polygons > 0
    assert set(grounding["pointing_accuracy"]) == {"model", "centre", "uniform"}
    assert (tmp_path / "assets" / "smoke" / "grounding_examples.png").is_file()
    assert "pointing accuracy" in done.stdout


def test_tracking_check_script(tmp_path):
    env = dict(os.environ, OMP_NUM_THREADS="1")
    command = [sys.executable, str(ROOT / "bench" / "tracking_check.py"), "--out", str(tmp_path)]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads((tmp_path / "tracking_check.json").read_text())
    # 8 updates in 2 epochs, 4 more after the resume: every step once
    assert report["scalars"]["train/loss"] == {"steps": list(range(1, 13)), "duplicates": 0}
    assert report["scalars"]["val/loss"]["steps"] == [0, 4, 8, 12]
    [provenance] = report["texts"]["provenance"]
    assert provenance.endswith("not a Hephaestus result")
    sizes = report["installed_mb"]
    parts = [sizes[name] for name in ("tensorboard", "tensorboard-data-server", "grpcio")]
    assert sizes["tensorboard_total"] == pytest.approx(sum(parts), abs=0.2)
    assert 0 < sizes["tensorboard_total"] < sizes["environment"]
