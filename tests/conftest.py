"""Shared test setup."""

from __future__ import annotations

import pytest
from accelerate.state import AcceleratorState, GradientState

from helpers.messages import show_messages


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
