"""The import graph of ``voicemon/``: no circles, and the library never imports the CLI.

Every module is parsed (not imported) and every ``import voicemon...`` / ``from voicemon...
import`` / relative import is an edge, including imports inside functions (the lazy imports that
keep ``voicemon --help`` fast are still dependencies). Imports under ``if TYPE_CHECKING:`` are
not edges: they never run, and they are how a module names a type without depending on it.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "voicemon"


def module_name(path: Path, root: Path = ROOT) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _runtime_nodes(tree: ast.AST):
    """Every node except those under ``if TYPE_CHECKING:`` (their ``else`` branch is kept)."""
    stack = [tree]
    while stack:
        node = stack.pop()
        yield node
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            stack.extend(node.orelse)
            continue
        stack.extend(ast.iter_child_nodes(node))


def imports_of(path: Path, modules: set[str], root: Path = ROOT) -> set[str]:
    """The ``voicemon`` modules ``path`` imports (``from pkg import mod`` names the submodule)."""
    name = module_name(path, root)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in _runtime_nodes(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            targets = [f"{target}.{alias.name}" if f"{target}.{alias.name}" in modules else target
                       for alias in node.names]
        else:
            continue
        for target in targets:
            while target and target not in modules:  # ``import voicemon.a.b.attr`` -> the module part
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


def build_graph() -> dict[str, set[str]]:
    files = [p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts]
    modules = {module_name(p) for p in files}
    return {module_name(p): imports_of(p, modules) for p in files}


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Each import circle once, as a path ``a -> b -> ... -> a`` (depth-first search)."""
    cycles: list[list[str]] = []
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    path: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                cycles.append(path[path.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt)
        path.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)
    return cycles


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    return build_graph()


def test_the_walker_sees_lazy_relative_and_from_imports(tmp_path):
    pkg = tmp_path / "voicemon"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "sub" / "a.py").write_text(
        "from typing import TYPE_CHECKING\n"
        "from . import b\n"
        "if TYPE_CHECKING:\n    from voicemon import typed_only\n"
        "def f():\n    from ..lazy import thing\n    import voicemon.sub.c.attr\n")
    for name in ("sub/b.py", "sub/c.py", "lazy.py", "typed_only.py"):
        (pkg / name).write_text("")
    modules = {module_name(p, tmp_path) for p in pkg.rglob("*.py")}
    assert imports_of(pkg / "sub" / "a.py", modules, tmp_path) == {"voicemon.sub.b", "voicemon.lazy", "voicemon.sub.c"}
    assert find_cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c", "a"]]
    assert find_cycles({"a": {"b"}, "b": set()}) == []


def test_every_module_is_in_the_graph(graph):
    assert {"voicemon.cli", "voicemon.cli.analyze", "voicemon.server.app", "voicemon.session"} <= set(graph)
    assert "voicemon.report.writers" in graph["voicemon.server.app"]


def test_no_import_circle(graph):
    cycles = find_cycles(graph)
    assert not cycles, "import circles in voicemon/:\n" + "\n".join(" -> ".join(c) for c in cycles)


def test_library_never_imports_the_cli(graph):
    offenders = sorted(
        f"{mod} imports {dep}"
        for mod, deps in graph.items()
        if not (mod == "voicemon.cli" or mod.startswith("voicemon.cli.") or mod == "voicemon.__main__")
        for dep in deps
        if dep == "voicemon.cli" or dep.startswith("voicemon.cli.")
    )
    assert not offenders, "library modules must not import the CLI:\n" + "\n".join(offenders)
