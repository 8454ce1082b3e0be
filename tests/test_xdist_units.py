"""The pytest-xdist units (tests/conftest.py): every test file that asks for the quick demo is
in its one unit (a file left out makes a worker run `mai demo --quick` a second time, minutes),
and the long units go out first, longest first."""

from __future__ import annotations

import ast
from pathlib import Path

from _xdist_units import LONG_UNITS, SHARED_FILES, SPREAD_FILES, xdist_order, xdist_scope

ROOT = Path(__file__).resolve().parents[1]


def _files_asking_for(fixture: str) -> set[str]:
    found = set()
    for path in (ROOT / "tests").rglob("test_*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef) and node.name.startswith("test_") and \
                    fixture in [a.arg for a in node.args.args]:
                found.add(path.relative_to(ROOT).as_posix())
    return found


def test_every_file_using_the_quick_demo_is_in_its_unit():
    users = _files_asking_for("quick_demo")
    assert len(users) >= 3  # the demo's own tests, the served demo, its pages
    assert users == {f for f, unit in SHARED_FILES.items() if unit == "quick_demo"}
    assert {xdist_scope(f"{f}::test_x") for f in users} == {"quick_demo"}


def test_long_units_first_then_the_zoo_then_the_rest():
    ids = ["tests/test_io.py::test_a", "tests/models/test_depth_zoo.py::test_b[depth/tcl]",
           "tests/test_readme.py::test_c", "tests/server/test_demo_serve.py::test_d",
           "tests/test_readme_challenge.py::test_e"]
    ordered = sorted(ids, key=xdist_order)
    assert ordered == ["tests/server/test_demo_serve.py::test_d", "tests/test_readme_challenge.py::test_e",
                       "tests/test_readme.py::test_c", "tests/models/test_depth_zoo.py::test_b[depth/tcl]",
                       "tests/test_io.py::test_a"]
    assert all((ROOT / f).is_file() for f in [*SHARED_FILES, *SPREAD_FILES, *(u for u in LONG_UNITS if u.endswith(".py"))])
