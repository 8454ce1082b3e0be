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
"""

from __future__ import annotations

import re
import shlex
import subprocess
from pathlib import Path

from maikit.errors import MaikitError
from maikit.runtime.devices.base import DeviceUnavailable, MeasureProtocol, ModelFault

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

    def _adb(self, *args: str, timeout: float | None = None) -> subprocess.CompletedProcess:
        cmd = [self.adb] + (["-s", self.serial] if self.serial else []) + list(args)
        try:
            p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout or self.timeout_s)
        except FileNotFoundError:
            raise DeviceUnavailable(f"`{self.adb}` not found: install Android platform-tools") from None
        except subprocess.TimeoutExpired:
            raise ModelFault("timeout", f"adb {args[0]} went past {timeout or self.timeout_s:g} s") from None
        return p

    def _shell(self, command: str, timeout: float | None = None) -> subprocess.CompletedProcess:
        return self._adb("shell", command, timeout=timeout)

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

    def command(self, remote_model: str, protocol: MeasureProtocol) -> str:
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
        return " ".join([shlex.quote(f"{self.remote_dir}/benchmark_model")] + [shlex.quote(f) for f in flags])

    def measure(self, path, protocol: MeasureProtocol = MeasureProtocol()) -> dict:
        path = Path(path)
        if not path.is_file():
            raise MaikitError("file not found", path)
        if protocol.statistic not in ("avg", "min"):
            raise MaikitError(f"benchmark_model reports avg and min only, not {protocol.statistic!r}")
        if not self.binary.is_file():
            raise DeviceUnavailable(f"benchmark_model binary not found: {self.binary}")
        self._shell(f"mkdir -p {shlex.quote(self.remote_dir)}", timeout=30)
        if not self._binary_pushed:
            self._push(self.binary, f"{self.remote_dir}/benchmark_model")
            self._shell(f"chmod 755 {shlex.quote(self.remote_dir + '/benchmark_model')}", timeout=30)
            self._binary_pushed = True
        remote_model = f"{self.remote_dir}/model.tflite"
        self._push(path, remote_model)
        p = self._shell(self.command(remote_model, protocol) + " 2>&1")
        parsed = parse_benchmark_output(p.stdout + p.stderr)
        if parsed["fault"]:
            f = parsed["fault"]
            raise ModelFault(f["kind"], f["reason"], path, f["details"])
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
