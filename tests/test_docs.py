"""The README and docs/ stay true: links resolve, the commands they show exist with the flags
they pass, and no command of the README before the docs/ split has been lost."""

from __future__ import annotations

import ast
import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest
from doc_commands import FENCE, page_commands

import helpers

ROOT = Path(__file__).resolve().parent.parent
PAGES = sorted(
    [ROOT / "README.md", ROOT / "Hephaestus_dataset" / "README.md", *(ROOT / "docs").glob("*.md")]
)
SNAPSHOT = Path(__file__).resolve().parent / "data" / "readme_commands.txt"
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
INLINE_CODE = re.compile(r"`[^`\n]+`")
FLAG = re.compile(r"--[a-z][\w-]*")
NOTEBOOK = re.compile(r"\b(0\d_[a-z][a-z_]*[a-z])\b")


def page_id(page: Path) -> str:
    return str(page.relative_to(ROOT))


def prose(text: str) -> str:
    """The page without code blocks and inline code (links there are not links)."""
    return INLINE_CODE.sub("", FENCE.sub("", text))


def github_anchors(text: str) -> set[str]:
    """The anchors GitHub gives the page's headings: lower case, punctuation dropped, spaces to
    hyphens; a repeated heading gets -1, -2..."""
    anchors: set[str] = set()
    for line in FENCE.sub("", text).splitlines():
        heading = re.match(r"#{1,6}\s+(.*?)\s*#*\s*$", line)
        if not heading:
            continue
        words = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading.group(1))  # a link's text
        slug = re.sub(r"[^\w\- ]", "", words.lower()).replace(" ", "-")
        anchor, n = slug, 0
        while anchor in anchors:
            n += 1
            anchor = f"{slug}-{n}"
        anchors.add(anchor)
    return anchors


def broken_links(page: Path) -> list[str]:
    text = page.read_text(encoding="utf-8")
    broken = []
    for target in LINK.findall(prose(text)):
        if re.match(r"[a-z][a-z0-9+.-]*:", target):  # https:, mailto:...
            continue
        path, _, anchor = target.partition("#")
        linked = (page.parent / path).resolve() if path else page
        if not linked.exists():
            broken.append(f"{target} (no such file)")
        elif anchor and (
            linked.suffix != ".md" or anchor not in github_anchors(linked.read_text("utf-8"))
        ):
            broken.append(f"{target} (no such heading)")
    return broken


@pytest.mark.parametrize("page", PAGES, ids=page_id)
def test_every_relative_link_resolves(page: Path) -> None:
    assert broken_links(page) == []


def test_the_link_check_finds_a_broken_file_and_a_broken_anchor(tmp_path: Path) -> None:
    (tmp_path / "other.md").write_text("# Intel GPUs (Arc, Core Ultra)\n\n## Loading errors\n")
    page = tmp_path / "page.md"
    page.write_text(
        "# Top\n[ok](other.md#intel-gpus-arc-core-ultra) [ok](#top) [ok](other.md)\n"
        "[web](https://example.org/x.md) `[code](nowhere.md)`\n"
        "[gone](missing.md) [typo](other.md#loading-error) ![img](images/none.png)\n"
    )
    assert broken_links(page) == [
        "missing.md (no such file)",
        "other.md#loading-error (no such heading)",
        "images/none.png (no such file)",
    ]


def static_flags(*files: Path) -> set[str]:
    """The ``--flags`` a command line defines: string constants that are exactly a flag (the
    names given to ``add_argument`` and the keys of tables of flags), read without importing."""
    flags = {"--help"}
    for file in files:
        for node in ast.walk(ast.parse(file.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                flags |= {node.value} if FLAG.fullmatch(node.value) else set()
    return flags


def local_imports(file: Path, folder: Path, prefix: str = "") -> list[Path]:
    """The files of ``folder`` that ``file`` imports (module names start with ``prefix``)."""
    found = []
    for node in ast.walk(ast.parse(file.read_text(encoding="utf-8"))):
        names = [node.module] if isinstance(node, ast.ImportFrom) and node.module else []
        names += [a.name for a in node.names] if isinstance(node, ast.Import) else []
        for name in names:
            if prefix and not name.startswith(prefix):
                continue
            relative = Path(*name.split(".")[1 if prefix else 0 :])
            candidates = (folder / relative.with_suffix(".py"), folder / relative / "__init__.py")
            found += [candidate for candidate in candidates if candidate.is_file()]
    return found


def module_flags(module: str) -> set[str]:
    """Flags of ``python -m module``: its file (``__main__.py`` for a package) and the
    ``helpers`` modules that file imports."""
    spec = importlib.util.find_spec(module)
    assert spec is not None and spec.origin, f"{module} is not importable"
    entry = Path(spec.origin)
    if entry.name == "__init__.py":
        entry = entry.with_name("__main__.py")
        assert entry.is_file(), f"{module} is a package without __main__.py"
    helpers_dir = Path(helpers.__file__).parent
    return static_flags(entry, *local_imports(entry, helpers_dir, prefix="helpers"))


def script_flags(script: Path) -> set[str]:
    return static_flags(script, *local_imports(script, script.parent))


def command_problems(command: str) -> list[str]:
    problems = []
    words = command.split()
    for i, word in enumerate(words):
        if word == "-m" and i + 1 < len(words) and words[i + 1].startswith("helpers"):
            kind, name, rest = "module", words[i + 1], words[i + 2 :]
            found, flags = importlib.util.find_spec(name) is not None, module_flags
        elif re.fullmatch(r"bench/\w+\.py", word):
            kind, name, rest = "script", word, words[i + 1 :]
            found, flags = (ROOT / word).is_file(), lambda script: script_flags(ROOT / script)
        else:
            continue
        if not found:
            problems.append(f"{command}: no {kind} {name}")
            continue
        known = flags(name)
        unknown = [flag for flag in FLAG.findall(" ".join(rest)) if flag not in known]
        problems += [f"{command}: {name} has no {flag}" for flag in unknown]
    imported = re.fullmatch(r"from helpers import (.+)", command)
    if imported:
        problems += [
            f"{command}: helpers has no {name}"
            for name in (n.strip() for n in imported.group(1).split(","))
            if name not in helpers.PUBLIC_API
        ]
    return problems


@pytest.mark.parametrize("page", PAGES, ids=page_id)
def test_every_command_shown_exists_with_its_flags(page: Path) -> None:
    text = page.read_text(encoding="utf-8")
    problems = [p for command in page_commands(text) for p in command_problems(command)]
    for name in sorted(set(NOTEBOOK.findall(text))):
        if not (ROOT / "notebooks" / f"{name}.ipynb").is_file():
            problems.append(f"no notebook {name}")
    assert problems == []


def test_the_command_check_finds_what_does_not_exist() -> None:
    assert command_problems("uv run python -m helpers.training --profile demo --lora") == []
    assert command_problems("uv run python -m helpers.trainer --profile demo") == [
        "uv run python -m helpers.trainer --profile demo: no module helpers.trainer"
    ]
    assert command_problems("uv run python -m helpers.data.release --no-such-flag") == [
        "uv run python -m helpers.data.release --no-such-flag: helpers.data.release has no "
        "--no-such-flag"
    ]
    assert command_problems("uv run python bench/gpu_suite.py --budget-s 60") == []
    assert command_problems("uv run python bench/gone.py") == [
        "uv run python bench/gone.py: no script bench/gone.py"
    ]
    assert command_problems("from helpers import train, no_such_name") == [
        "from helpers import train, no_such_name: helpers has no no_such_name"
    ]


@pytest.mark.parametrize("module", ["helpers.data.release", "helpers.data.synthetic"])
def test_the_static_flags_are_the_ones_help_prints(module: str) -> None:
    """The flag reader agrees with argparse where ``--help`` is cheap (these two import no
    torch; ``helpers.training`` and the bench scripts do, which takes tens of seconds)."""
    done = subprocess.run(
        [sys.executable, "-m", module, "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert set(FLAG.findall(done.stdout)) == module_flags(module)


def test_no_command_of_the_old_readme_is_lost() -> None:
    shown = {
        command
        for page in (ROOT / "README.md", *(ROOT / "docs").glob("*.md"))
        for command in page_commands(page.read_text(encoding="utf-8"))
    }
    snapshot = SNAPSHOT.read_text(encoding="utf-8").splitlines()
    assert len(snapshot) > 40
    assert [command for command in snapshot if command not in shown] == []
