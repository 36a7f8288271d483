"""The commands a Markdown page shows, normalised so that two pages can be compared.

A command is one shell line of a ``bash``/``sh``/``powershell`` code block (continuation lines
joined, the trailing ``# comment`` dropped, runs of spaces collapsed), one statement of a
``python`` code block (as ``ast.unparse`` writes it, so layout and comments do not matter), or
an inline code span that runs something (it starts with ``uv ``, ``python ``, ``accelerate`` or
an environment variable, and has at least three words, or it is a call).

``tests/data/readme_commands.txt`` is the snapshot of the commands of the README before it was
split into ``docs/`` (made once with ``uv run python tests/doc_commands.py README.md``);
``tests/test_docs.py`` checks that each of them is still shown somewhere.
"""

from __future__ import annotations

import ast
import re
import sys
import textwrap
from pathlib import Path

SHELLS = {"bash", "sh", "shell", "console", "powershell", "ps1"}
FENCE = re.compile(r"^[ \t]*```([\w-]*)[ \t]*\n(.*?)^[ \t]*```[ \t]*$", re.MULTILINE | re.DOTALL)
INLINE = re.compile(r"`([^`\n]+(?:\n[^`\n]+)?)`")
RUNS = re.compile(r"^(uv|python|accelerate|[A-Z_]+=\S+|\$env:\S+|setx|winget) \S+ \S|^[\w.]+\(")


def normalise(command: str) -> str:
    return " ".join(command.split())


def code_blocks(text: str) -> list[tuple[str, str]]:
    """(language, body) of every fenced code block."""
    return [(m.group(1).lower(), textwrap.dedent(m.group(2))) for m in FENCE.finditer(text)]


def shell_commands(body: str) -> list[str]:
    joined = re.sub(r"\\\s*\n\s*", " ", body)
    commands = []
    for line in joined.splitlines():
        line = re.sub(r"(^|\s)#.*$", "", line).strip()
        if line:
            commands.append(normalise(line))
    return commands


def python_statements(body: str) -> list[str]:
    return [ast.unparse(statement) for statement in ast.parse(body).body]


def inline_commands(text: str) -> list[str]:
    prose = FENCE.sub("", text)
    found = [normalise(span) for span in INLINE.findall(prose)]
    return [span for span in found if RUNS.match(span)]


def page_commands(text: str) -> list[str]:
    """Every command of a page, in order, duplicates dropped."""
    commands = []
    for language, body in code_blocks(text):
        if language in SHELLS:
            commands += shell_commands(body)
        elif language == "python":
            commands += python_statements(body)
    commands += inline_commands(text)
    return list(dict.fromkeys(commands))


if __name__ == "__main__":
    for page in sys.argv[1:]:
        print("\n".join(page_commands(Path(page).read_text(encoding="utf-8"))))
