"""What every device backend shares: the measurement protocol, the result, the error
vocabulary, the local device fingerprint, and the child process a model runs in.

A backend measures one .tflite with a :class:`MeasureProtocol` (the phase's threads,
warm-up, minimum runs and seconds, statistic — applied exactly as ``mai bench`` applies
them, through :func:`maikit.runtime.loop.measure`) and returns a plain dict::

    {"backend", "device", "value_ms", "statistic", "samples_ms", "stats", "cv",
     "cpu_avg_ms", ..., "cpu_p90_ms", "cpu_samples_ms",
     "init_ms", "first_ms", "warmup_avg_ms", "memory_mb", "fingerprint", "protocol", "notes"}

``samples_ms`` is None where the runtime reports only aggregates (``benchmark_model`` on a
phone); the ``cpu_*`` figures (the inference thread's CPU time per run, beside the wall time:
:mod:`maikit.runtime.loop`) are None where the loop does not run in maikit's own process. A model that cannot run raises :class:`ModelFault` with one ``kind`` of
:data:`FAULT_KINDS` (it counts as the participant's failed attempt); a device that cannot
be reached or used raises :class:`DeviceUnavailable` (an infrastructure failure, never
charged to the participant).

``profile(path, protocol, top) -> dict`` is the per-op profile, a separate pass after the
timed run (profiling perturbs timing): ``{"method", "top_ops": [{"node", "op", "ms", "share",
"delegated", ...}], "by_type": {op: {"count", "timed", "ms", "share"}}, "sum_ms", "op_count"}``,
``ms`` per inference. A backend or file without one raises :class:`ProfileUnavailable` with
the reason. A backend's ``cancel`` (a threading.Event) stops its running command
(:func:`run_command`, :func:`run_child`): :class:`Cancelled` is raised.
"""

from __future__ import annotations

import json
import os
import platform
import resource
import signal
import subprocess
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

from maikit.errors import MaikitError
from maikit.isolation import isolated_command
from maikit.runtime.loop import DEFAULTS as _LOOP
from maikit.tflite.runner import delegate_not_applied

STATISTICS = ("avg", "p50", "p90", "min")

# The one vocabulary of model failures, whatever the backend.
FAULT_KINDS = {
    "not_a_model": "the file is not a loadable TFLite model",
    "unsupported_op": "an op the runtime or delegate does not support",
    "delegate_not_applied": "the delegate could not be applied to the graph",
    "prepare_failed": "a node failed to prepare (shapes, types or parameters it cannot take)",
    "invoke_failed": "the model failed while running",
    "timeout": "the run went past its wall-clock or CPU-time limit",
    "out_of_memory": "the run went past its memory limit",
    "crashed": "the runtime crashed (a signal killed it)",
}


class ModelFault(MaikitError):
    """The model could not be measured on this device, for a reason of the model's own."""

    def __init__(self, kind: str, reason: str, file=None, details: dict | None = None):
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}")
        self.kind, self.details = kind, dict(details or {})
        super().__init__(reason, file)


class DeviceUnavailable(MaikitError):
    """The device (or its runtime) cannot be reached or used: not the model's fault."""


class ProfileUnavailable(MaikitError):
    """This backend, or this file on it, has no per-op profile (the reason says why)."""


@dataclass(frozen=True)
class MeasureProtocol:
    """A phase's runtime protocol. The loop's defaults are ``mai bench``'s (benchmark_model's),
    read from the measuring loop's one table."""

    threads: int = 2
    warmup_runs: int = _LOOP.warmup_runs
    warmup_seconds: float = _LOOP.warmup_seconds
    runs: int = _LOOP.runs
    min_seconds: float = _LOOP.min_seconds
    max_seconds: float = _LOOP.max_seconds
    statistic: str = "avg"
    xnnpack: bool = True
    shape: tuple[int, ...] | None = None  # for a file with dynamic height/width
    seed: int = 0

    def __post_init__(self) -> None:
        if self.statistic not in STATISTICS:
            raise MaikitError(f"`statistic` must be one of {', '.join(STATISTICS)}, got {self.statistic!r}")
        if int(self.threads) < 1:
            raise MaikitError(f"`threads` must be at least 1, got {self.threads}")
        if self.shape is not None:
            object.__setattr__(self, "shape", tuple(int(v) for v in self.shape))
        self.loop_settings()  # validates the loop values with the loop's own messages

    def loop_settings(self):
        from maikit.runtime.loop import LoopSettings

        return LoopSettings(runs=self.runs, min_seconds=self.min_seconds, max_seconds=self.max_seconds,
                            warmup_runs=self.warmup_runs, warmup_seconds=self.warmup_seconds)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["shape"] = list(self.shape) if self.shape else None
        return d

    @classmethod
    def from_dict(cls, d: dict | None) -> "MeasureProtocol":
        d = dict(d or {})
        known = {k: v for k, v in d.items() if k in cls.__dataclass_fields__}
        unknown = sorted(set(d) - set(known))
        if unknown:
            raise MaikitError(f"unknown runtime protocol field(s): {', '.join(unknown)}")
        return cls(**known)


def coefficient_of_variation(samples) -> float | None:
    """Population std / mean of the samples (None for fewer than two or a zero mean)."""
    import numpy as np

    if samples is None or len(samples) < 2:
        return None
    a = np.asarray(samples, np.float64)
    m = float(a.mean())
    return None if m <= 0 else float(a.std() / m)


def result_from_loop(loop: dict, protocol: MeasureProtocol, backend: str, fingerprint: dict, **extra) -> dict:
    """The common result dict from :func:`maikit.runtime.loop.measure`'s output."""
    stats = {k: loop[k] for k in ("avg_ms", "std_ms", "min_ms", "max_ms", "p50_ms", "p90_ms")}
    samples = loop.get("samples_ms")
    cpu = {f"cpu_{k}": loop.get(f"cpu_{k}") for k in stats}
    return {
        "backend": backend,
        "value_ms": stats[f"{protocol.statistic}_ms"],
        "statistic": protocol.statistic,
        "samples_ms": samples,
        "stats": stats,
        "runs": loop["runs"],
        "cv": coefficient_of_variation(samples),
        **cpu,
        "cpu_samples_ms": loop.get("cpu_samples_ms"),
        "init_ms": loop["init_ms"],
        "first_ms": loop["first_ms"],
        "warmup_runs": loop["warmup_runs"],
        "warmup_avg_ms": loop["warmup_avg_ms"],
        "memory_mb": loop.get("peak_rss_mb"),
        "stopped_by": loop.get("stopped_by"),
        "fingerprint": fingerprint,
        "protocol": protocol.to_dict(),
        "notes": [],
        **extra,
    }


def profile_or_note(device, path, protocol: MeasureProtocol, top: int) -> dict:
    """``{"op_profile", "op_profile_note"}``: ``device``'s per-op profile of ``path`` (a separate
    pass), or None and the reason there is none (the backend has no per-op timing, the file
    cannot be profiled, or the profiling pass failed: the timed result stands either way).
    :class:`Cancelled` goes through."""
    try:
        return {"op_profile": device.profile(path, protocol, top=top), "op_profile_note": None}
    except ProfileUnavailable as e:
        return {"op_profile": None, "op_profile_note": str(e)}
    except (ModelFault, DeviceUnavailable) as e:
        return {"op_profile": None, "op_profile_note": f"the per-op pass failed: {e}"}


_DELEGATE_TARGET = {"GPU": "gpu", "NNAPI": "npu", "XNNPACK": "cpu"}


def delegate_findings(result: dict) -> list[dict]:
    """What the device's delegate itself decided, as findings (``target``, ``node``, ``op``,
    ``severity``, ``reason``, ``source: "delegate"``): the ops LiteRT's GPU accelerator
    rejected and its GPU/CPU op counts (``litert-gpu``), the GPU delegate's rejections and
    the delegate's coverage of the graph as ``benchmark_model`` printed them (``adb``), and
    the nodes XNNPACK took or that it did not apply at all (``litert-cpu``, ``ssh``)."""
    out: list[dict] = []

    def add(target, op, severity, reason):
        out.append({"target": target, "node": None, "op": op, "severity": severity, "reason": reason, "source": "delegate"})

    comp = result.get("compatibility") or {}
    for r in comp.get("rejected") or []:
        add("gpu", r["op"], "warning", f"the GPU delegate rejects it: {r['reason']} (runs on the CPU)")
    if comp.get("gpu_ops") is not None:
        add("gpu", "GRAPH", "warning" if comp.get("cpu_ops") else "info",
            f"{comp['gpu_ops']} of {comp['ops_total']} ops run on the GPU, {comp['cpu_ops']} on the CPU")
    dl = result.get("delegate")
    if isinstance(dl, dict):
        for r in dl.get("gpu_rejected") or []:
            add("gpu", r["op"], "warning", f"the GPU delegate rejects it: {r['reason']} (runs on the CPU)")
        if (note := delegate_not_applied(dl)) is not None:
            add(_DELEGATE_TARGET.get(str(dl["requested"]).upper(), "cpu"), "GRAPH", "warning", note)
        elif dl.get("name") and dl.get("coverage") in ("partially", "none"):
            target = _DELEGATE_TARGET.get(str(dl["name"]).upper(), str(dl["name"]).lower())
            what = "part of the graph" if dl["coverage"] == "partially" else "none of the graph"
            if dl.get("nodes") is not None:
                what += f" ({dl['nodes']} of {dl['ops_total']} nodes)"
            add(target, "GRAPH", "warning", f"the {dl['name']} delegate runs {what}; the rest runs on the CPU's builtin kernels")
    return out


# ---------------------------------------------------------------------------- fingerprint

def _read(path: str) -> str | None:
    try:
        return Path(path).read_text().strip()
    except OSError:
        return None


def local_fingerprint() -> dict:
    """This machine: model, CPU, OS, LiteRT version, CPU governor and temperature where readable."""
    from maikit.runtime.system import cpu_model, package_version

    temps = []
    for zone in sorted(Path("/sys/class/thermal").glob("thermal_zone*")):
        t = _read(str(zone / "temp"))
        if t and t.lstrip("-").isdigit():
            temps.append({"zone": _read(str(zone / "type")) or zone.name, "celsius": int(t) / 1000.0})
    model = _read("/proc/device-tree/model") or _read("/sys/devices/virtual/dmi/id/product_name")
    return {
        "model": model.rstrip("\x00") if model else None,
        "cpu": cpu_model(),
        "cpu_count": os.cpu_count(),
        "machine": platform.machine(),
        "os": platform.platform(),
        "runtime": "LiteRT",
        "runtime_version": package_version("ai-edge-litert"),
        "governor": _read("/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor"),
        "temperatures": temps,
    }


# ---------------------------------------------------------------------------- child process

@dataclass(frozen=True)
class ChildLimits:
    """Limits of the child process a model runs in."""

    memory_mb: int = 8192  # address space (RLIMIT_AS); software Vulkan maps a lot
    cpu_seconds: int = 900
    wall_seconds: float = 600.0
    env: dict = field(default_factory=dict)


_MARK = "MAIKIT-CHILD-RESULT "


def limit_self(memory_mb: int, cpu_seconds: int) -> None:
    """Called by the child first thing: address-space and CPU-time limits, no core dumps (the
    child was started by :func:`maikit.isolation.run_isolated`: no network where the kernel
    allows, dies with its parent).

    (Set in the child itself, not in a ``preexec_fn``: forking a threaded parent, such as a
    worker with its heartbeat thread, must not run Python code between fork and exec.)
    """
    def cap(kind, soft, hard):  # never above a limit inherited from an enclosing sandbox
        _, inherited = resource.getrlimit(kind)
        if inherited != resource.RLIM_INFINITY:
            soft, hard = min(soft, inherited), min(hard, inherited)
        resource.setrlimit(kind, (soft, hard))

    mem = int(memory_mb) * 1024 * 1024
    cap(resource.RLIMIT_AS, mem, mem)
    cpu = int(cpu_seconds)
    cap(resource.RLIMIT_CPU, cpu, cpu + 5)
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


class Cancelled(MaikitError):
    """The job was cancelled (or its lease lost) while its child ran."""


def run_command(cmd: list[str], timeout: float, cancel=None, on_stop=None, poll_s: float = 0.25) -> subprocess.CompletedProcess:
    """Run ``cmd`` in a process group of its own, output captured, stdin a pipe held open
    until it ends (a remote side that watches its stdin sees the end of it when this side is
    killed: the ``ssh`` backend's evaluator stops then).

    When ``cancel`` (a threading.Event) is set, or ``timeout`` seconds pass, the process group
    is killed, ``on_stop()`` runs (to stop what the command started elsewhere, e.g. on a
    phone) and :class:`Cancelled` or :class:`subprocess.TimeoutExpired` is raised. A missing
    program raises FileNotFoundError.
    """
    import time

    read_end, write_end = os.pipe()
    try:
        proc = subprocess.Popen(cmd, stdin=read_end, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                start_new_session=True)
    except BaseException:
        os.close(write_end)
        raise
    finally:
        os.close(read_end)
    deadline = time.monotonic() + float(timeout)
    try:
        while True:
            left = deadline - time.monotonic()
            try:
                out, err = proc.communicate(timeout=max(0.01, min(poll_s, left) if cancel is not None else left))
                return subprocess.CompletedProcess(cmd, proc.returncode, out, err)
            except subprocess.TimeoutExpired:
                stop = "cancel" if cancel is not None and cancel.is_set() else (
                    "timeout" if time.monotonic() >= deadline else None)
                if stop is None:
                    continue
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait()
            if on_stop is not None:
                on_stop()
            for f in (proc.stdout, proc.stderr):  # what else holds them (a remote side) is not waited for
                f.close()
            if stop == "cancel":
                raise Cancelled("cancelled")
            raise subprocess.TimeoutExpired(cmd, timeout)
    finally:
        os.close(write_end)


def run_child(request: dict, limits: ChildLimits = ChildLimits(), file=None, cancel=None) -> tuple[dict, str]:
    """Run ``request`` in ``maikit.runtime.devices._child`` (started isolated, by
    :func:`maikit.isolation.isolated_command`) under ``limits``.

    Returns (the child's JSON reply, its stderr — LiteRT's native log lines). A crash, a
    time-out or a memory blow-up raises :class:`ModelFault`; the parent lives on. When
    ``cancel`` (a threading.Event) is set, the child is killed and :class:`Cancelled` raised.
    """
    # the parent's MAI_* variables (tokens, a database URL) stay out of a child that runs an untrusted file
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("MAI_") or k == "MAI_DEBUG"},
           **{k: str(v) for k, v in limits.env.items()}}
    src = str(Path(__file__).resolve().parents[3])
    env["PYTHONPATH"] = src + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "0")
    request = {**request, "limits": {"memory_mb": int(limits.memory_mb), "cpu_seconds": int(limits.cpu_seconds)}}
    proc = subprocess.Popen(
        isolated_command("maikit.runtime.devices._child"), stdin=subprocess.PIPE,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, start_new_session=True, text=True,
    )
    import time

    deadline = time.monotonic() + limits.wall_seconds
    data = json.dumps(request)
    while True:
        step = max(0.05, min(0.5, deadline - time.monotonic())) if cancel is not None else limits.wall_seconds
        try:
            out, err = proc.communicate(data, timeout=step)
            break
        except subprocess.TimeoutExpired:
            data = None
            stop = "cancel" if cancel is not None and cancel.is_set() else (
                "timeout" if time.monotonic() >= deadline or cancel is None else None)
            if stop is None:
                continue
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            if stop == "cancel":
                raise Cancelled("cancelled", file) from None
            raise ModelFault("timeout", f"stopped after the wall-clock limit of {limits.wall_seconds:g} s", file) from None
    reply = None
    for line in out.splitlines():
        if line.startswith(_MARK):
            reply = json.loads(line[len(_MARK):])
    if reply is None:
        rc = proc.returncode
        if rc == -signal.SIGXCPU or rc == -signal.SIGKILL and "CPU time" in err:
            raise ModelFault("timeout", f"stopped after the CPU-time limit of {limits.cpu_seconds} s", file)
        if "bad_alloc" in err or "MemoryError" in err or "Cannot allocate memory" in err:
            raise ModelFault("out_of_memory", f"went past the memory limit of {limits.memory_mb} MB", file)
        if rc is not None and rc < 0:
            name = signal.Signals(-rc).name if -rc in signal.Signals._value2member_map_ else str(-rc)
            raise ModelFault("crashed", f"the runtime was killed by {name}", file)
        tail = [ln for ln in err.strip().splitlines() if ln.strip()][-1:] or [f"exit status {rc}"]
        raise ModelFault("crashed", f"the runtime exited without a result ({tail[0][:200]})", file)
    if reply.get("error"):
        e = reply["error"]
        if e.get("kind") == "unavailable":
            raise DeviceUnavailable(e["reason"])
        if e.get("kind") == "input":
            raise MaikitError(e["reason"], file)
        raise ModelFault(e["kind"], e["reason"], file, e.get("details"))
    return reply, err


def child_reply(obj: dict) -> None:
    """Used by the child: write the reply line the parent looks for."""
    sys.stdout.write(_MARK + json.dumps(obj) + "\n")
    sys.stdout.flush()
