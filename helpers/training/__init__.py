"""Stage 3, training: ``loop`` (``train``, one explicit Accelerate loop) with ``accelerator``,
``auto_batch`` and ``checkpoints``; ``resume`` (may a rerun continue?), ``memory`` and
``memory_advice`` (will it fit?), ``tracking`` (live curves), ``model_card`` (a card beside every
export), ``runs`` (finished runs) and ``cli`` (``python -m helpers.training``)."""
