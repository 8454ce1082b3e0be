"""Runtime jobs on a device backend (``mai worker --backend ...``).

The worker's loop (``loop.py``) hands runtime jobs here when it was started with a device
backend: the phase's protocol becomes a :class:`~maikit.runtime.devices.MeasureProtocol`
(dynamic files run at the task's latency shape), the device is held exclusively with its
cool-down (:class:`~maikit.runtime.drift.DeviceGuard`), the model is measured with drift
control when the device has a calibration (``mai device calibrate --name <device tag>``),
and the result carries the raw samples, the device fingerprint, the drift figures, the
per-op profile (a separate pass after the timed run: each op timed alone on ``litert-cpu``
and on an ``ssh`` board, benchmark_model's op profiler on an ``adb`` phone; on
``litert-gpu`` None with ``op_profile_note`` saying why) and the op-compatibility findings
for the phase's target plus what the device's delegate itself decided (``source:
"delegate"``). Everything that parses or runs the model does so in a child process with the
job's limits; a cancel stops it, here or on the device.
"""

from __future__ import annotations

import os
from pathlib import Path

from maikit.errors import MaikitError
from maikit.runtime.devices import ChildLimits, DeviceUnavailable, MeasureProtocol, ModelFault, get_backend
from maikit.runtime.devices.base import Cancelled, delegate_findings, profile_or_note, run_child
from maikit.runtime.drift import DeviceGuard, DriftPolicy, default_state_dir, load_baseline, measure_with_drift
from maikit.tflite.runner import delegate_not_applied


class DeviceRunner:
    def __init__(self, backend: str = "litert-cpu", options: dict | None = None, device: str = "litert-cpu",
                 state_dir: str | os.PathLike | None = None, policy: DriftPolicy = DriftPolicy(),
                 cooldown_s: float = 0.0, per_op_top: int = 10):
        self.backend_name, self.options = backend, dict(options or {})
        self.device = device
        self.state_dir = Path(state_dir) if state_dir else default_state_dir()
        self.policy, self.per_op_top = policy, int(per_op_top)
        self.backend = get_backend(backend, **self.options)
        self.guard = DeviceGuard(device, state_dir=self.state_dir, cooldown_s=cooldown_s)

    @property
    def baseline_path(self) -> Path:
        return self.state_dir / f"{self.device}.json"

    def health(self) -> dict:
        return self.guard.check_health(self.backend)

    def fingerprint(self) -> dict:
        try:
            return {**self.backend.fingerprint(), "backend": self.backend_name, "device": self.device}
        except (DeviceUnavailable, ModelFault, OSError) as e:
            return {"backend": self.backend_name, "device": self.device, "error": str(e)}

    def _protocol(self, job: dict, file: Path) -> tuple[MeasureProtocol, list[str]]:
        """The phase's protocol for this file, and warnings for the result (a fixed-shape file
        measured at a shape that is not the task's latency shape, as ``maikit.eval`` says)."""
        from maikit.runtime.devices._litert import input_signature
        from maikit.tasks import get_task

        p = job.get("protocol") or {}
        shape, warnings = None, []
        sig = input_signature(file)
        lat = list(p.get("input_shape") or get_task(job["task"]).latency_input_shape)  # the phase's timed shape
        in_layout = lat if (len(sig) == 4 and sig[3] == lat[3]) else [lat[0], lat[3], lat[1], lat[2]]
        if min(sig) < 0:
            shape = in_layout
        elif list(sig) != in_layout:
            warnings.append(f"runtime measured at the file's shape {list(sig)}, not the challenge's {in_layout}")
        return MeasureProtocol(threads=int(p.get("threads", 2)), warmup_runs=int(p.get("warmup_runs", 1)),
                               warmup_seconds=float(p.get("warmup_seconds", 0.5)), runs=int(p.get("min_runs", 50)),
                               min_seconds=float(p.get("min_seconds", 1.0)), max_seconds=float(p.get("max_seconds", 150.0)),
                               statistic=p.get("statistic", "avg"), shape=shape), warnings

    def policy_for(self, job: dict) -> DriftPolicy:
        """The phase's drift settings where its protocol has them (``drift``), else this
        worker's own (``--drift-tolerance`` and the rest)."""
        from dataclasses import replace

        d = (job.get("protocol") or {}).get("drift")
        if not d:
            return self.policy
        return replace(self.policy, **{k: d[k] for k in ("tolerance", "cv_tolerance", "max_attempts") if k in d})

    def run(self, job: dict, file: Path, limits, cancel=None, log=lambda text: None) -> dict:
        """One runtime job: the body the worker posts (``{"ok": ..., "result"|"reason", "fault"}``)."""
        child = ChildLimits(memory_mb=int(limits.memory_mb), cpu_seconds=int(limits.cpu_s), wall_seconds=float(limits.wall_s))
        if hasattr(self.backend, "limits"):
            self.backend.limits = child
        self.backend.cancel = cancel
        try:
            protocol, warnings = self._protocol(job, file)
            with self.guard.job():
                if self.baseline_path.is_file():
                    baseline = load_baseline(self.baseline_path)
                    policy = self.policy_for(job)
                    r = measure_with_drift(self.backend, file, protocol, baseline, policy)
                    d = r["drift"]
                    d["max_attempts"] = policy.max_attempts
                    d["policy_from"] = "phase" if policy is not self.policy else "worker"
                    log(f"[runtime] {self.backend_name}: {r['value_ms']:.3f} ms, reference drift {d['drift']:.1%} "
                        f"in {len(d['attempts'])} attempt(s){'' if d['ok'] else ' (FLAGGED)'}")
                else:
                    r = self.backend.measure(file, protocol)
                    r["drift"] = None
                    r.setdefault("notes", []).append(f"device `{self.device}` has no calibration: no drift control "
                                                     f"(run `mai device calibrate --name {self.device}`)")
                    log(f"[runtime] {self.backend_name}: {r['value_ms']:.3f} ms (no drift control: not calibrated)")
            result = {**r.pop("stats"), **r}
            if (flag := delegate_not_applied(result.get("delegate"))) is not None:
                warnings.append(flag)
                log(f"[runtime] FLAGGED: {flag}")
            result["warnings"] = warnings
            if "input_shape" not in result:  # the shape timed: the phase's for a dynamic file, else the file's
                from maikit.runtime.devices._litert import input_signature

                result["input_shape"] = list(protocol.shape) if protocol.shape else list(input_signature(file))
            result["findings"] = self._findings(job, file, child, cancel) + delegate_findings(result)
            if self.per_op_top > 0:
                result.update(profile_or_note(self.backend, file, protocol, self.per_op_top))
            else:
                result.update(op_profile=None, op_profile_note="no per-op profile: the worker runs with --per-op-top 0")
            result["fingerprint"] = {**(result.get("fingerprint") or {}), "backend": self.backend_name, "device": self.device}
            return {"ok": True, "result": result}
        except Cancelled:
            return {"ok": False, "reason": "cancelled", "fault": "infrastructure"}
        except ModelFault as e:
            return {"ok": False, "reason": f"{e.reason} [{e.kind}]", "fault": "model"}
        except DeviceUnavailable as e:
            return {"ok": False, "reason": f"device unavailable: {e}", "fault": "infrastructure"}
        except MaikitError as e:
            return {"ok": False, "reason": str(e), "fault": "model"}
        finally:
            self.backend.cancel = None

    def _findings(self, job: dict, file: Path, limits: ChildLimits, cancel) -> list[dict]:
        target = (job.get("protocol") or {}).get("target", "cpu")
        reply, _ = run_child({"action": "inspect", "file": str(file), "target": target}, limits, file=file, cancel=cancel)
        return reply["findings"]


class JsonLogFormatter:
    """``mai worker --json-log``: one JSON object per log record (time, level, logger, message)."""

    def format(self, record) -> str:
        import json
        import time

        return json.dumps({"time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(record.created)),
                           "level": record.levelname.lower(), "logger": record.name, "message": record.getMessage()})
