"""Tests keep their state in their temporary folders: a run that leaves a file in the checkout
says so in its summary and fails under CI (tests/conftest.py), and every session has a home,
XDG folders and maikit state folder of its own, per pytest-xdist worker too."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

INNER = '''
import os
from pathlib import Path


def test_writes_into_the_working_folder():
    Path("left-behind.txt").write_text("x")  # a relative path: the checkout the run started in


def test_home_is_private():
    assert os.environ["HOME"] != os.environ["REAL_HOME"]
    Path(os.environ["HOME"], ".cache-of-a-tool").write_text("x")
'''


def _inner_run(repo: Path, ci: bool, jobs: int = 0) -> subprocess.CompletedProcess:
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    (repo / "pytest.ini").write_text("[pytest]\n")
    (repo / ".gitignore").write_text("ignored/\n")
    (repo / "test_inner.py").write_text(INNER)
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "PYTEST_ADDOPTS")}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "tests"), str(ROOT / "src"), env.get("PYTHONPATH", "")])
    env["REAL_HOME"] = os.environ["HOME"]
    if ci:
        env["CI"] = "true"
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "conftest", "-p", "no:cacheprovider", "-p", "no:warnings",
                           *(["-n", str(jobs)] if jobs else []), "test_inner.py"],
                          cwd=repo, env=env, capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("jobs", [0, 2])
def test_a_file_left_in_the_checkout_is_named_and_fails_under_ci(tmp_path, jobs):
    r = _inner_run(tmp_path / "repo", ci=True, jobs=jobs)
    assert "2 passed" in r.stdout, r.stdout[-3000:]
    assert r.returncode == 1, r.stdout[-3000:]
    assert "FILES LEFT IN THE CHECKOUT" in r.stdout
    assert "the run wrote 1 file(s) outside its temporary folders (fails under CI): left-behind.txt" in r.stdout


def test_elsewhere_a_file_left_in_the_checkout_is_named(tmp_path):
    r = _inner_run(tmp_path / "repo", ci=False)
    assert r.returncode == 0, r.stdout[-3000:]
    assert "the run wrote 1 file(s) outside its temporary folders: left-behind.txt" in r.stdout


def test_files_there_before_the_run_are_not_counted(tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "left-behind.txt").write_text("already here")  # e.g. a developer's scratch file
    (repo / "ignored").mkdir()
    (repo / "ignored" / "notes.txt").write_text("also")
    r = _inner_run(repo, ci=True)
    assert r.returncode == 0, r.stdout[-3000:]
    assert "FILES LEFT IN THE CHECKOUT" not in r.stdout
