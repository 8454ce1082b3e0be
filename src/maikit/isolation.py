"""Process isolation shared by the worker's sandbox and the device backends' children.

Both run untrusted .tflite files; both call :func:`no_network` and :func:`die_with_parent`
first thing in the child, while the interpreter is still single-threaded (``unshare(2)`` of a
user namespace fails with EINVAL once a thread exists, and importing numpy starts its BLAS
threads): this module imports the standard library only, and so does ``maikit/__init__``.
:func:`run_isolated` is the entry point of a child that must import more. What the sandbox
guarantees and what it does not: ``docs/sandbox.md``.
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

NETWORK_UNAVAILABLE = "network isolation unavailable"  # how a child's log line begins when it is not isolated
_PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """``PR_SET_PDEATHSIG``: the kernel kills this process when its parent dies (Linux)."""
    try:
        import ctypes

        ctypes.CDLL(None).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except Exception:  # not Linux
        return
    if os.getppid() == 1:  # the parent died before the call
        os._exit(1)


def no_network() -> str | None:
    """Enter new user + network namespaces; None when done, else why not.

    A user namespace is what lets a process without privileges make a network namespace
    (``unshare(2)``); the new network namespace holds one loopback interface, down. The
    child checks the result in ``/proc/self/net/dev`` rather than trusting the call.
    """
    import ctypes
    import errno

    if not sys.platform.startswith("linux"):
        return f"no network namespaces on {sys.platform}"
    try:
        libc = ctypes.CDLL(None, use_errno=True)
    except OSError as e:
        return f"no C library to call unshare(2) ({e})"
    clone_newuser, clone_newnet = 0x10000000, 0x40000000
    if libc.unshare(clone_newuser | clone_newnet) != 0:
        err = ctypes.get_errno()
        return f"unshare(CLONE_NEWUSER|CLONE_NEWNET) failed: {errno.errorcode.get(err, err)} ({os.strerror(err)})"
    try:
        interfaces = [ln.split(":")[0].strip() for ln in Path("/proc/self/net/dev").read_text().splitlines()[2:]]
    except OSError as e:
        return f"cannot read /proc/self/net/dev to check the new namespace ({e})"
    others = [i for i in interfaces if i != "lo"]
    if others:
        return f"the new network namespace still has interfaces {', '.join(others)}"
    return None


def run_isolated(module: str) -> None:
    """Isolate this (fresh) process, then run ``module`` as ``__main__``.

    Used as ``python -c "from maikit.isolation import run_isolated; run_isolated('pkg.mod')"``
    so that isolation happens before the module's imports start threads. Where the kernel
    refuses, one line on stderr says why and the module runs on the host's network.
    """
    import runpy

    die_with_parent()
    why = no_network()
    if why is not None:
        print(f"{NETWORK_UNAVAILABLE}: {why} (the child runs with the host's network)", file=sys.stderr, flush=True)
    runpy.run_module(module, run_name="__main__", alter_sys=True)


def isolated_command(module: str) -> list[str]:
    """The argv that runs ``module`` in this interpreter under :func:`run_isolated`."""
    return [sys.executable, "-c", f"from maikit.isolation import run_isolated; run_isolated({module!r})"]

