"""The package's import graph: no module reaches itself through its imports, and the trust boundary
(``rewardsmith/sandbox/``) imports only the few parent-side modules it names.

Every import counts, wherever it stands: at module level, inside a function (a "lazy" import is still an
arrow one way), under ``if TYPE_CHECKING:`` (the type checker follows it). A circle is a sign that two
stages each know the other; the arrows should point down the pipeline (issue 20, STYLE.md)."""

from __future__ import annotations

import ast
from functools import lru_cache
from pathlib import Path

import rewardsmith

PACKAGE = Path(rewardsmith.__file__).parent

# Circles tolerated for now, each the set of modules of one strongly connected component: none. An entry
# here is a debt with a reason beside it, not a way to silence the test.
KNOWN: set[frozenset[str]] = set()


def modules_of(package: Path) -> dict[str, Path]:
    """Every module of ``package`` (a folder) by its dotted name (a package by its own: its ``__init__.py``)."""
    modules = {}
    for path in sorted(package.rglob("*.py")):
        parts = list(path.relative_to(package.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


@lru_cache(maxsize=None)
def _module_names() -> dict[str, Path]:
    return modules_of(PACKAGE)


def _imports(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The package's modules that module ``name`` (at ``path``) imports, anywhere in its text.

    ``import a.b.c`` is an arrow to ``a.b.c``; ``from a.b import c`` to the submodule ``a.b.c`` where there
    is one, else to the package ``a.b`` (its ``__init__.py``). The parents a submodule import runs on the way
    (``a``, ``a.b``) are not counted: they are initialised before any of their submodules, whatever imports
    what, so they cannot close a circle at import time and would make every package look like one."""
    is_package = path.name == "__init__.py"
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                # a package's own name is its level-1 base; a module's base is its package
                base = name.split(".")
                drop = node.level - 1 if is_package else node.level
                base = base[:len(base) - drop]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            for alias in node.names:
                found.add(f"{module}.{alias.name}" if f"{module}.{alias.name}" in modules else module)
    return {m for m in found if m in modules and m != name}


@lru_cache(maxsize=None)
def import_graph() -> dict[str, set[str]]:
    """Module -> the package's modules it imports."""
    modules = _module_names()
    return {name: _imports(name, path, modules) for name, path in modules.items()}


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The graph's strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []

    def visit(start: str) -> None:
        # iterative, so a long chain cannot hit the recursion limit
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, successors = work[-1]
            for nxt in successors:
                if nxt not in index:
                    index[nxt] = low[nxt] = len(index)
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, iter(sorted(graph[nxt]))))
                    break
                if nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        found.append(sorted(component))

    for name in sorted(graph):
        if name not in index:
            visit(name)
    return found


def a_cycle(graph: dict[str, set[str]], component: list[str]) -> list[str]:
    """One concrete circle through a component, as the path of modules back to its first."""
    members = set(component)
    start = component[0]
    # breadth-first from start's successors back to start, inside the component: the shortest circle
    paths = {nxt: [start, nxt] for nxt in sorted(graph[start] & members)}
    queue = list(paths)
    while queue:
        node = queue.pop(0)
        if node == start:
            return paths[node]
        for nxt in sorted(graph[node] & members):
            if nxt not in paths:
                paths[nxt] = paths[node] + [nxt]
                queue.append(nxt)
    return component  # unreachable for a strongly connected component


def _file(name: str) -> str:
    return str(_module_names()[name].relative_to(PACKAGE.parent))


def describe(graph: dict[str, set[str]], component: list[str]) -> str:
    return " -> ".join(_file(m) for m in a_cycle(graph, component))


def test_the_package_has_no_import_cycle():
    graph = import_graph()
    new = [c for c in circles(graph) if frozenset(c) not in KNOWN]
    assert not new, "import cycles (every import counts: module level, in functions, under TYPE_CHECKING):\n" + \
        "\n".join(f"  {describe(graph, c)}   (modules: {', '.join(_file(m) for m in c)})" for c in new)


# --- the graph builder itself, on a made-up package, so a wrong resolution cannot hide a circle ---

def _tiny_package(tmp_path: Path, files: dict[str, str]) -> dict[str, set[str]]:
    for relative, text in files.items():
        target = tmp_path / "pkg" / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    modules = modules_of(tmp_path / "pkg")
    return {name: _imports(name, path, modules) for name, path in modules.items()}


def test_imports_in_functions_and_under_type_checking_and_relative_ones_all_count(tmp_path):
    graph = _tiny_package(tmp_path, {
        "__init__.py": "",
        "low.py": "def f():\n    from .high import g\n",
        "high.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg.sub import deep\n",
        "sub/__init__.py": "from .. import low\n",
        "sub/deep.py": "import pkg.low\n",
        "sub/other.py": "from . import deep, NAME\nfrom ..sub import other\n",
    })
    assert graph["pkg.low"] == {"pkg.high"}
    assert graph["pkg.high"] == {"pkg.sub.deep"}  # a submodule named in "from package import x"
    assert graph["pkg.sub"] == {"pkg.low"}  # a package's "from .. import" climbs one level, not two
    assert graph["pkg.sub.deep"] == {"pkg.low"}
    assert graph["pkg.sub.other"] == {"pkg.sub.deep", "pkg.sub"}  # NAME is no module: the package's __init__
    found = circles(graph)
    assert found == [["pkg.high", "pkg.low", "pkg.sub.deep"]]
    assert a_cycle(graph, found[0]) == ["pkg.high", "pkg.sub.deep", "pkg.low", "pkg.high"]


# --- the trust boundary ---

# All rewardsmith/sandbox/ may import of the parent side: the task definition (the child loads the user's
# task file) and the error hierarchy. Anything new here crosses the trust boundary on purpose, by name.
SANDBOX_PARENT_SIDE = {"rewardsmith.task", "rewardsmith.errors"}


def parent_side_of_sandbox(graph: dict[str, set[str]]) -> tuple[dict[str, list[str]], set[str]]:
    """What the sandbox's modules import of the parent side beyond SANDBOX_PARENT_SIDE (by module), and
    every parent-side module the sandbox reaches, imports followed all the way."""
    boundary = "rewardsmith.sandbox"
    inside = {name for name in graph if name == boundary or name.startswith(boundary + ".")}
    crossing = {name: sorted(set(graph[name]) - inside - SANDBOX_PARENT_SIDE) for name in sorted(inside)}
    reached, todo = set(), [m for name in inside for m in graph[name] if m not in inside]
    while todo:
        module = todo.pop()
        if module not in reached:
            reached.add(module)
            todo.extend(graph[module])
    return {name: found for name, found in crossing.items() if found}, reached - inside


def test_the_sandbox_imports_only_the_named_parent_side_modules():
    graph = import_graph()
    assert {"rewardsmith.sandbox.child", "rewardsmith.sandbox.rewardcode"} <= set(graph)
    crossing, reached = parent_side_of_sandbox(graph)
    assert not crossing, f"the sandbox imports parent-side modules: {crossing}"
    # and through those, nothing more: task and errors import nothing of the package beyond each other
    assert reached == SANDBOX_PARENT_SIDE


def test_a_parent_side_import_of_the_sandbox_is_caught_directly_and_through_task():
    graph = {"rewardsmith.sandbox": set(), "rewardsmith.sandbox.child": {"rewardsmith.task", "rewardsmith.loop"},
             "rewardsmith.task": {"rewardsmith.errors", "rewardsmith.config"}, "rewardsmith.errors": set(),
             "rewardsmith.loop": set(), "rewardsmith.config": {"rewardsmith.sandbox.child"}}
    crossing, reached = parent_side_of_sandbox(graph)
    assert crossing == {"rewardsmith.sandbox.child": ["rewardsmith.loop"]}
    assert reached == {"rewardsmith.task", "rewardsmith.errors", "rewardsmith.loop", "rewardsmith.config"}
