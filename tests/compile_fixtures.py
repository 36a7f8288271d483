"""A ``torch.compile`` backend that counts the graphs it is given and runs them as traced."""

from __future__ import annotations

from collections.abc import Callable

import torch


class CountingBackend:
    """``torch.compile(module, backend=CountingBackend())``: ``graphs`` counts compilations
    (one per graph: a recompile or a graph break adds one)."""

    def __init__(self) -> None:
        self.graphs = 0

    def __call__(self, graph: torch.fx.GraphModule, example_inputs: list) -> Callable:
        self.graphs += 1
        return graph.forward
