"""Paths and environment probes shared by the device-backend tests."""

from __future__ import annotations

from pathlib import Path

HERE = Path(__file__).parent
STANDIN = HERE / "standin"  # stand-ins for a phone's adb and benchmark_model
FIXTURES = HERE / "fixtures"  # benchmark_model output in its documented format


def processes(argv_contains: str | None = None, environ_contains: str | None = None, argv_equals: str | None = None) -> list[int]:
    """Live processes (zombies excluded) whose argv has an argument containing ``argv_contains``
    (or equal to ``argv_equals``) and whose environment has an entry containing
    ``environ_contains``, read from /proc."""
    import os

    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if (entry / "stat").read_text().rsplit(")", 1)[1].split()[0] == "Z":
                continue
            argv = (entry / "cmdline").read_bytes().split(b"\0")
            env = (entry / "environ").read_bytes().split(b"\0") if environ_contains else []
        except OSError:  # gone meanwhile, or not ours to read
            continue
        if argv_contains and not any(argv_contains.encode() in a for a in argv):
            continue
        if argv_equals and argv_equals.encode() not in argv:
            continue
        if environ_contains and not any(environ_contains.encode() in e for e in env):
            continue
        found.append(int(entry.name))
    return found


def wait_until(cond, timeout: float = 120.0, what: str = "condition"):
    """Poll ``cond()`` until it is truthy (its value is returned); fail after ``timeout`` s."""
    import time

    deadline = time.monotonic() + timeout
    while True:
        value = cond()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)
