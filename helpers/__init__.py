"""Fine-tune and evaluate BLIP captioners on InSAR interferograms (Hephaestus).

The package follows the data, and imports only point up this list::

    config, device, files, messages, oom   knobs, device and precision, safe writes, messages
    data/       zips -> records -> splits -> batches; the synthetic stand-in; the release builder
    model/      loading (Hub, local, stand-ins), LoRA, attention, the image-feature cache
    training/   the loop, checkpoints, resume, memory, live curves, model cards, command line
    eval/       captioning and decoding, metrics, domain check, baselines, results, comparison
    viz/        figures, the dataset tour, the upload widget
    geo/        screen a LiCSAR frame (GeoTIFF): read, render, tile, caption every patch, map
    sharing     upload a finished run to the Hugging Face Hub

The functions the notebooks call most are importable from here (``from helpers import train``);
they load their module on first use, so ``import helpers`` stays cheap.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

# public name -> the module that defines it
PUBLIC_API = {
    "load_config": "helpers.config",
    "show_messages": "helpers.messages",
    "choose_device": "helpers.device",
    "prepare_dataset": "helpers.data.prepare",
    "CaptionDataset": "helpers.data.batching",
    "CaptionCollator": "helpers.data.batching",
    "load_captioner": "helpers.model.loading",
    "describe_model": "helpers.model.loading",
    "apply_lora": "helpers.model.lora",
    "caption_collator": "helpers.model.collators",
    "lora_config": "helpers.model.lora",
    "memory_check": "helpers.training.memory_advice",
    "train": "helpers.training.loop",
    "load_finetuned": "helpers.training.runs",
    "clean_caption": "helpers.data.detokenize",
    "caption_image": "helpers.eval.inference",
    "caption_folder": "helpers.eval.inference",
    "tune_decoding": "helpers.eval.decoding",
    "evaluate_captions": "helpers.eval.metrics",
    "load_bertscorer": "helpers.eval.bertscore",
    "caption_and_score": "helpers.eval.scoring",
    "diagnostics_table": "helpers.eval.reliance",
    "compare": "helpers.eval.comparison",
    "comparison_view": "helpers.eval.comparison",
    "record_evaluation": "helpers.eval.record",
    "plot_loss_curves": "helpers.viz.figures",
    "read_licsar": "helpers.geo.licsar",
    "screen_frame": "helpers.geo.screening",
    "share_run": "helpers.sharing",
}
__all__ = sorted(PUBLIC_API)


def __getattr__(name: str) -> Any:
    module = PUBLIC_API.get(name)
    if module is None:
        raise AttributeError(f"module 'helpers' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # found directly next time
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
