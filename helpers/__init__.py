"""Shared helpers for the Hephaestus InSAR captioning notebooks.

One concern per module: ``config`` (profiles and knobs), ``device`` (device and precision),
``synthetic`` (InSAR-like stand-in data), ``data`` (safe unzip, validation, grouped split,
Dataset/collate), ``modeling`` (load/build models, LoRA), ``training`` (the Accelerate loop),
``inference`` (batched captioning), ``metrics`` / ``domain_facts`` / ``results`` (scores and
result files) and ``plots``.
"""

__version__ = "0.1.0"
