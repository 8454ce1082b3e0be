"""The package's module import graph, read from the source with ``ast``, has no circles.

An edge ``a -> b`` is an import of module ``b`` that runs when ``a`` is imported (a
statement at module level, also inside a top-level ``if``/``try``); importing a submodule
adds no edge to its parent package. Imports inside functions are deliberate lazy edges
(e.g. a task object reads files through ``maikit.data`` only when asked) and are not part
of the import-time graph, except for the registry: it must import no model at all, even
lazily, since ``maikit/models/__init__.py`` imports the zoo.
"""

from __future__ import annotations

import ast
from pathlib import Path

import maikit

SRC = Path(maikit.__file__).resolve().parent.parent
# packages and modules whose imports must not take part in a circle
CHECKED = ("maikit.models", "maikit.tasks", "maikit.data", "maikit.train", "maikit.eval",
           "maikit.leaderboard", "maikit.export.exporter", "maikit.export.calib",
           "maikit.export.source", "maikit.export.quantize", "maikit.export.rewrite")


def _modules() -> dict[str, tuple[Path, bool]]:
    mods = {}
    for path in (SRC / "maikit").rglob("*.py"):
        parts = list(path.relative_to(SRC).with_suffix("").parts)
        is_pkg = parts[-1] == "__init__"
        mods[".".join(parts[:-1] if is_pkg else parts)] = (path, is_pkg)
    return mods


def _module_level(tree: ast.Module):
    """The nodes that run at import time: everything outside function and class bodies
    (class bodies run too, but hold no imports here)."""
    todo = list(tree.body)
    while todo:
        node = todo.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            continue
        yield node
        todo.extend(ast.iter_child_nodes(node))


def import_graph(lazy: bool = False) -> dict[str, set[str]]:
    """Module -> the maikit modules it imports at import time (``lazy``: also inside functions)."""
    mods = _modules()
    graph: dict[str, set[str]] = {}
    for name, (path, is_pkg) in mods.items():
        package = name if is_pkg else name.rpartition(".")[0]
        edges = graph.setdefault(name, set())
        tree = ast.parse(path.read_text(), str(path))
        for node in (ast.walk(tree) if lazy else _module_level(tree)):
            if isinstance(node, ast.Import):
                edges.update(a.name for a in node.names if a.name in mods)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    up = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join(up + ([node.module] if node.module else []))
                for alias in node.names:
                    sub = f"{base}.{alias.name}"
                    if sub in mods:
                        edges.add(sub)
                    elif base in mods:
                        edges.add(base)
    return graph


def strongly_connected(graph: dict[str, set[str]]) -> list[set[str]]:
    """Tarjan's algorithm (iterative); components of more than one module, or a self-import."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[set[str]] = []
    counter = 0
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = set()
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.add(member)
                        if member == node:
                            break
                    if len(component) > 1 or node in graph.get(node, ()):
                        found.append(component)
    return found


def test_the_walk_finds_a_known_circle():
    # the detector itself: a -> b -> c -> a is one component, d hangs off it
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a", "d"}, "d": set()}
    assert strongly_connected(graph) == [{"a", "b", "c"}]
    assert strongly_connected({"a": {"b"}, "b": set()}) == []


def test_the_graph_sees_the_zoo():
    graph = import_graph()
    assert "maikit.models.isp.smallnet" in graph["maikit.models.isp"]
    assert "maikit.models._registry" in graph["maikit.models.isp.smallnet"]
    assert {"maikit.models.isp", "maikit.models.depth"} <= graph["maikit.models"]
    # a lazy import (inside a function) is an edge of the lazy graph only
    assert "maikit.data.isp" not in graph["maikit.tasks"]
    assert "maikit.data.isp" in import_graph(lazy=True)["maikit.tasks"]


def test_no_import_circle_touches_the_checked_modules():
    circles = [sorted(c) for c in strongly_connected(import_graph())
               if any(m == p or m.startswith(p + ".") for m in c for p in CHECKED)]
    assert circles == []


def test_registry_imports_no_model_and_lists_the_zoo():
    graph = import_graph(lazy=True)
    assert not {m for m in graph["maikit.models._registry"]
                if m.startswith(("maikit.models.isp", "maikit.models.depth"))}
    from maikit.models import list_models

    assert "isp/smallnet" in list_models("isp") and "depth/tcl" in list_models("depth")
