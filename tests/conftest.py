"""Shared test setup."""

from __future__ import annotations

import os

import pytest
import torch

if os.environ.get("PYTEST_XDIST_WORKER"):
    # the suite runs in 2 worker processes (pyproject's addopts), one per core: one thread each,
    # here and in the notebook kernels and scripts the tests start (2 x 2 threads on 2 cores
    # spin against each other and run several times slower)
    os.environ["OMP_NUM_THREADS"] = "1"
    torch.set_num_threads(1)
from accelerate.state import AcceleratorState, GradientState

from helpers.messages import show_messages

# the slowest files, slowest first (bench/results/ci_clock_after.md): they start first, so
# neither worker is left running a long file alone at the end (pyproject's addopts keep this
# order: --no-loadscope-reorder; xdist would otherwise start the files with most tests first)
SLOWEST_FIRST = (
    "test_bench.py",
    "test_notebooks.py",
    "test_notebooks_florence.py",
    "test_hub_cache_notebooks.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Run the files of ``SLOWEST_FIRST`` first, in that order; the rest keep theirs."""
    rank = {name: index for index, name in enumerate(SLOWEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))


@pytest.fixture(autouse=True, scope="session")
def messages_on_stdout():
    """helpers' messages on standard output, as notebooks and the command line show them, so
    tests read them with ``capsys``."""
    show_messages()


@pytest.fixture(autouse=True)
def fresh_accelerate_state():
    """Each test builds its own Accelerator from scratch: reset Accelerate's shared state after
    every test."""
    yield
    AcceleratorState._reset_state(reset_partial_state=True)
    GradientState._reset_state()


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    """A scratch workspace (``CAPTION_WORKSPACE``) in the smoke profile, per test module: the
    notebooks' data, assets and runs go there, never into the repository."""
    root = tmp_path_factory.mktemp("workspace")
    saved = {k: os.environ.get(k) for k in ("CAPTION_WORKSPACE", "CAPTION_PROFILE")}
    os.environ.update(CAPTION_WORKSPACE=str(root), CAPTION_PROFILE="smoke")
    yield root
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
