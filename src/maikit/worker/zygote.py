"""Sandboxed children forked from a warm parent: the server's preflight without the start-up.

A sandbox child (:mod:`maikit.worker.sandbox`) is a new interpreter that imports numpy,
LiteRT and the inspector before it parses a byte of the upload: about half a CPU-second for
a parse that takes milliseconds. Under load those start-ups were most of the server's CPU
(``benchmarks/RESULTS.md``, challenge platform). A :class:`Zygote` is one long-lived
process that imports all that once (``python -m maikit.worker.zygote``, started by the
caller with the sandbox's environment) and forks a child per request. The child gets what
a sandbox child gets, in the same order, before it reads the file: its own session
(process group), death with its parent, ``RLIMIT_CPU`` (its own CPU time starts at zero at
the fork), niceness, a faulthandler file, a network namespace of its own where the kernel
allows (the forked child is single-threaded, so ``unshare(2)`` works even if the zygote
has threads), then ``RLIMIT_AS`` = its size + the memory limit. Nothing passes from one
child to the next: each is forked from the zygote, which never opens an upload itself.

The parent's side (:meth:`Zygote.run`) has :func:`~maikit.worker.sandbox.run_sandboxed`'s
signature and outcomes (the same result, or a ``SandboxFailure`` with the same reason);
the wall clock starts at the fork (nothing is left to import). If the zygote cannot be
started or dies, requests run as cold sandbox children meanwhile, and a new zygote is
started for later ones.

The protocol on the zygote's stdin/stdout is one JSON object per line: the parent sends
``{"id", "spec"}`` (the sandbox child's spec); the zygote answers ``{"id", "pid"}`` when it
forked and ``{"id", "status"}`` (``os.waitpid``'s status) when that child ended. EOF on
stdin stops the zygote (its children die with it).
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Callable

from maikit.worker.sandbox import (CANCELLED, TIMEOUT, Limits, _kill_group, child_env, child_spec, child_verdict,
                                   run_sandboxed)

logger = logging.getLogger(__name__)

START_S = 120.0  # longest start-up (imports) of a zygote before it is given up


class _Request:
    def __init__(self):
        self.pid: int | None = None
        self.status: int | None = None
        self.changed = threading.Condition()


class Zygote:
    """Forks sandboxed children from one warm process; thread-safe. ``run`` as ``run_sandboxed``."""

    def __init__(self):
        self._lock = threading.Lock()  # the process, the pending table, writes to its stdin
        self._proc: subprocess.Popen | None = None
        self._pending: dict[int, _Request] = {}
        self._next = 0
        self.starts = 0  # zygotes started (a test reads it)
        self._failed_at = float("-inf")

    # the zygote process ---------------------------------------------------------------
    def _ensure(self) -> subprocess.Popen | None:
        """The running zygote, started if needed; None if it cannot start (then retried at
        most every 10 s)."""
        if self._proc is not None and self._proc.poll() is None:
            return self._proc
        if time.monotonic() - self._failed_at < 10.0:
            return None
        self._orphan_all()
        # started by a thread that lives exactly as long as the zygote (it then reads its
        # answers): PR_SET_PDEATHSIG fires when the thread that started a process ends, and
        # the caller's thread may be a pool thread that ends when idle
        box: list = []
        got = threading.Event()
        threading.Thread(target=self._spawn_and_read, args=(box, got), daemon=True, name="zygote").start()
        got.wait()
        proc = box[0] if box else None
        if proc is None:
            self._failed_at = time.monotonic()
            return None
        self._proc = proc
        self.starts += 1
        return proc

    def _spawn_and_read(self, box: list, got: threading.Event) -> None:
        try:
            proc = subprocess.Popen([sys.executable, "-m", "maikit.worker.zygote"], stdin=subprocess.PIPE,
                                    stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=child_env(),
                                    start_new_session=True)
        except OSError as e:
            logger.warning("preflight zygote did not start (%s); children start cold meanwhile", e)
            got.set()
            return
        ready = _read_line(proc, START_S)
        if not ready or not ready.get("ready"):
            logger.warning("preflight zygote did not start (%s); children start cold meanwhile",
                           "no answer" if not ready else ready)
            _kill_group(proc)
            got.set()
            return
        box.append(proc)
        got.set()
        self._reader(proc)

    def _reader(self, proc: subprocess.Popen) -> None:
        for raw in proc.stdout:
            try:
                msg = json.loads(raw)
                req = self._pending.get(int(msg["id"]))
            except (ValueError, KeyError, TypeError):
                continue
            if req is None:
                continue
            with req.changed:
                if "pid" in msg:
                    req.pid = int(msg["pid"])
                if "status" in msg:
                    req.status = int(msg["status"])
                req.changed.notify_all()
        with self._lock:  # the zygote is gone: its children died with it
            if self._proc is proc:
                self._orphan_all()

    def _orphan_all(self) -> None:
        for req in list(self._pending.values()):
            with req.changed:
                req.changed.notify_all()

    def close(self) -> None:
        with self._lock:
            proc, self._proc = self._proc, None
        if proc is not None:
            try:
                proc.stdin.close()
            except OSError:
                pass
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                _kill_group(proc)

    def start(self) -> bool:
        """Start the zygote now (else at the first request); whether it runs."""
        with self._lock:
            return self._ensure() is not None

    # one request -----------------------------------------------------------------------
    def run(self, func: str, kwargs: dict, limits: Limits, *, cancel: threading.Event | None = None,
            poll_s: float = 0.2, log: Callable[[str], None] | None = None) -> dict:
        with tempfile.TemporaryDirectory(prefix="mai-sandbox-") as tmp:
            spec = child_spec(func, kwargs, limits, Path(tmp))
            req = _Request()
            with self._lock:
                proc = self._ensure()
                if proc is not None:
                    self._next += 1
                    rid = self._next
                    self._pending[rid] = req
                    try:
                        proc.stdin.write((json.dumps({"id": rid, "spec": spec}) + "\n").encode())
                        proc.stdin.flush()
                    except OSError:
                        del self._pending[rid]
                        proc = None
            if proc is None:  # no zygote: a cold child, as before
                return run_sandboxed(func, kwargs, limits, cancel=cancel, poll_s=poll_s, log=log)
            try:
                why = self._wait(proc, req, limits, cancel, poll_s)
            finally:
                with self._lock:
                    self._pending.pop(rid, None)
            if why == "lost":  # the zygote died under this request: once more, cold
                logger.warning("preflight zygote died; this request runs in a cold child")
                return run_sandboxed(func, kwargs, limits, cancel=cancel, poll_s=poll_s, log=log)
            status = req.status
            rc = None if status is None else (-os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status))
            return child_verdict(spec, why, rc, limits, log)

    def _wait(self, proc: subprocess.Popen, req: _Request, limits: Limits, cancel, poll_s: float) -> str | None:
        """Until the child ended (None), or TIMEOUT/CANCELLED (its group killed, its end
        awaited), or "lost" (the zygote died)."""
        deadline = time.monotonic() + START_S + limits.wall_s  # until the fork is confirmed
        why, forked = None, False
        with req.changed:
            while req.status is None:
                if proc.poll() is not None and req.status is None:
                    return "lost"
                if not forked and req.pid is not None:
                    deadline, forked = time.monotonic() + limits.wall_s, True
                if why is None:
                    if time.monotonic() > deadline:
                        why = TIMEOUT
                    elif cancel is not None and cancel.is_set():
                        why = CANCELLED
                    if why and req.pid is not None:
                        try:
                            os.killpg(req.pid, signal.SIGKILL)
                        except ProcessLookupError:
                            pass
                req.changed.wait(poll_s)
        return why


def _read_line(proc: subprocess.Popen, timeout_s: float) -> dict | None:
    """The zygote's first line (its ready message), within ``timeout_s``."""
    box: list = []
    t = threading.Thread(target=lambda: box.append(proc.stdout.readline()), daemon=True)
    t.start()
    t.join(timeout_s)
    if not box or not box[0]:
        return None
    try:
        return json.loads(box[0])
    except ValueError:
        return None


# ----------------------------------------------------------------------------------------
# the zygote process
# ----------------------------------------------------------------------------------------
_INHERITED: list[int] = []  # the zygote's own pipes, closed in each child


def _fork_child(spec: dict) -> int:
    pid = os.fork()
    if pid:
        return pid
    code = 70
    try:
        os.setsid()  # its own process group: the parent kills it (and anything it started) by pgid
        devnull = os.open(os.devnull, os.O_RDWR)
        os.dup2(devnull, 0)
        os.dup2(devnull, 1)
        err = os.open(spec["stderr"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.dup2(err, 2)
        for fd in (devnull, err, *_INHERITED):
            os.close(fd)
        os.chdir(spec["cwd"])
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        signal.set_wakeup_fd(-1)
        from maikit.worker.sandbox import _child_main

        code = _child_main(spec, warm=False)
    except BaseException:  # noqa: BLE001  (a child never returns into the zygote's loop)
        import traceback

        traceback.print_exc()
    finally:
        try:
            sys.stderr.flush()
        finally:
            os._exit(code)


def _main() -> int:
    import select

    from maikit.isolation import die_with_parent

    die_with_parent()
    from maikit.worker import stages

    stages.warm_up()
    out = sys.stdout.buffer

    def send(msg: dict) -> None:
        out.write((json.dumps(msg) + "\n").encode())
        out.flush()

    rfd, wfd = os.pipe()
    os.set_blocking(wfd, False)
    os.set_blocking(rfd, False)
    _INHERITED.extend((rfd, wfd))
    signal.set_wakeup_fd(wfd)
    signal.signal(signal.SIGCHLD, lambda *a: None)
    children: dict[int, int] = {}  # pid -> request id
    send({"ready": True, "pid": os.getpid()})
    stdin = sys.stdin.buffer
    buf = b""
    eof = False
    while not eof:
        try:
            readable, _, _ = select.select([stdin, rfd], [], [], 5.0)
        except InterruptedError:
            readable = []
        if rfd in readable:
            try:
                os.read(rfd, 4096)
            except BlockingIOError:
                pass
        if stdin in readable:
            chunk = os.read(stdin.fileno(), 65536)
            if not chunk:
                eof = True
            buf += chunk
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                msg = json.loads(line)
                pid = _fork_child(msg["spec"])
                children[pid] = msg["id"]
                send({"id": msg["id"], "pid": pid})
        while children:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
            rid = children.pop(pid, None)
            if rid is not None:
                send({"id": rid, "status": status})
    return 0


if __name__ == "__main__":
    sys.exit(_main())
