"""Stage 4, evaluation: ``inference`` and ``decoding`` write captions; ``metrics``,
``domain_facts``/``domain_scores``, ``diversity``, ``bootstrap`` and ``baselines`` score them;
``results`` keeps them in files, ``scoring`` (``caption_and_score``) runs the whole step,
``comparison`` puts runs side by side and ``record`` keeps an evaluation with its run.
``grounding``, ``pointing`` and ``grounding_eval``: where the model looks."""
