"""System parts some tests need beyond the Python packages: a real sshd, Debian's Chromium,
Mesa's software Vulkan (lavapipe), user namespaces. ``scripts/system-deps.sh`` installs the
packages (as root).

Where one is missing the tests that need it cannot run. On a developer's machine they are
skipped, and the run's summary says the run was partial and what was missing (see
``pytest_terminal_summary`` in ``tests/conftest.py``); under CI (``CI=true``) they fail: a
green CI run must have run them.

A test says what it needs with ``@pytest.mark.needs("sshd")`` (checked before it starts) or,
where it finds out while running, by calling :func:`missing`.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
from pathlib import Path
from typing import Callable, NoReturn

import pytest

PREFIX = "missing system part"  # every such skip's reason starts with this (the summary counts them)
CHROMIUM = "/usr/bin/chromium"
INSTALL = "scripts/system-deps.sh installs it, as root"


def under_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


def missing(part: str, why: str) -> NoReturn:
    """This test cannot run here because ``part`` is missing: a skip, or under CI a failure."""
    reason = f"{PREFIX}: {part}: {why}"
    if under_ci():
        pytest.fail(f"{reason} (CI={os.environ['CI']}: a missing system part fails the run)", pytrace=False)
    pytest.skip(reason)


def sshd_path() -> str | None:
    return shutil.which("sshd") or ("/usr/sbin/sshd" if Path("/usr/sbin/sshd").exists() else None)


def namespaces_allowed() -> bool | None:
    """Whether this machine lets this user make user + network namespaces, asked of util-linux's
    ``unshare`` (independent of maikit's own call); None when the tool is missing."""
    if shutil.which("unshare") is None:
        return None
    return subprocess.run(["unshare", "--user", "--net", "true"], capture_output=True).returncode == 0


def _sshd() -> str | None:
    if sshd_path() is None:
        return f"Debian's openssh-server is not installed ({INSTALL})"
    if os.geteuid() != 0:
        return "the loopback sshd runs only as root"
    return None


def _chromium() -> str | None:
    return None if Path(CHROMIUM).is_file() else f"{CHROMIUM} is not installed (the chromium package; {INSTALL})"


def _vulkan() -> str | None:
    try:
        v = subprocess.run(["dpkg-query", "-W", "-f=${Version}", "mesa-vulkan-drivers"], capture_output=True,
                           text=True).stdout
    except FileNotFoundError:
        return "no dpkg-query to ask for Mesa's version"
    if v and subprocess.run(["dpkg", "--compare-versions", v, "ge", "25"]).returncode == 0:
        return None
    return f"Mesa's software Vulkan >= 25 is not installed (mesa-vulkan-drivers {v or 'missing'}; {INSTALL})"


def _unshare() -> str | None:
    return None if shutil.which("unshare") else "util-linux's unshare is missing: cannot tell whether namespaces work"


def _namespaces() -> str | None:
    allowed = namespaces_allowed()
    if allowed is None:
        return _unshare()
    return None if allowed else "this kernel or container does not let this user make user + network namespaces"


# name -> a check that returns None when the part is there, else why not
PARTS: dict[str, Callable[[], str | None]] = {
    "sshd": _sshd,
    "chromium": _chromium,
    "vulkan": _vulkan,
    "unshare": _unshare,
    "namespaces": _namespaces,
}


@functools.lru_cache(maxsize=None)
def why_missing(part: str) -> str | None:
    if part not in PARTS:
        raise KeyError(f"unknown system part {part!r}; known: {', '.join(PARTS)}")
    return PARTS[part]()


def require(part: str) -> None:
    """Go on only where ``part`` is there (see :func:`missing`)."""
    why = why_missing(part)
    if why is not None:
        missing(part, why)
