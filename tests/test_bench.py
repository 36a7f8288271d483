"""bench/train_step.py in quick mode (random:tiny, 32 px, 2 timed steps), as a script."""

from __future__ import annotations

import argparse
import importlib
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from torch.utils.flop_counter import FlopCounterMode

from helpers import prepare_dataset
from helpers.config import load_config

ROOT = Path(__file__).resolve().parent.parent
ANY_FLOAT = pytest.approx(0.0, abs=60.0)
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


def bench_module(name: str):
    """A module of bench/ (its folder on sys.path, as when its scripts run)."""
    folder = str(ROOT / "bench")
    if folder not in sys.path:
        sys.path.insert(0, folder)
    return importlib.import_module(name)


def check_product_rows(rows: dict[str, dict], warmup: int) -> None:
    """Product rows (bench/product_step.py) on this CPU: the full profile's recipe through the
    product's own step; the levers each recipe names; a compiled row that compiled."""
    for key, row in rows.items():
        recipe = key.split("@")[0]
        assert "error" not in row, (key, row)
        assert row["profile"] == "full" and row["recipe"] == recipe
        assert row["batch_size"] == int(key.split("@")[1])
        assert math.isclose(row["samples_per_s"], row["batch_size"] / row["step_s"])
        assert len(row["losses"]) > warmup and all(map(math.isfinite, row["losses"]))
        expected = "eager" if recipe == "old-defaults" else "sdpa"
        assert row["attn_implementation"] == expected, key
        if recipe != "old-defaults":  # the collator's buckets, the attribute prompt included
            assert all(tokens % 16 == 0 for tokens in row["caption_tokens"]), key
    kernels = {"defaults": "foreach", "defaults+fused": "fused", "defaults+foreach": "foreach"}
    kernels |= {"old-defaults": "plain", "defaults+compile": "foreach"}  # foreach: CPU's pick
    for key, row in rows.items():
        assert row["adamw"] == kernels[row["recipe"]], key
        compiled = row["recipe"] == "defaults+compile"  # "auto" never compiles on the CPU
        assert row["compiled"] is compiled and (row["graphs_compiled"] > 0) is compiled, key


def test_train_step_product_rows_compare_old_and_new_defaults(tmp_path):
    env = dict(os.environ, OMP_NUM_THREADS="1")
    command = [sys.executable, str(ROOT / "bench" / "train_step.py"), "--quick"]
    command += ["--rows", "old-defaults,defaults,defaults+compile", "--compile-backend", "eager"]
    command += ["--profile", "full", "--caption-images", "0", "--out", str(tmp_path)]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads((tmp_path / "train_step_random-tiny_32px_defaults.json").read_text())
    assert report["rows"] == {} and report["command"].endswith("--out " + str(tmp_path))
    summary = report["product_rows"]
    assert list(summary) == ["old-defaults", "defaults", "defaults+compile"]
    runs = {name: row["runs"][0] for name, row in summary.items()}
    check_product_rows({f"{name}@2": run for name, run in runs.items()}, report["warmup_steps"])
    old = summary["old-defaults"]["samples_per_s"]
    for row in summary.values():
        assert math.isclose(row["x_old_defaults"], row["samples_per_s"] / old)
    table = (tmp_path / "train_step_random-tiny_32px_defaults.md").read_text()
    assert all(f"| {name} |" in table for name in summary) and "uv run python" in table


def test_gpu_suite_quick_mode(tmp_path):
    env = dict(os.environ, OMP_NUM_THREADS="1")
    command = [sys.executable, str(ROOT / "bench" / "gpu_suite.py"), "--quick"]
    command += ["--peak-tflops", "bf16=0.5,fp32=0.25", "--out", str(tmp_path)]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads((tmp_path / "gpu_suite_cpu-quick.json").read_text())
    assert report["skipped"] == [] and report["elapsed_s"] < report["budget_s"]
    rows = report["training"]
    levers = ["bf16", "bf16+sdpa", "bf16+ckpt", "bf16+frozen", "bf16+lora", "bf16+lora+cache"]
    measured = ["baseline@4"] + [f"{name}@{batch}" for batch in (8, 16) for name in levers]
    products = ["defaults@8", "defaults+fused@32", "defaults+foreach@32", "defaults+compile@32"]
    assert sorted(rows) == sorted([*measured, *products])
    # the most important first: the baseline, what users run, bf16 at both sizes
    assert list(rows)[:4] == ["baseline@4", "defaults@8", "bf16@8", "bf16@16"]
    check_product_rows({key: rows[key] for key in products}, report["warmup_steps"])
    assert rows["defaults+compile@32"]["compile_backend"] == "eager"
    base = rows["baseline@4"]
    assert (base["precision"], base["batch_size"], base["levers"]) == ("fp32", 4, [])
    peaks = report["peak_tflops"]
    assert (peaks["bf16"], peaks["fp32"], peaks["source"]) == (0.5, 0.25, "--peak-tflops")
    for key, row in rows.items():
        assert "error" not in row, (key, row)
        assert row["batch_size"] == int(key.split("@")[1])
        assert math.isclose(row["samples_per_s"], row["batch_size"] / row["step_s"])
        # ratios against this run's own baseline row
        assert row["baseline_row"] == "baseline@4"
        assert math.isclose(row["x_baseline"], row["samples_per_s"] / base["samples_per_s"])
        achieved = row["flops_per_step"] / row["step_s"] / 1e12
        assert math.isclose(row["achieved_tflops"], achieved)
        assert math.isclose(row["mfu"], achieved / peaks[row["precision"]])
        assert row["peak_allocated_mb"] > 0 and row["peak_reserved_mb"] is None  # CPU
        if key in measured:
            error = row["estimate_analytic_mb"] / row["peak_allocated_mb"] - 1
            assert math.isclose(row["estimate_analytic_error"], error)
    assert base["x_baseline"] == 1.0
    for batch in (8, 16):
        row = {name: rows[f"{name}@{batch}"] for name in levers}
        # exact levers end at the loss of the row without them
        assert math.isclose(row["bf16+ckpt"]["final_loss"], row["bf16"]["final_loss"], rel_tol=1e-3)
        assert row["bf16+lora+cache"]["final_loss"] == row["bf16+lora"]["final_loss"]
        # less work per step where less trains or runs
        flops = {name: r["flops_per_step"] for name, r in row.items()}
        assert flops["bf16"] == flops["bf16+sdpa"] == flops["bf16+ckpt"] > flops["bf16+frozen"]
        assert flops["bf16+frozen"] > flops["bf16+lora"] > flops["bf16+lora+cache"]
        cached = row["bf16+lora+cache"]
        steps = report["warmup_steps"] + report["timed_steps"]
        assert (cached["images_encoded"], cached["images_reused"]) == (batch, batch * (steps - 1))
    assert rows["bf16@16"]["flops_per_step"] == 2 * rows["bf16@8"]["flops_per_step"]
    # fits answers read the batch-8 rows' measured peaks
    fits = report["fits_at_batch_8"]
    assert [a["row"] for a in fits.values()] == ["bf16@8", "bf16+ckpt@8", "bf16+lora@8"]
    for answer in fits.values():
        assert answer["peak_mb"] == rows[answer["row"]]["peak_allocated_mb"]
        for card, fits_card in answer["fits"].items():
            assert fits_card == (answer["peak_mb"] * 2**20 <= 0.9 * int(card.split()[0]) * 1e9)
    captioning = report["captioning"]
    # the device's precision (fp32 on this CPU), then greedy in bf16 too
    assert list(captioning) == ["greedy", "3 beams", "greedy, bf16"]
    assert [row["precision"] for row in captioning.values()] == ["fp32", "fp32", "bf16"]
    for row in captioning.values():
        assert row["batch_sizes"] == [4, 8] and row["new_tokens"] == 8
        for size in (4, 8):
            ratio = row[f"batch_{size}_images_per_s"] / row["one_at_a_time_images_per_s"]
            assert math.isclose(row[f"batch_{size}_speedup"], ratio)
            share = row[f"batch_{size}_same_share"]
            assert 0 <= share <= 1 and row[f"batch_{size}_same_captions"] == (share == 1)
    assert captioning["greedy"]["batch_8_same_share"] == 1.0  # fp32: batching changes nothing
    auto = report["auto_batch"]
    assert (auto["started_at_micro_batch"], auto["finished_at_micro_batch"]) == (16, 8)
    assert auto["accumulation_steps"] == 2 and auto["steps_finished"] == 2 and auto["halved"]
    assert auto["cap"].startswith("simulated") and all(map(math.isfinite, auto["losses"]))
    page = (tmp_path / "gpu_suite_cpu-quick.md").read_text()
    assert all(f"| {key} |" in page for key in rows) and "| greedy, bf16 |" in page
    assert "halved and finished" in page and "finished 2 steps at micro-batch 8 x 2" in page


def test_gpu_suite_budget_skips_lists_and_stops_rows():
    gpu_suite = bench_module("gpu_suite")
    budget = gpu_suite.Budget(0.0)
    assert budget.run("row a", "training", dict) is None
    assert budget.skipped == [
        {"row": "row a", "reason": "0 s of the budget left; this row needs about 0 s"}
    ]
    budget = gpu_suite.Budget(60.0)
    assert budget.run("quick row", "training", dict, {"x": 1}) == {"x": 1, "wall_s": ANY_FLOAT}
    budget.longest["training"] = 120.0  # a row of this kind took longer than what is left
    assert budget.run("next row", "training", dict) is None
    assert "this row needs about 120 s" in budget.skipped[-1]["reason"]
    budget = gpu_suite.Budget(1.0)  # a row still running at the deadline is stopped
    assert budget.run("slow row", "compile", time.sleep, 60) is None
    assert budget.skipped[-1]["reason"].startswith("stopped at the deadline after 1 s")


def test_gpu_suite_auto_batch_cap_lies_between_the_two_batch_sizes():
    cap_mb = bench_module("gpu_suite").auto_batch_cap_mb
    small = {"peak_allocated_mb": 8.0, "peak_reserved_mb": 10.0}
    large = {"peak_allocated_mb": 20.0, "peak_reserved_mb": 26.0}
    # above what batch 8 reserved, below what batch 16 must allocate
    assert cap_mb({"bf16@8": small, "bf16@16": large}, [8, 16]) == 15.0
    crowded = {"peak_allocated_mb": 8.0, "peak_reserved_mb": 21.0}
    assert cap_mb({"bf16@8": crowded, "bf16@16": large}, [8, 16]) == 14.0
    cpu = {"peak_allocated_mb": 8.0, "peak_reserved_mb": None}
    assert cap_mb({"bf16@8": cpu, "bf16@16": large}, [8, 16]) is None
    assert cap_mb({"bf16@8": small}, [8, 16]) is None


def test_blip_flops_match_torch_flop_counter():
    blip_flops, train_step = bench_module("blip_flops"), bench_module("train_step")
    args = argparse.Namespace(
        model="random:tiny", image_size=32, batch_size=2, caption_tokens=16, device="cpu"
    )
    for levers, tolerance in (((), 0), (("frozen",), 0), (("sdpa",), 1e-3), (("lora",), 1e-2)):
        _, device, model = train_step.build_row_model(args, levers)
        batch = train_step.make_batch(args, device)
        with FlopCounterMode(display=False) as counter:
            model(**batch).loss.backward()
        counted = blip_flops.lever_step_flops(model.config, 2, 16, levers).total
        assert math.isclose(counted, counter.get_total_flops(), rel_tol=tolerance), levers
    lora = blip_flops.lever_step_flops(model.config, 2, 16, ("lora",))
    cached = blip_flops.lever_step_flops(model.config, 2, 16, ("lora", "cache"))
    assert cached.vision == 0 < lora.vision and cached.text == lora.text  # no encoder run


def test_peak_tflops_table_and_override():
    peak_tflops = bench_module("peak_tflops").peak_tflops
    assert peak_tflops("NVIDIA H100 80GB HBM3")["bf16"] == 989.0
    assert peak_tflops("NVIDIA H100 PCIe")["fp32"] == 51.0  # the longest matching key wins
    assert (
        "bf16" not in peak_tflops("NVIDIA H100 NVL")
        and "--peak-tflops" in (peak_tflops("NVIDIA H100 NVL")["source"])
    )
    assert "bf16" not in peak_tflops("Intel(R) Data Center GPU Max 1550")
    assert peak_tflops("NVIDIA H200", "420") == {"bf16": 420.0, "source": "--peak-tflops"}
    with pytest.raises(ValueError, match="'fp64' is neither bf16 nor fp32"):
        peak_tflops("NVIDIA H200", "fp64=1")


def test_collapse_ablation_rows_side_by_side(tmp_path):
    env = dict(os.environ, OMP_NUM_THREADS="1")
    row = "+ attribute prompt (heads weight 3)"
    command = [sys.executable, str(ROOT / "bench" / "collapse_ablation.py"), "--profile", "smoke"]
    command += ["--out", str(tmp_path), "--rows", row]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads((tmp_path / "collapse_ablation_smoke.json").read_text())
    assert list(report["rows"]) == [row, "nearest-neighbour baseline"]
    assert "not a Hephaestus result" in report["what"]
    prompted, nearest = report["rows"].values()
    assert prompted["heads_deformation_balanced_accuracy"] is not None
    assert nearest["heads_deformation_balanced_accuracy"] is None  # a baseline has no heads
    assert prompted["image_reliance"] is not None and nearest["image_reliance"] is None
    assert prompted["train_seconds"] > 0 and nearest["train_seconds"] is None
    assert prompted["test_images"] == nearest["test_images"]
    table = (tmp_path / "collapse_ablation_smoke.md").read_text()
    assert all(name in table for name in report["rows"])
    assert report["overrides"] == {row: {"attribute_prompt": True}}


def test_train_step_and_model_choice_run_florence(tmp_path):
    """bench/train_step.py on the Florence-2 stand-in (its own batch: the task prompt for the
    encoder, caption labels padded to the length asked) and bench/model_choice.py's quick rows:
    BLIP counted analytically, GIT and Florence-2 from their saved tensors."""
    env = dict(os.environ, OMP_NUM_THREADS="1")
    step = [sys.executable, str(ROOT / "bench" / "train_step.py"), "--quick"]
    step += ["--model", "random:florence-tiny", "--rows", "baseline,ckpt,lora"]
    step += ["--caption-images", "0", "--out", str(tmp_path)]
    done = subprocess.run(step, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    rows = json.loads((tmp_path / "train_step_random-florence-tiny_32px.json").read_text())["rows"]
    assert rows["ckpt"]["loss_matches"] and rows["lora"]["trainable_parameters"] == 3072
    assert rows["baseline"]["trainable_parameters"] > rows["lora"]["trainable_parameters"]

    choice = [sys.executable, str(ROOT / "bench" / "model_choice.py"), "--quick"]
    done = subprocess.run(
        [*choice, "--out", str(tmp_path)], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads((tmp_path / "model_choice_quick.json").read_text())
    methods = {name: row["method"] for name, row in report["rows"].items()}
    assert methods == {
        "BLIP (tiny)": "analytic",
        "GIT (tiny)": "counted (saved tensors)",
        "Florence-2 (tiny)": "counted (saved tensors)",
    }
    for row in report["rows"].values():
        assert 0 < row["lora_gib"] <= row["full_gib"] and row["lora_trainable"] > 0
    assert report["rows"]["Florence-2 (tiny)"]["lora_targets"] == ["q_proj", "v_proj"]
    assert (tmp_path / "model_choice_quick.md").read_text().count("| ") > 10
