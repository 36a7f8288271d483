"""A user's training step, for the benchmarks: the very pieces ``helpers.training.train`` runs.

``product_row(args, recipe)`` builds the profile's config (``load_config(args.profile)``: the
attribute heads and prompt of ``full`` and ``demo`` included) with the row's model, image size and
batch, loads the model with ``load_captioner``, batches synthetic records through
``CaptionDataset`` and the profile's own collator (``caption_collator``: the attribute prompt,
token lengths padded to a multiple of ``LENGTH_BUCKET``), and times optimizer steps through what
``train`` runs per batch: ``make_accelerator`` (mixed precision as the device picks it),
``make_optimizer``, ``compiled_for_run`` and ``micro_batch_step``.

Recipes (``RECIPES``): ``defaults`` as a user's run has them (SDPA, the AdamW kernel
``make_optimizer`` picks, ``compile="auto"``, which a benchmark's few steps leave off);
``defaults+compile`` forces ``torch.compile``; ``defaults+fused`` / ``defaults+foreach`` force the
AdamW kernel; ``old-defaults`` is the recipe before SDPA, the kernel choice, compile and the
length buckets were defaults (eager attention, torch's own AdamW, captions padded to the longest
of the batch).
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from blip_flops import lever_step_flops

from helpers.config import CaptionConfig, load_config
from helpers.data.batching import CaptionDataset
from helpers.data.records import load_records
from helpers.data.synthetic import generate_samples
from helpers.data.synthetic.dataset import png_bytes
from helpers.device import peak_memory_mb, peak_reserved_memory_mb, synchronize
from helpers.model.collators import caption_collator
from helpers.model.loading import count_parameters, load_captioner
from helpers.training.accelerator import make_accelerator
from helpers.training.auto_batch import micro_batch_step
from helpers.training.checkpoints import TrainingState
from helpers.training.compilation import CompiledModule, compiled_for_run
from helpers.training.optimizer import make_optimizer, parameter_groups

DISTINCT_BATCHES = 4  # batches of different captions (and lengths), taken in turn


@dataclass(frozen=True)
class Recipe:
    """The levers of a product row."""

    attn: str = "sdpa"
    adamw: str = "picked"  # "picked" (make_optimizer), "fused", "foreach", "plain" (torch's own)
    compile: bool | str = "auto"
    length_buckets: bool = True  # False: captions padded to the batch's longest, as before


RECIPES: dict[str, Recipe] = {
    "defaults": Recipe(),
    "defaults+compile": Recipe(compile=True),
    "defaults+fused": Recipe(adamw="fused"),
    "defaults+foreach": Recipe(adamw="foreach"),
    "old-defaults": Recipe(attn="eager", adamw="plain", compile=False, length_buckets=False),
}
ADAMW_FLAGS = {"plain": {}, "fused": {"fused": True}, "foreach": {"foreach": True}}


def write_synthetic_records(folder: Path, count: int, image_size: int) -> Path:
    """``count`` synthetic images and annotations as files in ``folder`` (what ``load_records``
    reads), the same for every row (seed 0)."""
    folder.mkdir(parents=True, exist_ok=True)
    for sample in generate_samples(count, seed=0, image_size=image_size):
        stem = sample.annotation["uniqueID"]
        (folder / f"{stem}.png").write_bytes(png_bytes(sample.image))
        (folder / f"{stem}.json").write_text(json.dumps(sample.annotation))
    return folder


def product_config(args: argparse.Namespace, recipe: Recipe) -> CaptionConfig:
    """``args.profile``'s config with the row's model, size, batch, device and levers."""
    return load_config(
        args.profile,
        model_name=args.model,
        image_size=args.image_size,
        batch_size=args.batch_size,
        attn_implementation=recipe.attn,
        compile=recipe.compile,
        device=args.device,
    )


def product_optimizer(
    model: torch.nn.Module, cfg: CaptionConfig, device: str, adamw: str
) -> torch.optim.AdamW:
    """``make_optimizer``'s AdamW ("picked"), or one with the recipe's kernel flags."""
    if adamw == "picked":
        return make_optimizer(model, cfg, device)
    groups = parameter_groups(model, cfg.weight_decay)
    return torch.optim.AdamW(groups, lr=cfg.learning_rate, **ADAMW_FLAGS[adamw])


def product_batches(
    cfg: CaptionConfig, model: torch.nn.Module, processor, folder: Path, recipe: Recipe
) -> list[dict[str, torch.Tensor]]:
    """``DISTINCT_BATCHES`` batches of ``cfg.batch_size`` records from ``folder``, made by the
    model's own collator (padded to the longest caption when the recipe has no buckets)."""
    dataset = CaptionDataset(load_records(folder).records, processor)
    collate = caption_collator(model, processor, cfg.max_caption_tokens)
    if not recipe.length_buckets:
        collate.pad_multiple = None
    size = cfg.batch_size
    return [
        collate([dataset[index] for index in range(start * size, (start + 1) * size)])
        for start in range(DISTINCT_BATCHES)
    ]


def product_row(args: argparse.Namespace, name: str) -> dict:
    """Time ``args.warmup + args.steps`` optimizer steps of recipe ``name`` (see the module
    docstring) at ``args.batch_size``; records come from ``args.records`` (a folder) or are
    written to a scratch folder here."""
    recipe = RECIPES[name]
    cfg = product_config(args, recipe)
    captioner = load_captioner(cfg)
    model = captioner.model
    with tempfile.TemporaryDirectory() as scratch:
        folder = getattr(args, "records", None) or write_synthetic_records(
            Path(scratch), DISTINCT_BATCHES * cfg.batch_size, cfg.image_size
        )
        batches = product_batches(cfg, model, captioner.processor, Path(folder), recipe)
    accelerator, choice = make_accelerator(cfg)
    optimizer = product_optimizer(model, cfg, choice.device, recipe.adamw)
    model, optimizer = accelerator.prepare(model, optimizer)
    raw_model = accelerator.unwrap_model(model)
    steps = args.warmup + args.steps
    backend = getattr(args, "compile_backend", None)
    runner = compiled_for_run(model, cfg.compile, choice.device, steps * cfg.batch_size, backend)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda _: 1.0)
    step = micro_batch_step(cfg, accelerator, choice, raw_model, TrainingState(cfg.model_name))
    batches = [{k: v.to(accelerator.device) for k, v in b.items()} for b in batches]
    graphs_before = _graphs_compiled()
    runner.train()
    torch.manual_seed(cfg.seed)
    seconds, losses = [], []
    for index in range(steps):
        start = time.perf_counter()
        batch = batches[index % len(batches)]
        losses.append(step(runner, optimizer, scheduler, batch, f"step {index + 1}"))
        synchronize(choice.device)
        seconds.append(time.perf_counter() - start)
    step_s = statistics.median(seconds[args.warmup :])
    tokens = [batch["input_ids"].shape[1] for batch in batches]
    levers = ("sdpa",) if recipe.attn == "sdpa" else ()
    group = optimizer.param_groups[0]
    return {
        "recipe": name,
        "profile": cfg.profile,
        "batch_size": cfg.batch_size,
        "precision": choice.precision,
        "attn_implementation": cfg.attn_implementation,
        "adamw": "fused" if group.get("fused") else "foreach" if group.get("foreach") else "plain",
        "compiled": isinstance(runner, CompiledModule) and not runner.failed,
        "graphs_compiled": _graphs_compiled() - graphs_before,
        "caption_tokens": tokens,
        "samples_per_s": cfg.batch_size / step_s,
        "step_s": step_s,
        "first_step_s": seconds[0],
        "peak_allocated_mb": peak_memory_mb(choice.device),
        "peak_reserved_mb": peak_reserved_memory_mb(choice.device),
        "flops_per_step": lever_step_flops(
            raw_model.config, cfg.batch_size, round(statistics.mean(tokens)), levers
        ).total,
        "losses": losses,
        "final_loss": losses[-1],
        "trainable_parameters": count_parameters(raw_model)[0],
        "device": choice.summary(),
        "torch_threads": torch.get_num_threads(),
    }


def _graphs_compiled() -> int:
    """How many graphs ``torch.compile`` has built in this process so far."""
    from torch._dynamo.utils import counters

    return int(counters["stats"]["unique_graphs"])


__all__ = ["RECIPES", "Recipe", "product_row", "write_synthetic_records"]
