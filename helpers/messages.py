"""What ``helpers`` tells its user: module loggers under ``"helpers"`` and one handler to show them.

Library code reports through ``logging.getLogger(__name__)``, never ``print``. Notebooks and the
command line call :func:`show_messages` once; it shows every message at INFO and above as a plain
line on standard output (whatever ``sys.stdout`` is at that moment: a notebook cell, a terminal,
pytest's capture), exactly as the old prints did. Under several processes (``accelerate launch``,
``notebook_launcher``, torchrun: they all set ``RANK``) only process 0 speaks. Without
``show_messages`` the messages follow your own logging setup.
"""

from __future__ import annotations

import logging
import os
import sys

ROOT_LOGGER = "helpers"


def is_main_process() -> bool:
    """True in a single process and in process 0 of a distributed run."""
    return os.environ.get("RANK", "0").strip() in ("", "0")


class MainProcessOnly(logging.Filter):
    """Lets records through in the main process only."""

    def filter(self, record: logging.LogRecord) -> bool:
        return is_main_process()


class StdoutHandler(logging.StreamHandler):
    """A stream handler that writes to the current ``sys.stdout`` at every message."""

    def __init__(self) -> None:
        super().__init__(sys.stdout)

    @property
    def stream(self):  # type: ignore[override]
        return sys.stdout

    @stream.setter
    def stream(self, value) -> None:  # StreamHandler sets it once; the property wins
        pass


def show_messages(level: int = logging.INFO) -> logging.Handler:
    """Show ``helpers``' messages on standard output, main process only; safe to call again
    (one handler, its level updated). Returns the handler."""
    logger = logging.getLogger(ROOT_LOGGER)
    logger.setLevel(level)
    for handler in logger.handlers:
        if isinstance(handler, StdoutHandler):
            handler.setLevel(level)
            return handler
    handler = StdoutHandler()
    handler.setLevel(level)
    handler.setFormatter(logging.Formatter("%(message)s"))
    handler.addFilter(MainProcessOnly())
    logger.addHandler(handler)
    logger.propagate = False  # shown once, not again by a root handler
    return handler


__all__ = ["ROOT_LOGGER", "MainProcessOnly", "StdoutHandler", "is_main_process", "show_messages"]
