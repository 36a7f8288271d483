"""The measurements of ``gpu_suite.py``, each run in its own forked process (``fresh_process``).

``device_info``: what the suite runs on. ``training_row``: timed AdamW steps of one row (levers as
in ``train_step.py``), its peak allocated and reserved memory, its model FLOPs per step and
``helpers.training.memory``'s estimate for it (the product rows are ``product_step``'s).
``captioning_row``: batched ``caption_images`` against one image at a time, and the share of
captions batching leaves identical. ``auto_batch_row``: the auto batch size path of
``helpers.training.auto_batch`` under a memory cap.
"""

from __future__ import annotations

import argparse
import platform
import time

import torch
from batched_vs_single import images_per_s_at
from blip_flops import lever_step_flops
from PIL import Image
from train_step import build_row_model, make_batch, time_training_steps

from helpers.config import CaptionConfig
from helpers.data.synthetic import generate_samples
from helpers.device import (
    cap_process_memory,
    choose_device,
    gpu_module,
    peak_memory_mb,
    peak_reserved_memory_mb,
)
from helpers.model.loading import count_parameters, load_captioner
from helpers.training.accelerator import make_accelerator
from helpers.training.auto_batch import MicroBatchStep
from helpers.training.memory import estimate_training_memory
from helpers.training.optimizer import make_optimizer

MIB = 2**20


def device_info(args: argparse.Namespace) -> dict:
    """The device's name, kind, memory and PyTorch's fp32 matrix-product setting."""
    choice = choose_device(args.device, "auto")
    gpu = gpu_module(choice.device)
    if gpu is None:
        name, total = platform.processor() or platform.machine() or "cpu", None
    else:
        name, total = gpu.get_device_name(), gpu.get_device_properties(0).total_memory
    return {
        "kind": choice.device,
        "name": name,
        "total_memory_mb": None if total is None else total / MIB,
        "summary": choice.summary(),
        "torch": torch.__version__,
        "float32_matmul_precision": torch.get_float32_matmul_precision(),
        "torch_threads": torch.get_num_threads(),
    }


def training_row(args: argparse.Namespace, levers: tuple[str, ...]) -> dict:
    """Time ``args.warmup + args.steps`` steps of a fresh model with ``levers`` at
    ``args.batch_size``; measure its memory; count its FLOPs; estimate its memory."""
    cfg, device, model = build_row_model(args, levers)
    batch = make_batch(args, device)
    timed = time_training_steps(model, batch, cfg, device, levers, args.warmup + args.steps)
    step_s = timed.median_step_s(args.warmup)
    row = {
        "batch_size": args.batch_size,
        "precision": "bf16" if "bf16" in levers else "fp32",
        "samples_per_s": args.batch_size / step_s,
        "step_s": step_s,
        "first_step_s": timed.seconds[0],
        "peak_allocated_mb": peak_memory_mb(device.device),
        "peak_reserved_mb": peak_reserved_memory_mb(device.device),
        "flops_per_step": lever_step_flops(
            model.config, args.batch_size, args.caption_tokens, levers
        ).total,
        "final_loss": timed.losses[-1],
        "trainable_parameters": count_parameters(model)[0],
        **timed.cache_counts,
    }
    return row | memory_estimates(model, cfg, device, args)


def memory_estimates(model, cfg, device, args: argparse.Namespace) -> dict:
    """``estimate_training_memory`` for the row: the analytic count everywhere, and on CUDA/XPU
    also the probe (one forward/backward pass at batch 1 and 2; what the notebooks use there for
    families other than BLIP)."""

    def batch_of(size: int) -> dict[str, torch.Tensor]:
        return make_batch(argparse.Namespace(**{**vars(args), "batch_size": size}), device)

    analytic = estimate_training_memory(model, cfg, device.device, device.precision)
    out = {"estimate_analytic_mb": analytic.total / MIB}
    if gpu_module(device.device) is not None:
        probe = estimate_training_memory(model, cfg, device.device, device.precision, batch_of)
        out["estimate_probe_mb"] = probe.total / MIB
    return out


def captioning_row(args: argparse.Namespace, num_beams: int, precision: str = "auto") -> dict:
    """images/s of ``caption_images`` one image at a time (on ``args.single_images`` images) and
    batched at each of ``args.caption_batches`` (on as many images as the batch holds), with
    ``args.new_tokens`` new tokens and ``num_beams`` beams, in ``precision`` ("auto": the
    device's); and the share of the one-at-a-time captions that each batch size reproduces."""
    cfg = CaptionConfig(
        model_name=args.model,
        image_size=args.image_size,
        num_beams=num_beams,
        max_new_tokens=args.new_tokens,
        device=args.device,
        precision=precision,
    )
    device = choose_device(cfg.device, cfg.precision)
    captioner = load_captioner(cfg)
    largest = max(args.caption_batches + [args.single_images])
    images = [
        Image.fromarray(sample.image)
        for sample in generate_samples(largest, seed=1, image_size=args.image_size)
    ]
    inputs = (captioner.model, captioner.processor)
    images_per_s_at(*inputs, images[:1], cfg, device, 1)  # warm-up
    single, single_captions = images_per_s_at(*inputs, images[: args.single_images], cfg, device, 1)
    row = {
        "num_beams": num_beams,
        "new_tokens": args.new_tokens,
        "precision": device.precision,
        "one_at_a_time_images": args.single_images,
        "batch_sizes": args.caption_batches,
        "one_at_a_time_images_per_s": single,
    }
    for size in args.caption_batches:
        rate, captions = images_per_s_at(*inputs, images[:size], cfg, device, size)
        row[f"batch_{size}_images_per_s"] = rate
        row[f"batch_{size}_speedup"] = rate / single
        same = [a == b for a, b in zip(captions, single_captions, strict=False)]
        row[f"batch_{size}_same_captions"] = all(same)
        row[f"batch_{size}_same_share"] = sum(same) / len(same)
    return row


def auto_batch_row(args: argparse.Namespace, cap_mb: float | None) -> dict:
    """Two optimizer steps of ``args.batch_size`` samples each (bf16, full fine-tune) through
    ``MicroBatchStep`` with automatic halving, under a memory cap of ``cap_mb`` MiB on a GPU; on
    the CPU, which has no such cap, a simulated one: more than half the batch in one forward pass
    raises ``torch.OutOfMemoryError``."""
    cfg, _, model = build_row_model(args, ("bf16",))
    cfg = cfg.with_overrides(precision="bf16", device=args.device)
    accelerator, choice = make_accelerator(cfg)
    gpu = gpu_module(choice.device)
    if gpu is None:
        limit = args.batch_size // 2
        cap = f"simulated: more than {limit} samples per forward pass raise OutOfMemoryError"
        model.register_forward_pre_hook(_simulated_cap(limit), with_kwargs=True)
    else:
        fraction = cap_mb * MIB / gpu.get_device_properties(0).total_memory
        if not cap_process_memory(choice.device, fraction):
            return {"error": f"this PyTorch has no per-process memory cap for {choice.device}"}
        cap = f"{cap_mb:,.0f} MiB ({fraction:.3f} of the device) per process"
    optimizer = make_optimizer(model, cfg, choice.device)
    model, optimizer = accelerator.prepare(model, optimizer)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda _: 1.0)
    step = MicroBatchStep(accelerator, args.batch_size, args.batch_size, True, cfg.max_grad_norm)
    batch = make_batch(args, choice)
    start, losses = time.perf_counter(), []
    for index in range(2):
        losses.append(step(model, optimizer, scheduler, batch, f"step {index + 1}"))
    return {
        "cap": cap,
        "samples_per_step": args.batch_size,
        "started_at_micro_batch": args.batch_size,
        "finished_at_micro_batch": step.micro_batch_size,
        "halved": step.micro_batch_size < args.batch_size,
        "accumulation_steps": step.accumulation_steps,
        "steps_finished": len(losses),
        "losses": losses,
        "seconds": time.perf_counter() - start,
        "peak_allocated_mb": peak_memory_mb(choice.device),
        "peak_reserved_mb": peak_reserved_memory_mb(choice.device),
    }


def _simulated_cap(limit: int):
    def check(_module, _args, kwargs) -> None:
        if kwargs["pixel_values"].shape[0] > limit:
            raise torch.OutOfMemoryError(f"simulated: more than {limit} samples")

    return check
