"""Stage 2, the model: ``loading`` (Hub, local folders, random-init stand-ins; LoRA in ``lora``),
``attention`` (fused attention in BLIP's vision encoder), ``feature_cache`` (a frozen encoder runs
once per image) and ``load_errors`` (what went wrong, in words)."""
