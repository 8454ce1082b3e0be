"""``adb``: an Android phone over adb, measured by the organiser's ``benchmark_model`` binary.

The backend pushes the model and the binary (``benchmark_model_path``, given by the
organiser) to ``remote_dir`` on the phone, runs::

    benchmark_model --graph=F --num_threads=N --warmup_runs=W --warmup_min_secs=S
                    --num_runs=R --min_secs=M --max_secs=X --use_xnnpack=true|false
                    [--use_gpu=true | --use_nnapi=true]

and parses what it prints (format in ``docs/device-backends.md``, with sources): init time,
first inference, warm-up and inference count/avg/std/min/max, memory footprint; and its
failure lines (an op the runtime lacks, a delegate that could not be applied, a node that
failed to prepare) into the same result and the same :data:`FAULT_KINDS` as the other
backends. ``benchmark_model`` prints aggregates only, so ``samples_ms`` is None and only
``avg`` and ``min`` can be the phase's statistic.

The per-op profile (:meth:`AdbDevice.profile`) is a second, short run of the same command
with ``--enable_op_profiling=true`` (the timed run stays unprofiled: the profiler's
bookkeeping per op adds to the time), whose operator table :func:`parse_op_profile` reads.
The command runs under a shell that first writes its process id to ``run.pid`` on the phone:
a cancel or a time-out kills the local ``adb`` and then that process on the phone.
"""

from __future__ import annotations

import re
import shlex
import subprocess
from pathlib import Path

from maikit.errors import MaikitError
from maikit.runtime.devices.base import DeviceUnavailable, MeasureProtocol, ModelFault, ProfileUnavailable, run_command

DELEGATES = ("cpu", "xnnpack", "gpu", "nnapi")

_LINE_PREFIX = re.compile(r"^(?:INFO|VERBOSE|WARNING|ERROR): ")
_STATS = re.compile(r"^count=(\d+)(.*)$")
_KV = re.compile(r"(\w+)=(-?[\d.]+(?:e[-+]?\d+)?)")
_TIMINGS = re.compile(r"Inference timings in us: (.*)$")
_MEMORY = re.compile(r"Memory footprint delta from the start of the tool \(MB\): init=([\d.]+) overall=([\d.]+)")
_PEAK = re.compile(r"Overall peak memory footprint \(MB\) via periodic monitoring: ([\d.]+)")
_INIT = re.compile(r"Initialized session in ([\d.]+)ms")
_NODE_FAILED = re.compile(r"Node number (\d+) \(([^)]+)\) failed to (prepare|invoke)")
_MISSING_OP = re.compile(r"Didn't find op for builtin opcode '([^']+)'")
_MISSING_CUSTOM = re.compile(r"Encountered unresolved custom op: ([^.\s]+)")
_DELEGATE_FAILED = re.compile(r"Failed to apply (\w+) delegate")
_GPU_UNSUPPORTED = re.compile(r"^([A-Z][A-Z0-9_]*): (.*?\.)(?:\s+\S.*)?$")
_NOT_A_MODEL = re.compile(r"not a valid Flatbuffer|Failed to mmap model|Could not open '")
_DELEGATED = re.compile(r"Explicitly applied (\w+) delegate, and the model graph will be (completely|partially) executed")
_NOT_DELEGATED = re.compile(r"Though (\w+) delegate is explicitly applied, the model graph will not be executed")


def _clean(line: str) -> str:
    return _LINE_PREFIX.sub("", line.strip()).strip()


def parse_benchmark_output(text: str) -> dict:
    """What ``benchmark_model`` printed: timings in ms, memory in MB, delegate notes and faults.

    ``fault`` is None, or ``{"kind", "reason", "details"}`` in :data:`FAULT_KINDS`'s words.
    """
    lines = [_clean(ln) for ln in text.splitlines()]
    out: dict = {"init_ms": None, "first_ms": None, "warmup": None, "inference": None,
                 "memory_init_mb": None, "memory_overall_mb": None, "memory_peak_mb": None,
                 "delegate": None, "delegate_coverage": None, "gpu_rejected": [], "fault": None}
    blocks = []
    faults = []
    i = 0
    while i < len(lines):
        ln = lines[i]
        m = _STATS.match(ln)
        if m:
            kv = {k: float(v) for k, v in _KV.findall(m.group(2))}
            blocks.append({"count": int(m.group(1)), **{f"{k}_ms": v / 1000.0 for k, v in kv.items()}})
        elif (m := _TIMINGS.search(ln)):
            parts = dict(p.split(": ", 1) for p in m.group(1).split(", ") if ": " in p)
            us = lambda key: float(parts[key]) / 1000.0 if key in parts else None  # noqa: E731
            out["init_ms"], out["first_ms"] = us("Init"), us("First inference")
            out["warmup_avg_ms"], out["inference_avg_ms"] = us("Warmup (avg)"), us("Inference (avg)")
        elif (m := _MEMORY.search(ln)):
            out["memory_init_mb"], out["memory_overall_mb"] = float(m.group(1)), float(m.group(2))
        elif (m := _PEAK.search(ln)):
            out["memory_peak_mb"] = float(m.group(1))
        elif (m := _INIT.search(ln)) and out["init_ms"] is None:
            out["init_ms"] = float(m.group(1))
        elif (m := _DELEGATED.search(ln)):
            out["delegate"], out["delegate_coverage"] = m.group(1), m.group(2)
        elif (m := _NOT_DELEGATED.search(ln)):
            out["delegate"], out["delegate_coverage"] = m.group(1), "none"
        elif "Following operations are not supported by GPU delegate" in ln:
            i += 1
            while i < len(lines) and (g := _GPU_UNSUPPORTED.match(lines[i])):
                out["gpu_rejected"].append({"op": g.group(1), "reason": g.group(2)})
                i += 1
            continue
        elif (m := _MISSING_OP.search(ln)):
            faults.append(("unsupported_op", f"the runtime has no kernel for op {m.group(1)}", {"op": m.group(1)}))
        elif (m := _MISSING_CUSTOM.search(ln)):
            faults.append(("unsupported_op", f"unresolved custom op {m.group(1)}", {"op": m.group(1)}))
        elif (m := _NODE_FAILED.search(ln)):
            kind = "prepare_failed" if m.group(3) == "prepare" else "invoke_failed"
            faults.append((kind, f"node {m.group(1)} ({m.group(2)}) failed to {m.group(3)}",
                           {"node": int(m.group(1)), "op": m.group(2)}))
        elif (m := _DELEGATE_FAILED.search(ln)):
            faults.append(("delegate_not_applied", f"the {m.group(1)} delegate could not be applied", {"delegate": m.group(1)}))
        elif _NOT_A_MODEL.search(ln):
            faults.append(("not_a_model", "not a loadable TFLite model (" + ln[:120] + ")", {}))
        elif "Disallowed CPU fallback detected" in ln:
            faults.append(("delegate_not_applied", "the delegate does not take the whole graph (CPU fallback not allowed)", {}))
        i += 1
    if len(blocks) >= 1:
        out["warmup"] = blocks[0] if len(blocks) >= 2 else None
        out["inference"] = blocks[-1] if len(blocks) >= 2 else blocks[0]
    if faults:
        # the most specific cause first: a missing op explains a failed prepare and a failed delegate
        order = ["not_a_model", "unsupported_op", "prepare_failed", "delegate_not_applied", "invoke_failed"]
        faults.sort(key=lambda f: order.index(f[0]))
        kind, reason, details = faults[0]
        if out["gpu_rejected"]:
            details = {**details, "gpu_rejected": out["gpu_rejected"]}
        out["fault"] = {"kind": kind, "reason": reason, "details": details}
    elif out["inference"] is None:
        last = next((ln for ln in reversed(lines) if ln), "no output")
        out["fault"] = {"kind": "invoke_failed", "reason": f"benchmark_model printed no timings ({last[:200]})", "details": {}}
    return out


_PROFILE_HEAD = "Operator-wise Profiling Info for Regular Benchmark Runs"
_SECTION = re.compile(r"^=+ (.+?) =+$")
_NUM = r"(-?\d+(?:\.\d+)?)"
_ROW = {  # the operator tables, with and without the [start] column (older builds print it)
    True: re.compile(rf"^(.+?)\s+{_NUM}\s+{_NUM}\s+{_NUM}\s+{_NUM}%\s+{_NUM}%\s+{_NUM}\s+(\d+)\s+(\S.*)$"),
    False: re.compile(rf"^(.+?)\s+(){_NUM}\s+{_NUM}\s+{_NUM}%\s+{_NUM}%\s+{_NUM}\s+(\d+)\s+(\S.*)$"),
}
_TYPE_ROW = re.compile(rf"^(.+?)\s+(\d+)\s+{_NUM}\s+{_NUM}%\s+{_NUM}%\s+{_NUM}\s+(\d+)$")
_NODE_INDEX = re.compile(r":(\d+)$")
_DELEGATE_KERNEL = re.compile(r"Delegate$")  # a delegate's node in the graph, e.g. TfLiteXNNPackDelegate


def parse_op_profile(text: str, top: int = 10) -> dict | None:
    """The operator table ``benchmark_model --enable_op_profiling=true`` prints after its runs
    (format in ``docs/device-backends.md``), in the per-op profile's shape; None when the text
    has none. ``ms`` of an op is per inference: its average per call times its calls per run.

    Only the main graph counts: the initialisation table printed before it (AllocateTensors,
    ModifyGraphWithDelegate) and other subgraphs' tables are skipped. When the delegate
    reports its own operators (a ``Delegate internal:`` table, or rows named ``Delegate/...``),
    they stand for the delegate's node of the graph, which is then not counted again; their
    ``node`` is None (the numbers after their names are the delegate's own).
    """
    lines = [_clean(ln) for ln in text.splitlines()]
    start = next((i for i, ln in enumerate(lines) if _PROFILE_HEAD in ln), None)
    if start is None:
        return None
    rows: dict[str, list[dict]] = {"graph": [], "delegate": []}
    types: dict[str, dict] = {}
    model_ms = runs = None
    part, section, with_start = "graph", None, False
    for ln in lines[start + 1:]:
        if ln.startswith("Primary graph"):
            part = "graph"
        elif ln.startswith("Subgraph (index:") and ln.endswith(":") and "Timings" not in ln:
            part = "subgraph"
        elif ln.startswith("Delegate internal:"):
            part = "delegate"
        elif (m := _SECTION.match(ln)):
            section = m.group(1)
        elif ln.lower().startswith("[node type]"):
            with_start = "[start]" in ln
        elif ln.startswith("Timings (microseconds):") and part == "graph" and model_ms is None:
            kv = {k: float(v) for k, v in _KV.findall(ln)}
            runs = int(kv["count"]) if "count" in kv else None
            us = kv.get("avg", kv.get("curr"))
            model_ms = us / 1000.0 if us is not None else None
        elif part == "subgraph":
            continue
        elif section == "Run Order" and (m := _ROW[with_start].match(ln)):
            kind, _, first, avg, _, _, _, calls, name = m.groups()
            kind, calls = kind.strip(), int(calls)
            idx = _NODE_INDEX.search(name)
            inside = part == "delegate" or name.startswith("Delegate/")
            node = None if inside else int(idx.group(1)) if idx else len(rows[part])  # no index: the run order
            rows[part].append({"node": node, "op": kind,
                               "name": name[: idx.start()] if idx else name, "ms": float(avg) * max(calls, 1),
                               "first_ms": float(first), "calls": calls,
                               "delegated": inside or bool(_DELEGATE_KERNEL.search(kind))})
        elif section == "Summary by node type" and part == "graph" and (m := _TYPE_ROW.match(ln)):
            types[m.group(1).strip()] = {"count": int(m.group(2)), "timed": int(m.group(2)), "ms": float(m.group(3))}
    ops = rows["graph"] + rows["delegate"]
    if any(r["delegated"] and not _DELEGATE_KERNEL.search(r["op"]) for r in ops):
        # the delegate's own operators are there: they replace its node(s) in the graph
        ops = [r for r in ops if not _DELEGATE_KERNEL.search(r["op"])]
    if not ops and not types:
        return None
    if ops:  # the types from the op rows (the summary's figures are truncated to whole microseconds)
        types = {}
        for r in ops:
            t = types.setdefault(r["op"], {"count": 0, "timed": 0, "ms": 0.0})
            t["count"] += 1
            t["timed"] += 1
            t["ms"] += r["ms"]
    total = sum(t["ms"] for t in types.values())
    for r in ops:
        r["share"] = r["ms"] / total if total > 0 else None
    for t in types.values():
        t["share"] = t["ms"] / total if total > 0 else None
    return {
        "method": "benchmark_model --enable_op_profiling=true: ops timed inside the whole model, in a separate profiled run",
        "top_ops": sorted(ops, key=lambda r: -r["ms"])[: max(int(top), 0)],
        "by_type": dict(sorted(types.items(), key=lambda kv: -kv[1]["ms"])),
        "sum_ms": total,
        "op_count": len(ops) if ops else sum(t["count"] for t in types.values()),
        "model_ms": model_ms,
        "profiled_runs": runs,
    }


class AdbDevice:
    """An Android phone behind ``adb`` (``serial`` picks one of several)."""

    name = "adb"

    def __init__(self, benchmark_model_path: str, serial: str | None = None, adb: str = "adb",
                 remote_dir: str = "/data/local/tmp/maikit", delegate: str = "xnnpack", timeout_s: float = 900.0):
        if delegate not in DELEGATES:
            raise MaikitError(f"`delegate` must be one of {', '.join(DELEGATES)}, got {delegate!r}")
        self.binary = Path(benchmark_model_path)
        self.serial, self.adb, self.remote_dir = serial, adb, remote_dir.rstrip("/")
        self.delegate, self.timeout_s = delegate, float(timeout_s)
        self._binary_pushed = False
        self.cancel = None  # a threading.Event that stops the running command (here and on the phone)

    def _adb(self, *args: str, timeout: float | None = None, on_stop=None) -> subprocess.CompletedProcess:
        cmd = [self.adb] + (["-s", self.serial] if self.serial else []) + list(args)
        try:
            p = run_command(cmd, timeout or self.timeout_s, cancel=self.cancel, on_stop=on_stop)
        except FileNotFoundError:
            raise DeviceUnavailable(f"`{self.adb}` not found: install Android platform-tools") from None
        except subprocess.TimeoutExpired:
            raise ModelFault("timeout", f"adb {args[0]} went past {timeout or self.timeout_s:g} s") from None
        return p

    def _shell(self, command: str, timeout: float | None = None) -> subprocess.CompletedProcess:
        return self._adb("shell", command, timeout=timeout)

    @property
    def _pid_file(self) -> str:
        return f"{self.remote_dir}/run.pid"

    def _run_on_phone(self, command: str) -> subprocess.CompletedProcess:
        """A long command on the phone, stoppable: its shell writes its pid, then becomes it."""
        pid = shlex.quote(self._pid_file)
        return self._adb("shell", f"echo $$ > {pid} && exec {command} 2>&1", on_stop=self._kill_on_phone)

    def _kill_on_phone(self) -> None:
        """Stop the command :meth:`_run_on_phone` started (killing the local adb leaves it running there)."""
        pid = shlex.quote(self._pid_file)
        # only a benchmark_model: the file may be a finished run's, its pid reused since
        cmd = [self.adb] + (["-s", self.serial] if self.serial else []) + [
            "shell", f"p=$(cat {pid} 2>/dev/null) && grep -q benchmark_model /proc/$p/cmdline 2>/dev/null "
                     f"&& kill -9 $p; rm -f {pid}"]
        try:
            subprocess.run(cmd, capture_output=True, timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            pass  # the phone is gone: nothing left to stop there

    def _push(self, local: Path, remote: str) -> None:
        p = self._adb("push", str(local), remote, timeout=120)
        if p.returncode != 0:
            raise DeviceUnavailable(f"adb push {local.name} failed: {(p.stderr or p.stdout).strip()[:200]}")

    def _prop(self, name: str) -> str | None:
        p = self._shell(f"getprop {name}", timeout=30)
        v = p.stdout.strip()
        return v or None

    def fingerprint(self) -> dict:
        cat = lambda f: (self._shell(f"cat {f} 2>/dev/null", timeout=30).stdout.strip() or None)  # noqa: E731
        temp = cat("/sys/class/thermal/thermal_zone0/temp")
        return {
            "model": " ".join(v for v in (self._prop("ro.product.manufacturer"), self._prop("ro.product.model")) if v) or None,
            "soc": self._prop("ro.soc.model") or self._prop("ro.board.platform") or self._prop("ro.hardware"),
            "os": f"Android {self._prop('ro.build.version.release') or '?'} (SDK {self._prop('ro.build.version.sdk') or '?'})",
            "runtime": "benchmark_model",
            "runtime_version": self.binary.name,
            "delegate": self.delegate,
            "governor": cat("/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor"),
            "temperatures": [{"zone": "thermal_zone0", "celsius": int(temp) / 1000.0}] if temp and temp.lstrip("-").isdigit() else [],
        }

    def health(self) -> dict:
        p = self._adb("get-state", timeout=30)
        if p.returncode != 0 or p.stdout.strip() != "device":
            return {"ok": False, "reason": f"adb get-state: {(p.stderr or p.stdout).strip()[:200] or 'no device'}"}
        return {"ok": True}

    def command(self, remote_model: str, protocol: MeasureProtocol, profile: bool = False) -> str:
        flags = [
            f"--graph={remote_model}", f"--num_threads={protocol.threads}",
            f"--warmup_runs={protocol.warmup_runs}", f"--warmup_min_secs={protocol.warmup_seconds:g}",
            f"--num_runs={protocol.runs}", f"--min_secs={protocol.min_seconds:g}", f"--max_secs={protocol.max_seconds:g}",
            f"--use_xnnpack={'true' if self.delegate == 'xnnpack' else 'false'}",
        ]
        if self.delegate == "gpu":
            flags.append("--use_gpu=true")
        if self.delegate == "nnapi":
            flags.append("--use_nnapi=true")
        if protocol.shape:
            flags.append("--input_layer_shape=" + ",".join(str(v) for v in protocol.shape))
        if profile:
            flags.append("--enable_op_profiling=true")
        return " ".join([shlex.quote(f"{self.remote_dir}/benchmark_model")] + [shlex.quote(f) for f in flags])

    def _upload(self, path: Path) -> str:
        """The binary (once per backend) and the model on the phone; the model's remote path."""
        if not path.is_file():
            raise MaikitError("file not found", path)
        if not self.binary.is_file():
            raise DeviceUnavailable(f"benchmark_model binary not found: {self.binary}")
        self._shell(f"mkdir -p {shlex.quote(self.remote_dir)}", timeout=30)
        if not self._binary_pushed:
            self._push(self.binary, f"{self.remote_dir}/benchmark_model")
            self._shell(f"chmod 755 {shlex.quote(self.remote_dir + '/benchmark_model')}", timeout=30)
            self._binary_pushed = True
        remote_model = f"{self.remote_dir}/model.tflite"
        self._push(path, remote_model)
        return remote_model

    def _run(self, path: Path, protocol: MeasureProtocol, profile: bool = False) -> tuple[dict, str]:
        remote_model = self._upload(path)
        p = self._run_on_phone(self.command(remote_model, protocol, profile))
        text = p.stdout + p.stderr
        parsed = parse_benchmark_output(text)
        if parsed["fault"]:
            f = parsed["fault"]
            raise ModelFault(f["kind"], f["reason"], path, f["details"])
        return parsed, text

    def profile(self, path, protocol: MeasureProtocol = MeasureProtocol(), top: int = 10) -> dict:
        """The per-op profile from a second, short run with ``--enable_op_profiling=true``: one
        warm-up run, then the phase's runs capped at 20 (no minimum seconds), same threads,
        delegate and input shape as the timed run."""
        from dataclasses import replace

        short = replace(protocol, warmup_runs=1, warmup_seconds=0.0, runs=min(protocol.runs, 20), min_seconds=0.0,
                        statistic="avg")
        parsed, text = self._run(Path(path), short, profile=True)
        prof = parse_op_profile(text, top)
        if prof is None:
            raise ProfileUnavailable("benchmark_model printed no operator table with --enable_op_profiling=true")
        prof["delegate"] = self.delegate
        return prof

    def measure(self, path, protocol: MeasureProtocol = MeasureProtocol()) -> dict:
        path = Path(path)
        if not path.is_file():
            raise MaikitError("file not found", path)
        if protocol.statistic not in ("avg", "min"):
            raise MaikitError(f"benchmark_model reports avg and min only, not {protocol.statistic!r}")
        parsed, _ = self._run(path, protocol)
        inf = parsed["inference"]
        stats = {"avg_ms": inf.get("avg_ms"), "std_ms": inf.get("std_ms"), "min_ms": inf.get("min_ms"),
                 "max_ms": inf.get("max_ms"), "p50_ms": inf.get("median_ms"), "p90_ms": None}
        cv = stats["std_ms"] / stats["avg_ms"] if stats["avg_ms"] and stats["std_ms"] is not None else None
        fp = self.fingerprint()
        return {
            "backend": self.name,
            "value_ms": stats[f"{protocol.statistic}_ms"],
            "statistic": protocol.statistic,
            "samples_ms": None,
            "stats": stats,
            "runs": inf["count"],
            "cv": cv,
            "init_ms": parsed["init_ms"],
            "first_ms": parsed["first_ms"],
            "warmup_runs": parsed["warmup"]["count"] if parsed["warmup"] else None,
            "warmup_avg_ms": parsed["warmup"]["avg_ms"] if parsed["warmup"] else None,
            "memory_mb": parsed["memory_peak_mb"] or parsed["memory_overall_mb"],
            "stopped_by": None,
            "fingerprint": fp,
            "protocol": protocol.to_dict(),
            "delegate": {"name": parsed["delegate"], "coverage": parsed["delegate_coverage"], "gpu_rejected": parsed["gpu_rejected"]},
            "notes": ["benchmark_model reports aggregates only: no per-run samples"],
        }
