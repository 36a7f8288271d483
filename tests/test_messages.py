"""helpers' messages: shown once on stdout, by the main process only; no print in the library."""

from __future__ import annotations

import ast
import logging
from pathlib import Path

from helpers.messages import ROOT_LOGGER, StdoutHandler, show_messages

HELPERS = Path(__file__).resolve().parent.parent / "helpers"


def test_messages_appear_once_on_stdout(capsys):
    show_messages()
    show_messages()  # a second call adds no second handler
    handlers = [h for h in logging.getLogger(ROOT_LOGGER).handlers if isinstance(h, StdoutHandler)]
    assert len(handlers) == 1
    logging.getLogger("helpers.data.prepare").info("Saved a new split to somewhere.")
    assert capsys.readouterr().out == "Saved a new split to somewhere.\n"


def test_only_the_main_process_speaks(capsys, monkeypatch):
    show_messages()
    monkeypatch.setenv("RANK", "1")
    logging.getLogger("helpers.training.loop").info("epoch 1/2: ...")
    assert capsys.readouterr().out == ""
    monkeypatch.setenv("RANK", "0")
    logging.getLogger("helpers.training.loop").info("epoch 1/2: ...")
    assert capsys.readouterr().out == "epoch 1/2: ...\n"


def test_debug_messages_stay_hidden_unless_asked(capsys):
    show_messages()
    logging.getLogger("helpers.x").debug("detail")
    assert capsys.readouterr().out == ""
    show_messages(logging.DEBUG)
    try:
        logging.getLogger("helpers.x").debug("detail")
        assert capsys.readouterr().out == "detail\n"
    finally:
        show_messages(logging.INFO)


def print_calls(tree: ast.AST) -> list[int]:
    """Line numbers of ``print(...)`` and ``<x>.print(...)`` calls outside functions named
    ``main`` (command-line entry points may print their own output)."""
    found = []
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.FunctionDef) and node.name == "main":
            continue
        if isinstance(node, ast.Call):
            func = node.func
            name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
            if name == "print":
                found.append(node.lineno)
        found += print_calls(node)
    return found


def test_library_code_reports_through_logging_not_print():
    offenders = [
        f"{path.relative_to(HELPERS)}:{line}"
        for path in sorted(HELPERS.rglob("*.py"))
        for line in print_calls(ast.parse(path.read_text(encoding="utf-8")))
    ]
    assert offenders == []
