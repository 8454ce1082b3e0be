"""The package's import graph, read from the source with ``ast``, has no circle.

Every import counts, wherever it stands: at module level, inside a function or method (a
lazy import still makes the two modules depend on each other), under ``if TYPE_CHECKING``.
An edge ``a -> b`` is

* ``import x.y.z`` in ``a``: ``b = x.y.z``;
* ``from x import y``: ``x.y`` when ``y`` is a submodule, else ``x``; relative imports
  (``from ..data import isp``) resolved against ``a``'s package;
* in a module that imports by name at run time (``importlib.import_module``): every maikit
  module named by a string constant there (``"maikit.export.exporter"``,
  ``"maikit.tflite.backend:TfliteBackend"``) and, for an f-string ``f"maikit.cli.{name}"``,
  every module of that package.

Importing a submodule adds no edge to its parent package: Python runs the parent's
``__init__`` first, but a package importing its own modules is the layout itself (timm's
``models/__init__.py`` imports every model file, each of which imports ``_registry``).

Pure ``ast``: nothing of maikit beyond its tiny ``__init__`` is imported, so the test takes
well under a second.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import maikit

SRC = Path(maikit.__file__).resolve().parent.parent


def modules(src: Path = SRC, package: str = "maikit") -> dict[str, tuple[Path, bool]]:
    """Dotted module name -> (file, is a package ``__init__``) for every module under ``src/package``."""
    mods = {}
    for path in sorted((src / package).rglob("*.py")):
        parts = list(path.relative_to(src).with_suffix("").parts)
        is_pkg = parts[-1] == "__init__"
        mods[".".join(parts[:-1] if is_pkg else parts)] = (path, is_pkg)
    return mods


def _imports_by_name(tree: ast.AST) -> bool:
    return any(isinstance(n, ast.Call) and getattr(n.func, "id", getattr(n.func, "attr", None))
               in ("import_module", "__import__") for n in ast.walk(tree))


def _named_modules(tree: ast.AST, mods) -> set[str]:
    """The modules a run-time import by name can reach: string constants naming one, and
    every module of a package named by an f-string's constant prefix."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            name = node.value.partition(":")[0]
            if name in mods:
                found.add(name)
        elif isinstance(node, ast.JoinedStr) and node.values and isinstance(node.values[0], ast.Constant):
            prefix = str(node.values[0].value)
            if prefix.endswith(".") and prefix[:-1] in mods:
                found.update(m for m in mods if m.startswith(prefix) and "." not in m[len(prefix):])
    return found


def import_graph(src: Path = SRC, package: str = "maikit") -> dict[str, dict[str, int]]:
    """Module -> {imported module: line of the first such import} over every import in the file."""
    mods = modules(src, package)
    graph: dict[str, dict[str, int]] = {}
    for name, (path, is_pkg) in mods.items():
        home = name if is_pkg else name.rpartition(".")[0]
        edges = graph.setdefault(name, {})
        tree = ast.parse(path.read_text(), str(path))

        def add(target: str, line: int) -> None:
            if target != name:
                edges.setdefault(target, line)

        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name in mods:
                        add(alias.name, node.lineno)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parts = home.split(".")
                    parts = parts[: len(parts) - node.level + 1]
                    base = ".".join(parts + ([node.module] if node.module else []))
                for alias in node.names:
                    if f"{base}.{alias.name}" in mods:
                        add(f"{base}.{alias.name}", node.lineno)
                    elif base in mods:
                        add(base, node.lineno)
        if _imports_by_name(tree):
            for target in _named_modules(tree, mods):
                add(target, 0)
    return graph


def strongly_connected(graph) -> list[set[str]]:
    """Tarjan's algorithm (iterative): the components of more than one module."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[set[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        work = [(root, iter(sorted(graph[root])))]
        while work:
            node, children = work[-1]
            for child in children:
                if child not in index:
                    index[child] = low[child] = len(index)
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
                    if len(component) > 1:
                        found.append(component)
    return found


def a_cycle(graph, component: set[str]) -> list[str]:
    """One shortest cycle through the component's first module, as a list that ends where it starts."""
    start = min(component)
    came_from = {start: None}
    todo = [start]
    while todo:
        node = todo.pop(0)
        for child in sorted(graph[node]):
            if child == start:
                path = [node]
                while came_from[path[-1]] is not None:
                    path.append(came_from[path[-1]])
                return [start] + path[::-1][1:] + [start]
            if child in component and child not in came_from:
                came_from[child] = node
                todo.append(child)
    raise AssertionError(f"{start} is on no cycle")


def describe(graph, component: set[str]) -> str:
    """The component and one cycle through it, each step as ``module:line`` of its import of the next."""
    cycle = a_cycle(graph, component)
    steps = " -> ".join(f"{a}:{graph[a][b] or 'by name'}" for a, b in zip(cycle, cycle[1:]))
    return f"{len(component)} modules {sorted(component)}\n    e.g. {steps} -> {cycle[-1]}"


# ------------------------------------------------------------------------------- the detector
def _package(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def test_the_walk_finds_a_known_circle():
    graph = {"a": {"b": 1}, "b": {"c": 1}, "c": {"a": 1, "d": 1}, "d": {}}
    assert strongly_connected(graph) == [{"a", "b", "c"}]
    assert a_cycle(graph, {"a", "b", "c"}) == ["a", "b", "c", "a"]
    assert strongly_connected({"a": {"b": 1}, "b": {}}) == []


def test_every_kind_of_import_is_an_edge(tmp_path):
    src = _package(tmp_path, {
        "pkg/__init__.py": "from pkg import sub  # the package imports its own module\n",
        "pkg/spec.py": "X = 1\n",
        "pkg/sub/__init__.py": "",
        "pkg/sub/a.py": "from .. import spec\nfrom . import b\n",           # relative, submodules
        "pkg/sub/b.py": "def f():\n    from pkg.sub.c import g\n",           # inside a function
        "pkg/sub/c.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import pkg.sub.a\n",
        "pkg/d.py": "from pkg.spec import X\nimport pkg.sub\nfrom pkg import spec as s, X\n",
        "pkg/e.py": "import importlib\nT = {'d': 'pkg.d:thing'}\nimportlib.import_module(f'pkg.sub.{T}')\n",
    })
    graph = import_graph(src, "pkg")
    assert graph["pkg.sub.a"] == {"pkg.spec": 1, "pkg.sub.b": 2}
    assert graph["pkg.sub.b"] == {"pkg.sub.c": 2}
    assert graph["pkg.sub.c"] == {"pkg.sub.a": 3}
    # `from pkg import X` (a name, not a module) is an edge to the package itself
    assert graph["pkg.d"] == {"pkg.spec": 1, "pkg.sub": 2, "pkg": 3}
    assert set(graph["pkg.e"]) == {"pkg.d", "pkg.sub.a", "pkg.sub.b", "pkg.sub.c"}
    assert graph["pkg"] == {"pkg.sub": 1}  # and a submodule import adds no edge back to its package
    circle = {"pkg.sub.a", "pkg.sub.b", "pkg.sub.c"}
    assert strongly_connected(graph) == [circle]
    assert describe(graph, circle).endswith(
        "pkg.sub.a:2 -> pkg.sub.b:2 -> pkg.sub.c:3 -> pkg.sub.a")


# ------------------------------------------------------------------------------- maikit
@pytest.fixture(scope="module")
def graph():
    return import_graph()


def test_no_import_circle(graph):
    circles = strongly_connected(graph)
    assert not circles, "import circles:\n  " + "\n  ".join(describe(graph, c) for c in circles)


def test_the_graph_sees_the_zoo_and_the_lazy_imports(graph):
    assert "maikit.models.isp.smallnet" in graph["maikit.models.isp"]
    assert "maikit.models._registry" in graph["maikit.models.isp.smallnet"]
    assert {"maikit.models.isp", "maikit.models.depth"} <= set(graph["maikit.models"])
    # the task objects read files through maikit.data inside their methods: an edge all the same
    assert "maikit.data.isp" in graph["maikit.tasks"]
    assert "maikit.cli.train" in graph["maikit.cli"]  # the command modules, imported by name


def test_the_task_specification_is_the_ground_floor(graph):
    assert set(graph["maikit.taskspec"]) <= {"maikit.errors"}
    below = [m for m in graph if m.startswith(("maikit.data", "maikit.metrics", "maikit.scoring"))]
    assert [m for m in below if "maikit.tasks" in graph[m]] == []


def test_the_registry_imports_no_model(graph):
    assert not {m for m in graph["maikit.models._registry"]
                if m.startswith(("maikit.models.isp", "maikit.models.depth"))}
