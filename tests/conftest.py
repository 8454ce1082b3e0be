"""Fixtures shared by every test folder (helpers in ``tests/_fixtures.py``).

Data fixtures write tiny datasets once per session (synthetic, in the official layouts) or
once per test (random PNG pairs written with plain OpenCV); model fixtures convert the tiny
models of ``_fixtures`` to .tflite once per session. The hooks here give every session a
private home (HOME, the XDG folders, MAIKIT_STATE) and handle missing system parts (the
``needs`` marker; ``tests/_system.py``).
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path

import _system
import pytest
from _fixtures import make_depth_split, make_isp_split, mosaic_ref, write_png_cv
from _xdist_units import xdist_order, xdist_scope

# where programs keep per-user state; each test session gets its own empty set (see pytest_configure)
_PRIVATE_DIRS = {"HOME": "home", "XDG_CACHE_HOME": "home/.cache", "XDG_CONFIG_HOME": "home/.config",
                 "XDG_DATA_HOME": "home/.local/share", "XDG_STATE_HOME": "home/.local/state", "MAIKIT_STATE": "maikit-state"}


def pytest_configure(config):
    """Before anything is collected or imported by a test: the user's home, the XDG folders and
    maikit's state folder point into a folder of this session (removed at its end), so no test
    reads or leaves anything in the real ones (caches, outboxes, device calibrations, locks).
    Subprocesses inherit them."""
    config.addinivalue_line("markers", "needs(part): a system part the test needs (tests/_system.py)")
    root = Path(tempfile.mkdtemp(prefix="maikit-tests-"))
    config._maikit_private = (root, {k: os.environ.get(k) for k in _PRIVATE_DIRS})
    for var, sub in _PRIVATE_DIRS.items():
        (root / sub).mkdir(parents=True, exist_ok=True)
        os.environ[var] = str(root / sub)
    if not hasattr(config, "workerinput"):  # the run itself, not a pytest-xdist worker
        config._maikit_checkout = _checkout_files(config.rootpath)


def _checkout_files(root: Path) -> set[str] | None:
    """The untracked and ignored files of the checkout the tests run in (git's list; None
    where it is not a git checkout), less Python's and pytest's own caches."""
    import subprocess

    try:
        r = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--ignored", "--untracked-files=all"],
                           capture_output=True, text=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if r.returncode != 0:
        return None
    caches = ("__pycache__/", ".pytest_cache/")
    return {ln[3:] for ln in r.stdout.splitlines()
            if ln[:2] in ("??", "!!") and not any(c in ln for c in caches) and not ln.endswith(".pyc")}


def pytest_sessionfinish(session, exitstatus):
    """Tests write only under their temporary folders: a file the run left in the checkout (a
    relative output path, a program's default folder) is named in the summary, and under CI
    it fails the run."""
    config = session.config
    before = getattr(config, "_maikit_checkout", None)
    if before is None:
        return
    after = _checkout_files(config.rootpath) or set()
    config._maikit_left = sorted(after - before)
    if config._maikit_left and _system.under_ci() and session.exitstatus == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_unconfigure(config):
    root, old = getattr(config, "_maikit_private", (None, {}))
    for var, value in old.items():
        if value is None:
            os.environ.pop(var, None)
        else:
            os.environ[var] = value
    if root is not None:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session", autouse=True)
def _reference_root(tmp_path_factory):
    """Challenge servers started by tests (in this process or as subprocesses, which inherit it)
    read reference data under pytest's base folder, where the session's splits are made
    (``MAI_SERVER_REFERENCE_ROOT``; docs/challenge-yaml.md#reference-data)."""
    old = os.environ.get("MAI_SERVER_REFERENCE_ROOT")
    os.environ["MAI_SERVER_REFERENCE_ROOT"] = str(tmp_path_factory.getbasetemp())
    yield
    if old is None:
        os.environ.pop("MAI_SERVER_REFERENCE_ROOT", None)
    else:
        os.environ["MAI_SERVER_REFERENCE_ROOT"] = old


@pytest.fixture(autouse=True)
def _needed_system_parts(request):
    """``@pytest.mark.needs("sshd")``: skip (fail under CI) where the part is missing."""
    for mark in request.node.iter_markers("needs"):
        for part in mark.args:
            _system.require(part)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    """``-n N`` (pytest-xdist; `make test` runs ``-n 3``, `TEST_JOBS`): a file's tests run on one
    worker, in order, so module-scoped fixtures (servers, exports) are made once; the files in
    ``SHARED_FILES`` that share a costly session fixture go as one unit, and the files in
    ``SPREAD_FILES`` go by parameter (:func:`xdist_scope`, tests/_xdist_units.py).
    Session-scoped fixtures are made once per worker, each worker with its own base folder, home
    and PostgreSQL database. Another ``--dist`` than load/loadfile is left to pytest-xdist."""
    if config.getvalue("dist") not in ("load", "loadfile"):
        return None
    from xdist.scheduler import LoadScopeScheduling

    # units go out in collection order (the longest first, pytest_collection_modifyitems), not
    # by their number of tests
    config.option.loadscopereorder = False

    class FileScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return xdist_scope(nodeid)

    return FileScheduling(config, log)


def pytest_collection_modifyitems(config, items):
    """In a pytest-xdist worker, the long units and the zoo conversions come first
    (:func:`xdist_order`; a stable sort, so a file's tests keep their order and stay together);
    otherwise the order stays pytest's."""
    if hasattr(config, "workerinput"):
        items.sort(key=lambda item: xdist_order(item.nodeid))


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    """A run that skipped tests for missing system parts says it was partial, and what was missing."""
    parts: dict[str, int] = {}
    stats = terminalreporter.stats
    for rep in stats.get("skipped", []) + stats.get("failed", []) + stats.get("error", []):
        text = rep.longrepr[2] if isinstance(rep.longrepr, tuple) else rep.longreprtext
        # a line of its own: pytest-xdist puts a "[gw0] linux -- Python ..." line before it
        m = re.search(rf"^(?:Skipped: |Failed: )?{_system.PREFIX}: ([^:]+):", text.strip(), re.M)
        if m:
            parts[m.group(1)] = parts.get(m.group(1), 0) + 1
    left = getattr(config, "_maikit_left", [])
    if left:
        terminalreporter.write_sep("=", "FILES LEFT IN THE CHECKOUT", red=True, bold=True)
        terminalreporter.write_line(f"the run wrote {len(left)} file(s) outside its temporary folders"
                                    f"{' (fails under CI)' if _system.under_ci() else ''}: {', '.join(left[:20])}")
    if parts:
        what = ", ".join(f"{p} ({n} test{'s' if n > 1 else ''})" for p, n in sorted(parts.items()))
        verdict = "failed under CI" if _system.under_ci() else "skipped"
        terminalreporter.write_sep("=", "PARTIAL RUN", red=True, bold=True)
        terminalreporter.write_line(f"tests that need a missing system part {verdict}: {what}; "
                                    f"scripts/system-deps.sh installs them (as root)")


@pytest.fixture
def mosaic():
    """The reference RGGB mosaic function (RGB HxWx3 -> HxW)."""
    return mosaic_ref


@pytest.fixture
def png_writer():
    """``write(path, img)``: a PNG written with plain OpenCV (RGB order for 3 channels)."""
    return write_png_cv


@pytest.fixture
def isp_root(tmp_path: Path) -> Path:
    """An ISP root with 4 train and 2 val pairs of 16x24 RGB, RAW = 4 x the RGB's mosaic."""
    root = tmp_path / "isp"
    make_isp_split(root / "train", n=4, seed=1)
    make_isp_split(root / "val", n=2, seed=2)
    return root


@pytest.fixture
def depth_root(tmp_path: Path) -> Path:
    """A depth root with 2 train pairs and 1 pair in `validation/` (the other accepted name)."""
    root = tmp_path / "depth"
    make_depth_split(root / "train", n=2)
    make_depth_split(root / "validation", n=1, seed=3)
    return root


@pytest.fixture(scope="session")
def isp_data(tmp_path_factory):
    """Synthetic ISP data (unprocessed photos): 8 train / 2 val pairs, RGB 64x64."""
    from maikit.data.synth_isp import synth_isp

    root = tmp_path_factory.mktemp("isp_data")
    synth_isp(root, 10, seed=0, val_fraction=0.2, patch=64)
    return root


@pytest.fixture(scope="session")
def depth_data(tmp_path_factory):
    """Synthetic depth scenes, 64x48: 4 train / 2 val."""
    from maikit.data.synth_depth import SynthParams, synth_depth

    root = tmp_path_factory.mktemp("depth_data")
    synth_depth(root, 6, seed=0, val_fraction=0.34, params=SynthParams(width=64, height=48))
    return root


@pytest.fixture(scope="session")
def tiny_isp_tflite(tmp_path_factory) -> Path:
    """TinyIsp converted at a fixed 1x16x16x4 input (NHWC): a small ISP-shaped .tflite."""
    import torch

    from _fixtures import TinyIsp
    from maikit.export.tflite import convert_to_tflite

    path = tmp_path_factory.mktemp("tiny_isp") / "tiny_isp.tflite"
    convert_to_tflite(TinyIsp().eval(), torch.rand(1, 4, 16, 16), path)
    return path


@pytest.fixture(scope="session")
def quick_demo(tmp_path_factory) -> dict:
    """``mai demo --quick`` run once per session (every step, the live platform included): its
    summary as written to ``summary.json``, with ``parent`` (the ``--out`` folder) added.
    Tests that need trained demo exports or the demo's platform share it."""
    import json

    from maikit.demo import DemoPlan, run_demo

    parent = tmp_path_factory.mktemp("quick-demo")
    summary = run_demo(parent, DemoPlan.quick())
    on_disk = json.loads((Path(summary["folder"]) / "summary.json").read_text())
    return on_disk | {"parent": str(parent)}


@pytest.fixture
def listener():
    """A TCP listener on this process's 127.0.0.1 (connections queue in its backlog); its port."""
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as srv:
        srv.bind(("127.0.0.1", 0))
        srv.listen(8)
        yield srv.getsockname()[1]

