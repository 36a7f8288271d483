"""Figures and widgets: ``figures`` (losses, scores, examples), ``grounding`` (attention maps),
``tour`` (the dataset tour) and ``widgets`` (caption an uploaded image)."""
