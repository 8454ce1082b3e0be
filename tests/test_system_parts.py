"""Missing system parts never pass silently: a test that needs one skips on a developer's
machine and fails under CI (CI=true), and the run's summary says it was partial;
scripts/system-deps.sh installs the parts from the machine's own apt sources only, and
without root it fails under CI; .ci/run runs under CI=true."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from _system import missing, require

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "system-deps.sh"
PACKAGES = ("openssh-server", "mesa-vulkan-drivers", "libvulkan1", "chromium")

INNER = '''
import _system
import pytest

_system.PARTS["unicorn"] = lambda: "no unicorn here"


@pytest.mark.needs("unicorn")
def test_needs_a_unicorn():
    pass


def test_finds_out_while_running():
    _system.missing("a dragon", "none in this stable")


def test_plain():
    pass
'''


def _inner_run(tmp_path: Path, ci: bool, jobs: int = 0) -> subprocess.CompletedProcess:
    """A pytest run of INNER with the suite's own conftest (its hooks) as a plugin; ``jobs``
    pytest-xdist workers (`make test` runs the suite with two)."""
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    (tmp_path / "test_inner.py").write_text(INNER)
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "PYTEST_ADDOPTS")}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "tests"), str(ROOT / "src"), env.get("PYTHONPATH", "")])
    if ci:
        env["CI"] = "true"
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "conftest", "-p", "no:cacheprovider", "-p", "no:warnings", "-rA",
                           *(["-n", str(jobs)] if jobs else []), "test_inner.py"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("jobs", [0, 2])
def test_a_missing_system_part_skips_and_the_run_says_it_was_partial(tmp_path, jobs):
    r = _inner_run(tmp_path, ci=False, jobs=jobs)
    assert r.returncode == 0, r.stdout[-3000:]
    assert re.search(r"\b1 passed, 2 skipped\b", r.stdout), r.stdout[-3000:]
    assert "PARTIAL RUN" in r.stdout and "a dragon (1 test), unicorn (1 test)" in r.stdout, r.stdout[-3000:]
    assert "missing system part: unicorn: no unicorn here" in r.stdout


@pytest.mark.parametrize("jobs", [0, 2])
def test_under_ci_a_missing_system_part_fails_the_run(tmp_path, jobs):
    r = _inner_run(tmp_path, ci=True, jobs=jobs)
    assert r.returncode == 1, r.stdout[-3000:]
    # the marker's check fails the set-up (an error), the call's the test
    assert re.search(r"\b1 failed, 1 passed, 1 error\b", r.stdout), r.stdout[-3000:]
    assert "PARTIAL RUN" in r.stdout and "failed under CI: a dragon (1 test), unicorn (1 test)" in r.stdout
    assert "CI=true: a missing system part fails the run" in r.stdout


# -- scripts/system-deps.sh ------------------------------------------------------------------
def _codename() -> str:
    for line in Path("/etc/os-release").read_text().splitlines():
        if line.startswith("VERSION_CODENAME="):
            return line.split("=", 1)[1].strip().strip('"')
    missing("a Debian release", "no VERSION_CODENAME in /etc/os-release")


def _script(tmp_path: Path, *, root: bool, ci: bool = False, sources: dict[str, str] | None = None,
            dry_run: bool = False) -> subprocess.CompletedProcess:
    """The script on this machine's tools, with nothing installed (an empty dpkg database,
    DPKG_ADMINDIR) and apt's sources in ``tmp_path`` (APT_CONFIG), as root or as another
    user in a user namespace: the machine itself is never changed."""
    require("namespaces")
    admin = tmp_path / "dpkg"
    (admin / "info").mkdir(parents=True, exist_ok=True)
    (admin / "status").touch()
    etc = tmp_path / "etc" / "apt"
    for d in ("sources.list.d", "apt.conf.d", "preferences.d", "trusted.gpg.d"):
        (etc / d).mkdir(parents=True, exist_ok=True)
    for name, text in (sources or {}).items():
        (etc / name).write_text(text)
    (tmp_path / "apt.conf").write_text(f'Dir::Etc "{etc}/";\n')
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    env.update(DPKG_ADMINDIR=str(admin), APT_CONFIG=str(tmp_path / "apt.conf"))
    if ci:
        env["CI"] = "true"
    user = ["unshare", "--user", "--map-root-user"] if root else ["unshare", "--user"]
    return subprocess.run([*user, "bash", str(SCRIPT), *(["--dry-run"] if dry_run else [])], env=env,
                          capture_output=True, text=True, timeout=120)


def _parts(tmp_path: Path) -> list[str]:
    return sorted(p.name for p in (tmp_path / "etc" / "apt" / "sources.list.d").iterdir())


def test_without_root_the_script_says_what_is_missing_and_fails_only_under_ci(tmp_path):
    r = _script(tmp_path, root=False)
    assert r.returncode == 0, r.stderr
    assert "not root: cannot install " + " ".join(PACKAGES) in r.stderr and "skipped" in r.stderr
    r = _script(tmp_path, root=False, ci=True)
    assert r.returncode == 1 and "under CI (CI=true) that is a failure" in r.stderr, r.stderr


def test_with_no_configured_source_the_script_says_so_and_stops(tmp_path):
    r = _script(tmp_path, root=True)
    assert r.returncode == 1 and "apt has no configured source" in r.stderr, r.stderr
    assert str(tmp_path / "etc" / "apt" / "sources.list") in r.stderr and _parts(tmp_path) == []


def test_backports_come_from_the_machines_own_debian_entry(tmp_path):
    c = _codename()
    sources = {"sources.list.d/machine.sources": (
        # a disabled entry and a comment inside the enabled one: neither is the machine's source
        f"Types: deb\nURIs: file:/srv/old/debian\nSuites: {c}\nComponents: main\nEnabled: no\n\n"
        f"Types: deb\n# the local mirror\nURIs: file:/srv/mirror/debian\nSuites: {c} {c}-updates\n"
        f"Components: main\nSigned-By: /srv/mirror/key.gpg\n")}
    r = _script(tmp_path, root=True, sources=sources, dry_run=True)
    assert r.returncode == 0, r.stderr
    assert f"would add {c}-backports from file:/srv/mirror/debian" in r.stderr
    assert f"URIs: file:/srv/mirror/debian\nSuites: {c}-backports\nComponents: main\nSigned-By: /srv/mirror/key.gpg" in r.stderr
    assert "would install openssh-server chromium" in r.stderr
    assert f"would install from {c}-backports: mesa-vulkan-drivers libvulkan1" in r.stderr
    assert _parts(tmp_path) == ["machine.sources"]  # a dry run changes nothing

    one_line = {"sources.list": f"deb [arch=amd64 signed-by=/k.gpg] file:/srv/one/debian {c} main\n"}
    r = _script(tmp_path / "one", root=True, sources=one_line, dry_run=True)
    assert r.returncode == 0 and f"would add {c}-backports from file:/srv/one/debian" in r.stderr, r.stderr
    assert "Signed-By: /k.gpg" in r.stderr


def test_without_a_debian_entry_for_the_release_backports_are_refused(tmp_path):
    c = _codename()
    r = _script(tmp_path, root=True, sources={"sources.list": f"deb file:/srv/mirror/debian-security {c}-security main\n"})
    assert r.returncode == 1, r.stderr
    assert f"no configured Debian source for '{c}'" in r.stderr and "mesa-vulkan-drivers libvulkan1" in r.stderr
    assert _parts(tmp_path) == []


def test_the_script_names_no_package_host():
    # only the machine's configured sources: no URL of any host may be written into the script
    assert not re.search(r"\b[a-z][a-z0-9+.-]*://", SCRIPT.read_text())


def test_ci_runs_under_ci_true():
    lines = [ln.strip() for ln in (ROOT / ".ci" / "run").read_text().splitlines()]
    assert "export CI=true" in lines and lines.index("export CI=true") < lines.index("make test")
