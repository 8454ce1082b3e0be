"""Run one function on untrusted files in a child process with limits.

The child (``python -m maikit.worker.sandbox``) gets ``RLIMIT_AS`` (memory), ``RLIMIT_CPU``
(address space: the child's size after importing the runtime plus the memory limit;
CPU seconds, interpreter start-up included), dies with its parent (``PR_SET_PDEATHSIG``)
and, where the kernel lets it create a user namespace, a network namespace of its own with
nothing in it but a loopback interface that is down (no network, not even the host's
127.0.0.1). Where it cannot, the child runs with the host's network and says so: the
reason goes to this module's logger, to the caller's ``log`` and to the child's log
("network isolation unavailable: <reason>"). The parent kills its whole process group
after the wall-clock limit or on cancel; the wall clock starts when the child has imported
the runtime (a loaded machine's slow start-up is not the model's time), with ``STARTUP_S``
allowed for that. Whatever happens to the child, the caller gets either the function's
result or a :class:`SandboxFailure` with a sentence a participant understands; a child
killed by a signal from inside the runtime (a corrupt model) is named with the signal and
what the runtime was doing, read from the Python stack ``faulthandler`` writes as it dies.
"""

from __future__ import annotations

import faulthandler
import json
import logging
import os
import re
import resource
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from maikit.isolation import NETWORK_UNAVAILABLE, die_with_parent
from maikit.isolation import no_network as _no_network

logger = logging.getLogger(__name__)

# Child exit reasons (SandboxFailure.kind): the model's fault unless "cancelled"/"infrastructure".
TIMEOUT, MEMORY, CPU, CRASH, ERROR, CANCELLED, INFRA = "timeout", "memory", "cpu", "crash", "error", "cancelled", "infrastructure"
STARTUP_S = 120.0  # longest interpreter start-up and imports before the wall clock starts


@dataclass(frozen=True)
class Limits:
    memory_mb: int = 4096
    cpu_s: float = 600.0
    wall_s: float = 600.0
    nice: int = 0  # added to the child's CPU niceness (lower priority), e.g. for the server's preflight

    def words(self) -> str:
        """The limits as a log line says them (not a Python repr)."""
        return f"{self.memory_mb} MB of memory, {self.wall_s:g} s of wall clock, {self.cpu_s:g} s of CPU time"


class SandboxFailure(Exception):
    def __init__(self, kind: str, reason: str, log: str = ""):
        super().__init__(reason)
        self.kind, self.reason, self.log = kind, reason, log


def _limit_self(cpu_s: float, nice: int = 0) -> None:
    """The child's own limits, set first thing (no code runs between fork and exec)."""
    die_with_parent()
    cpu = max(1, int(cpu_s + 0.999))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 5))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    if nice > 0:
        os.nice(nice)


def _signal_name(sig: int) -> str:
    try:
        return signal.Signals(sig).name
    except ValueError:
        return f"signal {sig}"


def child_env() -> dict:
    """A child's environment: this one without the server's ``MAI_*`` settings (secrets,
    database URLs), with this process's import path."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAI_") or k == "MAI_DEBUG"}
    env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    return env


def run_sandboxed(func: str, kwargs: dict, limits: Limits, *, cancel: threading.Event | None = None,
                  poll_s: float = 0.2, log: Callable[[str], None] | None = None) -> dict:
    """``maikit.worker.stages.<func>(**kwargs)`` in a limited child; its JSON result.

    Raises SandboxFailure(kind, reason, log) on a model error, timeout, memory or CPU
    limit, crash or cancel; its ``log`` is the child's stderr (LiteRT's messages), plus the
    Python stack of a crash. ``log`` here (e.g. a job's log) is told each time the child ran
    without network isolation, and why.
    """
    with tempfile.TemporaryDirectory(prefix="mai-sandbox-") as tmp:
        spec = child_spec(func, kwargs, limits, Path(tmp))
        with open(spec["stderr"], "wb") as err:
            proc = subprocess.Popen([sys.executable, "-m", "maikit.worker.sandbox"], stdin=subprocess.PIPE,
                                    stdout=subprocess.DEVNULL, stderr=err, env=child_env(), cwd=tmp,
                                    start_new_session=True)
            proc.stdin.write(json.dumps(spec).encode())
            proc.stdin.close()
            deadline, started = time.monotonic() + STARTUP_S + limits.wall_s, False
            why = None
            while proc.poll() is None:
                if not started and Path(spec["ready"]).exists():
                    deadline, started = time.monotonic() + limits.wall_s, True
                if time.monotonic() > deadline:
                    why = TIMEOUT
                elif cancel is not None and cancel.is_set():
                    why = CANCELLED
                if why:
                    _kill_group(proc)
                    break
                time.sleep(poll_s)
        return child_verdict(spec, why, proc.returncode, limits, log)


def child_spec(func: str, kwargs: dict, limits: Limits, tmp: Path) -> dict:
    """What a sandbox child is told (its function, its limits, and the files in ``tmp`` it
    writes its result, stderr, crash stack, network state and readiness to); the zygote's
    children get the same."""
    return {"func": func, "kwargs": kwargs, "out": str(tmp / "result.json"), "ready": str(tmp / "ready"),
            "fault": str(tmp / "fault.txt"), "network": str(tmp / "network.txt"), "stderr": str(tmp / "stderr.txt"),
            "cwd": str(tmp), "memory_mb": int(limits.memory_mb), "cpu_s": float(limits.cpu_s), "nice": int(limits.nice)}


def child_verdict(spec: dict, why: str | None, rc: int | None, limits: Limits,
                  log: Callable[[str], None] | None) -> dict:
    """The child's result from its files, or the SandboxFailure: ``why`` is TIMEOUT or
    CANCELLED when the parent killed it, else ``rc`` is its exit status (negative: signal)."""
    _report_network(Path(spec["network"]), log)
    err = Path(spec["stderr"])
    text = err.read_text(errors="replace")[-20000:] if err.is_file() else ""
    if why == TIMEOUT:
        raise SandboxFailure(TIMEOUT, f"timeout after {limits.wall_s:g} s (the phase's execution time limit)", text)
    if why == CANCELLED:
        raise SandboxFailure(CANCELLED, "cancelled", text)
    return _outcome(rc, Path(spec["out"]), text, limits, Path(spec["fault"]))


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()


def _looks_like_oom(log: str) -> bool:
    low = log.lower()
    return any(s in low for s in ("bad_alloc", "memoryerror", "out of memory", "cannot allocate", "failed to allocate",
                                  "failed to map segment"))


_UNISOLATED_SEEN: set[str] = set()


def _report_network(path: Path, log: Callable[[str], None] | None) -> None:
    """The child's network state, where it has none of its own: to the caller's log each time,
    to this module's logger once per reason (a worker's log would repeat it for every job)."""
    try:
        state = path.read_text().strip()
    except OSError:  # the child died before it got that far
        return
    if not state.startswith(NETWORK_UNAVAILABLE):
        return
    if state not in _UNISOLATED_SEEN:
        _UNISOLATED_SEEN.add(state)
        logger.warning("sandbox: %s (the child runs with the host's network)", state)
    if log is not None:
        log(f"[sandbox] {state} (the child ran with the host's network)")


# Python frames (innermost first) -> what the runtime was doing when a signal killed it.
_CRASH_STAGES = {
    ("ai_edge_litert/interpreter.py", "__init__"): "loading the model",
    ("ai_edge_litert/interpreter.py", "resize_tensor_input"): "resizing the model's input",
    ("ai_edge_litert/interpreter.py", "allocate_tensors"): "allocating the model's tensors",
    ("ai_edge_litert/interpreter.py", "set_tensor"): "writing the model's input",
    ("ai_edge_litert/interpreter.py", "invoke"): "running the model",
    ("ai_edge_litert/interpreter.py", "get_tensor"): "reading the model's output",
    ("tflite/runner.py", "prepare"): "sizing and filling the model's inputs",
    ("tflite/runner.py", "invoke"): "running the model",
    ("tflite/runner.py", "output"): "reading the model's output",
}
_FRAME = re.compile(r'^\s*File "(?P<path>[^"]*)", line (?P<line>\d+) in (?P<func>\S+)')


def _short(path: str) -> str:
    """The last two parts of a path (``ai_edge_litert/interpreter.py``): no host paths in a log."""
    return "/".join(Path(path).parts[-2:])


def crash_stage(dump: str) -> str | None:
    """What the runtime was doing, from a ``faulthandler`` dump: the innermost known frame of
    the crashing thread, else of any thread (a crash in a runtime worker thread leaves the
    calling thread waiting in ``invoke``)."""
    blocks = re.split(r"\n(?=(?:Current thread|Thread) 0x)", dump)
    blocks.sort(key=lambda b: not b.startswith("Current thread"))
    for block in blocks:
        for line in block.splitlines():
            m = _FRAME.match(line)
            if m and (_short(m["path"]), m["func"]) in _CRASH_STAGES:
                return _CRASH_STAGES[(_short(m["path"]), m["func"])]
    return None


def _fault_log(dump: str) -> str:
    return "\n".join(_FRAME.sub(lambda m: f'  File "{_short(m["path"])}", line {m["line"]} in {m["func"]}', ln)
                     for ln in dump.strip().splitlines() if not ln.startswith("Extension modules:"))


def _outcome(rc: int, out: Path, log: str, limits: Limits, fault: Path | None = None) -> dict:
    if out.is_file():
        payload = json.loads(out.read_text())
        if "result" in payload:
            return payload["result"]
        kind = payload.get("kind", ERROR)
        reason = payload.get("error", "failed")
        if kind == MEMORY:
            reason = f"out of memory (limit {limits.memory_mb} MB): {reason}"
        raise SandboxFailure(kind, reason, log)
    if rc is not None and rc < 0:
        sig = -rc
        if sig in (signal.SIGXCPU,) or (sig == signal.SIGKILL and _cpu_exhausted(log)):
            raise SandboxFailure(CPU, f"CPU time limit of {limits.cpu_s:g} s exceeded", log)
        if _looks_like_oom(log):
            raise SandboxFailure(MEMORY, f"out of memory (limit {limits.memory_mb} MB)", log)
        dump = fault.read_text(errors="replace") if fault is not None and fault.is_file() else ""
        stage = crash_stage(dump)
        if dump.strip():
            log = (log.rstrip("\n") + "\n" if log.strip() else "") + _fault_log(dump)[-10000:] + "\n"
        raise SandboxFailure(CRASH, f"the runtime crashed (signal {sig} {_signal_name(sig)})"
                             + (f" while {stage}" if stage else ""), log)
    if _looks_like_oom(log):
        raise SandboxFailure(MEMORY, f"out of memory (limit {limits.memory_mb} MB)", log)
    last = next((ln for ln in reversed(log.strip().splitlines()) if ln.strip()), "")
    raise SandboxFailure(CRASH, f"the runtime exited with status {rc}" + (f" ({last[:300]})" if last else ""), log)


def _cpu_exhausted(log: str) -> bool:
    return "cpu time limit" in log.lower()


# ----------------------------------------------------------------------------------------
# the child
# ----------------------------------------------------------------------------------------
def _vm_bytes(key: str = "VmSize") -> int:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


_BASE = {"vm": 0, "limit_mb": 0}


def _limit_memory(memory_mb: int) -> None:
    """Address space = what the imported runtime already maps + the phase's memory limit."""
    _BASE["vm"], _BASE["limit_mb"] = _vm_bytes(), memory_mb
    limit = _BASE["vm"] + memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


_PREPARE_FAILURES = ("failed to prepare", "failed to reshape", "allocatetensors", "allocate tensors")


def _memory_failure(text: str) -> bool:
    """Whether an error under the memory limit is most likely the limit's doing.

    LiteRT reports an allocation refused by RLIMIT_AS as a failed prepare/reshape, with no
    word of memory; so a prepare failure under a limit counts as one, as does a child that
    had used over half its allowance when it failed.
    """
    if not _BASE["limit_mb"]:
        return False
    if _looks_like_oom(text) or any(s in text.lower() for s in _PREPARE_FAILURES):
        return True
    used = max(_vm_bytes("VmPeak"), _vm_bytes()) - _BASE["vm"]
    return used > _BASE["limit_mb"] * 1024 * 1024 / 2


_FAULT_FILE: list = []  # kept open for the child's life


def _child() -> int:
    return _child_main(json.loads(sys.stdin.read()))


def _child_main(spec: dict, warm: bool = True) -> int:
    """The child's work after it read its spec: limits, faulthandler, network, then the
    function. ``warm``: import the runtime here (a fresh interpreter; a child forked by the
    zygote has it already)."""
    _limit_self(float(spec["cpu_s"]), int(spec.get("nice", 0)))
    out = Path(spec["out"])
    # the Python stack on SIGSEGV/SIGABRT/SIGBUS/SIGFPE/SIGILL, to its own file: the runtime's
    # loaders send fd 2 elsewhere for a while (runner.native_stderr)
    _FAULT_FILE.append(open(spec["fault"], "w"))
    faulthandler.enable(file=_FAULT_FILE[0], all_threads=True)
    why = _no_network()
    state = "isolated" if why is None else f"{NETWORK_UNAVAILABLE}: {why}"
    Path(spec["network"]).write_text(state + "\n")
    if why is not None:
        print(state, file=sys.stderr, flush=True)

    def write(payload: dict) -> None:
        tmp = out.with_suffix(".tmp")
        tmp.write_text(json.dumps(payload, default=_jsonable))
        tmp.replace(out)

    try:
        from maikit.errors import MaikitError
        from maikit.worker import stages

        fn = getattr(stages, spec["func"])
        if warm:
            stages.warm_up()
        _limit_memory(int(spec["memory_mb"]))
        Path(spec["ready"]).touch()
        try:
            write({"result": fn(**spec["kwargs"])})
        except MaikitError as e:
            write({"error": e.reason, "kind": MEMORY if _memory_failure(e.reason) else ERROR})
        except MemoryError:
            write({"error": "an allocation failed", "kind": MEMORY})
        except (RuntimeError, ValueError) as e:
            text = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            write({"error": text, "kind": MEMORY if _memory_failure(str(e)) else ERROR})
    except MemoryError:
        os._exit(3)
    return 0


def _jsonable(obj):
    if hasattr(obj, "item"):
        return obj.item()
    if hasattr(obj, "tolist"):
        return obj.tolist()
    return str(obj)


if __name__ == "__main__":
    sys.exit(_child())
