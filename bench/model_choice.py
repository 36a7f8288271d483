"""Benchmark: what each captioning model needs to fine-tune, by the collection's memory estimate.

    uv run python bench/model_choice.py            # BLIP-large, BLIP-base, GIT-base, Florence-2
    uv run python bench/model_choice.py --quick    # the tiny stand-ins: seconds, checks the script

For each architecture (random weights, nothing downloaded; the same shapes as the Hub
checkpoint named in the report) it builds the model in its own process and asks
``helpers.training.memory.estimate_training_memory`` for the peak memory of a training step at
batch 8 in bf16 with captions padded to 128 tokens: a full fine-tune, the same with gradient
checkpointing, and LoRA with the family's default targets. BLIP's activations are counted
analytically; GIT's and Florence-2's from the tensors autograd saves for the backward pass on a
real batch at batch 1 and 2 (gradient checkpointing: not estimated for them). Which of 8, 12,
16 and 24 GB cards each fits keeps 10% of the card free, as ``bench/memory_estimate.py`` does.
An estimate, not a measurement on a GPU (docs/PERFORMANCE.md compares the two for BLIP-large).
"""

from __future__ import annotations

import argparse
import platform

import torch
from bench_cli import add_quick_mode, write_json_report
from fresh_process import in_fresh_process
from PIL import Image
from transformers import CLIPImageProcessorPil, GitConfig, GitForCausalLM, GitProcessor

from helpers.config import CaptionConfig
from helpers.data.synthetic import generate_samples
from helpers.data.tokenizer import offline_tokenizer
from helpers.messages import show_messages
from helpers.model.blip_stand_in import BLIP_IMAGE_MEAN, BLIP_IMAGE_STD
from helpers.model.collators import caption_collator
from helpers.model.florence import is_florence
from helpers.model.loading import count_parameters, load_captioner
from helpers.model.lora import apply_lora, lora_targets
from helpers.training.memory import GIB, estimate_training_memory, has_blip_config

CARDS_GB = (8, 12, 16, 24)
USABLE_SHARE = 0.9
BATCH, TOKENS, PRECISION = 8, 128, "bf16"
# name -> (the Hub checkpoint whose architecture it is, stand-in, image size)
MODELS = {
    "BLIP-large": ("Salesforce/blip-image-captioning-large", "random:blip-large", 384),
    "BLIP-base": ("Salesforce/blip-image-captioning-base", "random:blip-base", 384),
    "GIT-base": ("microsoft/git-base", "git-base", 224),
    "Florence-2-base": ("florence-community/Florence-2-base", "random:florence-base", 768),
    "Florence-2-large": ("florence-community/Florence-2-large", "random:florence-large", 768),
}
QUICK = {
    "BLIP (tiny)": ("-", "random:tiny", 32),
    "GIT (tiny)": ("-", "git-tiny", 32),
    "Florence-2 (tiny)": ("-", "random:florence-tiny", 32),
}


def build_git(name: str, image_size: int) -> tuple[torch.nn.Module, GitProcessor]:
    """GIT with random weights (``git-base``: ``GitConfig``'s defaults, microsoft/git-base's
    shapes) and a processor built offline (CLIP image preprocessing, BERT's WordPiece)."""
    tokenizer = offline_tokenizer()
    images = CLIPImageProcessorPil(
        size={"height": image_size, "width": image_size},
        do_center_crop=False,
        image_mean=list(BLIP_IMAGE_MEAN),  # CLIP's, as BLIP's
        image_std=list(BLIP_IMAGE_STD),
    )
    vision = {"image_size": image_size}
    if name == "git-tiny":
        vision |= {"hidden_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2,
                   "intermediate_size": 64, "patch_size": 8}  # fmt: skip
        text = {"hidden_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2,
                "intermediate_size": 64}  # fmt: skip
    else:
        text = {}
    config = GitConfig(vision_config=vision, vocab_size=len(tokenizer), **text)
    torch.manual_seed(0)
    return GitForCausalLM(config), GitProcessor(image_processor=images, tokenizer=tokenizer)


def padded(batch: dict[str, torch.Tensor], keys: tuple[str, ...], length: int) -> dict:
    """The batch with its caption tensors ``keys`` padded to ``length`` tokens (labels -100)."""
    fill = {"labels": -100, "attention_mask": 0, "input_ids": 0}
    out = dict(batch)
    for key in keys:
        extra = length - out[key].shape[1]
        if extra > 0:
            pad = torch.full((out[key].shape[0], extra), fill[key], dtype=out[key].dtype)
            out[key] = torch.cat([out[key], pad], dim=1)
    return out


def estimate_row(stand_in: str, image_size: int) -> dict:
    """Parameters and the three estimates of one architecture (run in its own process)."""
    cfg = CaptionConfig(model_name=stand_in, image_size=image_size, batch_size=BATCH,
                        max_caption_tokens=TOKENS)  # fmt: skip
    if stand_in.startswith("git"):
        model, processor = build_git(stand_in, image_size)
    else:
        captioner = load_captioner(cfg)
        model, processor = captioner.model, captioner.processor
    samples = list(generate_samples(2, seed=0, image_size=max(image_size, 64)))
    items = [
        {"image": Image.fromarray(s.image), "caption": s.annotation["caption"]} for s in samples
    ]
    collate = caption_collator(model, processor, TOKENS)
    # Florence-2's encoder reads a fixed prompt: only its decoder's labels are caption tokens
    keys = ("labels",) if is_florence(model) else ("input_ids", "attention_mask", "labels")

    def make_batch(n: int) -> dict[str, torch.Tensor]:
        return padded(collate(items[:n]), keys, TOKENS)

    def gib(config: CaptionConfig, net: torch.nn.Module) -> float:
        estimate = estimate_training_memory(net, config, "cpu", PRECISION, make_batch)
        return round(estimate.total / GIB, 4)

    row = {
        "parameters": count_parameters(model)[1],
        "method": "analytic" if has_blip_config(model) else "counted (saved tensors)",
        "full_gib": gib(cfg, model),
        "full_ckpt_gib": (
            gib(cfg.with_overrides(gradient_checkpointing=True), model)
            if has_blip_config(model)
            else None
        ),
        "lora_targets": list(lora_targets(model, cfg)),
    }
    lora = apply_lora(model, cfg)
    row |= {"lora_trainable": count_parameters(lora)[0], "lora_gib": gib(cfg, lora)}
    for key in ("full_gib", "full_ckpt_gib", "lora_gib"):
        if row[key] is not None:
            row[key.replace("_gib", "_fits")] = smallest_card(row[key])
    return row


def smallest_card(gib: float) -> int | None:
    """The smallest of ``CARDS_GB`` whose usable share holds ``gib`` (None: none does)."""
    return next((card for card in CARDS_GB if gib * GIB <= USABLE_SHARE * card * 1e9), None)


def markdown_table(rows: dict[str, dict]) -> str:
    def cell(row: dict, key: str) -> str:
        if row.get(key) is None:
            return "not estimated"
        fits = row.get(key.replace("_gib", "_fits"))
        return f"{row[key]:.1f} GiB ({f'{fits} GB card' if fits else 'over 24 GB'})"

    lines = [
        "| model | parameters | full fine-tune | + gradient checkpointing | LoRA (trainable) | "
        "activations |",
        "| --- | ---: | ---: | ---: | ---: | --- |",
    ]
    for name, row in rows.items():
        lines.append(
            f"| {name} (`{row['checkpoint']}`) | {row['parameters'] / 1e6:,.0f} M | "
            f"{cell(row, 'full_gib')} | {cell(row, 'full_ckpt_gib')} | "
            f"{cell(row, 'lora_gib')} ({row['lora_trainable']:,}) | {row['method']} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict:
    show_messages()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_quick_mode(parser, "the tiny stand-ins at 32 px: seconds")
    args = parser.parse_args(argv)
    models = QUICK if args.quick else MODELS
    rows = {}
    for name, (checkpoint, stand_in, size) in models.items():
        print(f"{name} ...", flush=True)
        row = in_fresh_process(estimate_row, stand_in, size)
        rows[name] = {"checkpoint": checkpoint, "stand_in": stand_in, "image_size": size, **row}
    table = markdown_table(rows)
    print(table)
    report = {
        "benchmark": "model_choice",
        "note": "random-init architectures, estimates from helpers.training.memory, no GPU run",
        "batch_size": BATCH,
        "caption_tokens": TOKENS,
        "precision": PRECISION,
        "machine": f"{platform.machine()}, {platform.processor() or 'cpu'}",
        "torch": torch.__version__,
        "rows": rows,
        "table": table,
    }
    stem = "model_choice_quick" if args.quick else "model_choice"
    write_json_report(args.out, stem, report)
    (args.out / f"{stem}.md").write_text(
        f"# What each model needs to fine-tune (estimate)\n\n{__doc__.split(chr(10) * 2)[2]}\n\n"
        f"Batch {BATCH}, {PRECISION}, {TOKENS}-token captions.\n\n{table}\n"
    )
    return report


if __name__ == "__main__":
    main()
