"""Stage 1, data: from the zips (or folders) to records, splits and batches.

``archives`` (safe unzip) and ``layouts`` (which files are where) -> ``annotations`` (the one
annotation parser) -> ``records`` (typed records, load report) -> ``splits`` (frame-grouped,
stratified) -> ``prepare`` (``prepare_dataset``: all of it in one call) -> ``batching``
(Dataset and collator). Beside them: ``card`` and ``caption_stats`` (what the data looks like;
both take their length figures from ``lengths``, which imports neither),
``synthetic`` (the offline stand-in, ``python -m helpers.data.synthetic``) and ``release`` (the
zips from the official release, ``python -m helpers.data.release``).
"""
