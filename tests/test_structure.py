"""The package's shape: stages import only from earlier stages, no cycles, short modules, and a
public API that resolves."""

from __future__ import annotations

import ast
from pathlib import Path

import helpers

HELPERS = Path(helpers.__file__).resolve().parent
# the stages in the order the data flows; a module may import from its own stage or earlier ones
STAGES = ("base", "data", "model", "training", "eval", "viz", "geo", "sharing")
MAX_LINES = 360  # "about 350"


def stage(module: str) -> str:
    parts = module.split(".")
    if len(parts) < 2 or parts[1] in {"config", "device", "files", "messages", "oom"}:
        return "base"
    return parts[1]


def module_name(path: Path) -> str:
    parts = ("helpers", *path.relative_to(HELPERS).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def helpers_imports(path: Path) -> set[str]:
    """The ``helpers`` modules ``path`` imports (at module level or inside functions), with the
    submodules a ``from helpers.x import y`` names (``y`` a module, not a name in ``x``)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("helpers"):
            found.add(node.module)
            found |= {f"{node.module}.{a.name}" for a in node.names if is_module(node.module, a)}
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("helpers")}
    return found


def is_module(package: str, alias: ast.alias) -> bool:
    folder = HELPERS.joinpath(*package.split(".")[1:], alias.name)
    return folder.with_suffix(".py").is_file() or (folder / "__init__.py").is_file()


def test_imports_point_from_later_stages_to_earlier_ones():
    backwards = []
    for path in sorted(HELPERS.rglob("*.py")):
        importer = module_name(path)
        if importer == "helpers":
            continue  # the public API re-exports every stage, lazily
        for imported in helpers_imports(path):
            if STAGES.index(stage(imported)) > STAGES.index(stage(importer)):
                backwards.append(f"{importer} imports {imported}")
    assert backwards == []


def import_cycles(graph: dict[str, set[str]]) -> list[str]:
    """Every cycle of ``graph`` (module -> the modules it imports), each as ``a -> b -> a``.

    Edges from a package to its own submodules count like any other: a package's
    ``__init__`` may import its submodules only when none of them imports back into
    something that imports the package."""
    cycles, done = [], set()

    def visit(node: str, trail: tuple[str, ...]) -> None:
        if node in trail:
            cycles.append(" -> ".join((*trail[trail.index(node) :], node)))
            return
        if node in done:
            return
        for child in sorted(graph.get(node, ())):
            if child != node and child in graph:
                visit(child, (*trail, node))
        done.add(node)

    for module in sorted(graph):
        visit(module, ())
    return cycles


def test_no_import_cycles():
    graph = {module_name(p): helpers_imports(p) for p in HELPERS.rglob("*.py")}
    graph.pop("helpers")  # the public API re-exports every stage, lazily
    assert import_cycles(graph) == []


def test_the_cycle_check_sees_a_cycle_through_a_package_and_its_submodules():
    graph = {  # the data stage's old circle, through the synthetic package's __init__
        "helpers.data.caption_stats": {"helpers.data.card"},
        "helpers.data.card": {"helpers.data.prepare"},
        "helpers.data.prepare": {"helpers.data.synthetic"},
        "helpers.data.synthetic": {"helpers.data.synthetic.dataset"},
        "helpers.data.synthetic.dataset": {"helpers.data.caption_stats"},
    }
    assert import_cycles(graph) == [
        "helpers.data.caption_stats -> helpers.data.card -> helpers.data.prepare -> "
        "helpers.data.synthetic -> helpers.data.synthetic.dataset -> helpers.data.caption_stats"
    ]
    graph["helpers.data.synthetic.dataset"] = {"helpers.data.synthetic.captions"}
    graph["helpers.data.synthetic.captions"] = set()
    assert import_cycles(graph) == []  # an __init__ importing submodules that don't import back


def test_modules_stay_short():
    long = {
        module_name(p): n
        for p in HELPERS.rglob("*.py")
        if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert long == {}


def test_the_public_api_resolves_to_the_named_functions():
    from helpers import caption_and_score, load_captioner, load_config, prepare_dataset, train

    assert train.__module__ == "helpers.training.loop"
    assert prepare_dataset.__module__ == "helpers.data.prepare"
    assert (load_config, load_captioner, caption_and_score) == (
        helpers.load_config,
        helpers.load_captioner,
        helpers.caption_and_score,
    )
    for name, module in helpers.PUBLIC_API.items():
        assert getattr(helpers, name).__module__ == module, name
    assert sorted(helpers.__all__) == sorted(helpers.PUBLIC_API)
    try:
        helpers.no_such_function  # noqa: B018
    except AttributeError as error:
        assert "no_such_function" in str(error)
    else:
        raise AssertionError("an unknown name must raise AttributeError")
