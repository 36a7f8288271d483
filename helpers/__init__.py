"""Shared helpers for the Hephaestus InSAR captioning notebooks.

Small modules with one concern each: ``config`` (profiles and knobs), ``device``, ``synthetic``,
``data_extract`` / ``data`` / ``batching`` (zips to records to batches), ``hephaestus_release``,
``modeling`` / ``attention``, ``training`` / ``checkpointing`` / ``train`` (CLI) / ``runs``,
``inference``, ``metrics`` / ``domain_facts`` / ``domain_scores`` / ``diversity`` /
``bootstrap`` / ``baselines`` / ``results`` / ``evaluation`` / ``comparison``, ``plots``,
``explore``, ``widgets`` and ``files``. The README's module table says what each one does.
"""

__version__ = "0.1.0"
