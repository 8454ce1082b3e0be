"""The server's layers point one way, read from the source with ``ast`` (imports at module
level and inside functions alike, ``importlib.import_module("...")`` with a literal name too).

The rules, precisely:

1. **Adapters** are ``maikit.server.api`` (routes, schemas, request dependencies, the error
   table), ``maikit.server.web`` (the pages) and ``maikit.server.app`` (the application that
   mounts both). Every other module under ``maikit.server`` (services, jobs, db, core, the
   challenge file, the store, the platform, the errors, the demo, ``mai serve``) imports
   neither ``fastapi`` nor ``starlette`` nor an adapter. One exception: ``maikit.server.serve``
   (the ``mai serve`` process) imports ``maikit.server.app`` to build the application it runs.
2. The API does not import the pages (``maikit.server.api`` never imports ``maikit.server.web``),
   and no adapter imports ``sqlalchemy``: routes and pages ask a service, they run no query.
3. The library never imports the server: no module of ``maikit`` outside ``maikit.server``
   imports ``maikit.server`` at module level; only the CLI layer (``maikit.cli.*``) may import
   it, and only inside a function (the ``mai serve`` / ``mai server`` / ``mai challenge``
   commands), so ``import maikit.cli`` and every library module load without the server's
   dependencies.
"""

from __future__ import annotations

import ast
from pathlib import Path

import maikit

SRC = Path(maikit.__file__).resolve().parent.parent
ADAPTERS = ("maikit.server.api", "maikit.server.web", "maikit.server.app")
HTTP = ("fastapi", "starlette")
# module -> adapters it may import anyway
ALLOWED = {"maikit.server.serve": ("maikit.server.app",)}


def _under(name: str, prefixes) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(source: str, module: str, is_package: bool = False) -> list[tuple[str, int, bool]]:
    """(imported name, line, at module level) for every import in ``source``; ``from a import b``
    gives both ``a`` and ``a.b`` (b may be a module); relative imports are resolved."""
    package = module if is_package else module.rpartition(".")[0]
    out: list[tuple[str, int, bool]] = []

    def visit(node: ast.AST, top: bool) -> None:
        if isinstance(node, ast.Import):
            out.extend((a.name, node.lineno, top) for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1] + ([node.module] if node.module else []))
            out.append((base, node.lineno, top))
            out.extend((f"{base}.{a.name}", node.lineno, top) for a in node.names)
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant) \
                and isinstance(node.args[0].value, str) \
                and getattr(node.func, "attr", getattr(node.func, "id", None)) in ("import_module", "__import__"):
            out.append((node.args[0].value, node.lineno, top))
        inner = top and not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
        for child in ast.iter_child_nodes(node):
            visit(child, inner)

    visit(ast.parse(source), True)
    return out


def _all_imports() -> dict[str, list[tuple[str, int, bool]]]:
    found = {}
    for path in sorted((SRC / "maikit").rglob("*.py")):
        name = _module_name(path)
        found[name] = imports(path.read_text(), name, path.name == "__init__.py")
    return found


def _where(module: str, line: int, name: str) -> str:
    return f"{module}:{line} imports {name}"


def test_the_reader_sees_function_level_relative_and_dynamic_imports():
    src = ("import fastapi\n"
           "from ..api.routes import users\n"
           "def f():\n"
           "    from maikit.server.web import pages\n"
           "    import importlib; importlib.import_module('starlette.responses')\n")
    got = imports(src, "maikit.server.services.users")
    assert ("fastapi", 1, True) in got
    assert ("maikit.server.api.routes.users", 2, True) in got
    assert ("maikit.server.web.pages", 4, False) in got
    assert ("starlette.responses", 5, False) in got
    assert ("maikit.server.web", 1, True) in imports("from . import web", "maikit.server", is_package=True)


def test_services_and_everything_below_know_nothing_of_http_or_the_adapters():
    bad = []
    for module, found in _all_imports().items():
        if not _under(module, ("maikit.server",)) or module == "maikit.server" or _under(module, ADAPTERS):
            continue
        allowed = ALLOWED.get(module, ())
        bad += [_where(module, line, name) for name, line, _top in found
                if (_under(name, HTTP) or _under(name, ADAPTERS)) and not _under(name, allowed)]
    assert bad == []


def test_the_api_does_not_import_the_pages_and_no_adapter_queries_the_database():
    bad = []
    for module, found in _all_imports().items():
        if _under(module, ADAPTERS):
            banned = ("sqlalchemy", "maikit.server.web") if _under(module, ("maikit.server.api",)) else ("sqlalchemy",)
            bad += [_where(module, line, name) for name, line, _top in found if _under(name, banned)]
    assert bad == []


def test_the_library_never_imports_the_server():
    bad = []
    for module, found in _all_imports().items():
        if _under(module, ("maikit.server",)):
            continue
        for name, line, top in found:
            if _under(name, ("maikit.server",)) and (top or not _under(module, ("maikit.cli",))):
                bad.append(_where(module, line, name) + (" at module level" if top else " (outside the CLI)"))
    assert bad == []
