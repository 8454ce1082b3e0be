"""How the test run is cut into pytest-xdist units and in which order they go out (used by
tests/conftest.py's scheduler and sort; checked by tests/test_xdist_units.py)."""

from __future__ import annotations

# test files whose tests share no module-scoped set-up and take minutes together (zoo conversions):
# under pytest-xdist they are spread over the workers by parameter (a model's tests stay together,
# so a conversion cached per session serves them all) instead of file by file
SPREAD_FILES = {"tests/models/test_depth_zoo.py", "tests/models/test_isp_zoo.py", "tests/export/test_zoo_export.py"}
# test files that share a session fixture costing minutes: one unit, so one worker makes it once
# (quick_demo, `mai demo --quick`: 230 s of one worker, made twice when its files went to both)
SHARED_FILES = {
    "tests/test_demo.py": "quick_demo",
    "tests/server/test_demo_serve.py": "quick_demo",
    "tests/web/test_demo_pages.py": "quick_demo",
}
# the units that take minutes, longest first (`--durations` of a fresh-clone run): they go out
# before everything else, so that the short files fill in around them and no worker starts a
# long unit alone at the end
LONG_UNITS = ("quick_demo", "tests/test_readme_challenge.py", "tests/test_readme.py")


def xdist_scope(nodeid: str) -> str:
    """The unit pytest-xdist sends to one worker: the test's file, the shared name of a file in
    ``SHARED_FILES``, or in ``SPREAD_FILES`` the file and the test's parameters
    (``test_a[depth/tcl]`` and ``test_b[depth/tcl]`` together)."""
    path = nodeid.split("::", 1)[0]
    if path in SHARED_FILES:
        return SHARED_FILES[path]
    if path not in SPREAD_FILES:
        return path
    name = nodeid.split("::")[-1]
    return f"{path}::[{name.split('[', 1)[1]}" if "[" in name else nodeid


def xdist_order(nodeid: str) -> int:
    """Where a test's unit goes out under pytest-xdist: ``LONG_UNITS`` in their order, then the
    zoo conversions (``SPREAD_FILES``, half a minute each), then the rest."""
    scope = xdist_scope(nodeid)
    if scope in LONG_UNITS:
        return LONG_UNITS.index(scope)
    return len(LONG_UNITS) + (nodeid.split("::", 1)[0] not in SPREAD_FILES)
