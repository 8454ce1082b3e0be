"""Runtime measurement you can trust: drift control, calibration, device exclusivity.

* **Calibration** (``mai device calibrate``): a reference model (default ``isp/smallnet`` at
  the ISP latency shape, shipped as .tflite) is measured N times on the device; the median
  is the baseline, stored as JSON with its spread, the device fingerprint and the protocol.
* **Drift control** (:func:`measure_with_drift`): the reference is timed before and after
  every measurement. If either time is more than the phase's ``tolerance`` (relative) away
  from the baseline, or the measurement's coefficient of variation is above
  ``cv_tolerance``, the measurement is repeated (after the cool-down), up to
  ``max_attempts`` times. The result carries the drift figures of every attempt; when no
  attempt was clean it is flagged (``drift.ok = false``) and the attempt with the least
  drift is reported, never silently.
* **Exclusivity** (:class:`DeviceGuard`): one job at a time per device (an ``flock`` on a
  lock file, so also across processes), a cool-down between jobs, a health check.

Timers and sleeps are injectable (``clock``, ``sleep``) so that tests are deterministic.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import statistics
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

from maikit.errors import MaikitError
from maikit.runtime.devices.base import MeasureProtocol

# The reference is short and timed often: fewer runs than a submission, same rules.
REFERENCE_PROTOCOL = MeasureProtocol(runs=10, min_seconds=0.5, max_seconds=30.0, warmup_runs=1, warmup_seconds=0.2,
                                     statistic="p50")


@dataclass(frozen=True)
class DriftPolicy:
    tolerance: float = 0.10  # |reference - baseline| / baseline allowed before and after
    cv_tolerance: float = 0.10  # coefficient of variation allowed in the measurement's samples
    max_attempts: int = 3
    cooldown_s: float = 0.0  # between attempts and between jobs
    reference: str = "isp/smallnet"

    def __post_init__(self) -> None:
        if self.tolerance <= 0 or self.cv_tolerance <= 0:
            raise MaikitError("drift `tolerance` and `cv_tolerance` must be positive")
        if self.max_attempts < 1:
            raise MaikitError(f"`max_attempts` must be at least 1, got {self.max_attempts}")
        if self.cooldown_s < 0:
            raise MaikitError(f"`cooldown_s` must be non-negative, got {self.cooldown_s}")


def state_home() -> Path:
    """maikit's state on this machine: ``$MAIKIT_STATE``, else ``$XDG_STATE_HOME/maikit`` (``~/.local/state/maikit``)."""
    base = os.environ.get("MAIKIT_STATE") or os.path.join(os.environ.get("XDG_STATE_HOME", os.path.expanduser("~/.local/state")), "maikit")
    return Path(base)


def default_state_dir() -> Path:
    return state_home() / "devices"


def _sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def calibrate(device, n: int = 5, reference: str | None = None, protocol: MeasureProtocol = REFERENCE_PROTOCOL,
              store: str | os.PathLike | None = None, device_name: str | None = None, max_spread: float = 0.10) -> dict:
    """Measure the reference ``n`` times on ``device``; the median is the baseline.

    ``stable`` says whether the spread (max - min) / median stayed within ``max_spread``: a
    baseline taken on a busy device makes every later check drift, so calibrate on the idle
    device. Written to ``store`` (a .json path) atomically when given.
    """
    from maikit.runtime.devices.reference import reference_model

    if n < 1:
        raise MaikitError(f"calibration needs at least 1 run, got {n}")
    ref = reference_model(reference)
    values = [float(device.measure(ref, protocol)["value_ms"]) for _ in range(n)]
    med = statistics.median(values)
    baseline = {
        "device": device_name or getattr(device, "name", "device"),
        "backend": getattr(device, "name", None),
        "reference": reference or DriftPolicy().reference,
        "reference_sha256": _sha256(ref),
        "baseline_ms": med,
        "values_ms": values,
        "spread": (max(values) - min(values)) / med if med > 0 else None,
        "stable": med > 0 and (max(values) - min(values)) / med <= max_spread,
        "protocol": protocol.to_dict(),
        "fingerprint": device.fingerprint(),
        "calibrated_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    if store is not None:
        from maikit.io import write_json

        Path(store).parent.mkdir(parents=True, exist_ok=True)
        write_json(store, baseline)
    return baseline


def load_baseline(path: str | os.PathLike) -> dict:
    try:
        b = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise MaikitError("no calibration: run `mai device calibrate` first", path) from None
    except (OSError, json.JSONDecodeError) as e:
        raise MaikitError(f"not a calibration file ({e})", path) from None
    if not isinstance(b, dict) or not isinstance(b.get("baseline_ms"), (int, float)) or b["baseline_ms"] <= 0:
        raise MaikitError("calibration file has no positive `baseline_ms`", path)
    return b


def measure_with_drift(device, path, protocol: MeasureProtocol, baseline: dict, policy: DriftPolicy = DriftPolicy(),
                       sleep: Callable[[float], None] = time.sleep) -> dict:
    """Measure ``path`` with the reference timed before and after; repeat on drift or noise."""
    from maikit.runtime.devices.reference import reference_model

    ref = reference_model(baseline.get("reference") or policy.reference)
    ref_protocol = MeasureProtocol.from_dict(baseline["protocol"]) if baseline.get("protocol") else REFERENCE_PROTOCOL
    base = float(baseline["baseline_ms"])
    attempts, results = [], []
    for attempt in range(1, policy.max_attempts + 1):
        if attempt > 1 and policy.cooldown_s:
            sleep(policy.cooldown_s)
        before, result, after = _timed_between(device, ref, ref_protocol, path, protocol)
        drift = max(abs(before - base), abs(after - base)) / base
        cv = result.get("cv")
        reasons = []
        if drift > policy.tolerance:
            reasons.append(f"reference drifted {drift:.1%} (tolerance {policy.tolerance:.0%})")
        if cv is not None and cv > policy.cv_tolerance:
            reasons.append(f"coefficient of variation {cv:.1%} (tolerance {policy.cv_tolerance:.0%})")
        attempts.append({"attempt": attempt, "reference_before_ms": before, "reference_after_ms": after,
                         "drift": drift, "cv": cv, "value_ms": result["value_ms"], "ok": not reasons, "reasons": reasons})
        results.append(result)
        if not reasons:
            break
    ok = attempts[-1]["ok"]
    pick = len(attempts) - 1 if ok else min(range(len(attempts)), key=lambda i: (attempts[i]["drift"], attempts[i]["cv"] or 0))
    final = dict(results[pick])
    final["drift"] = {
        "ok": ok,
        "baseline_ms": base,
        "reference": baseline.get("reference") or policy.reference,
        "drift": attempts[pick]["drift"],
        "reference_before_ms": attempts[pick]["reference_before_ms"],
        "reference_after_ms": attempts[pick]["reference_after_ms"],
        "tolerance": policy.tolerance,
        "cv_tolerance": policy.cv_tolerance,
        "attempts": attempts,
        "reported_attempt": pick + 1,
    }
    if not ok:
        final.setdefault("notes", []).append(
            f"no clean measurement in {len(attempts)} attempts: " + "; ".join(attempts[pick]["reasons"]))
    return final


def _timed_between(device, ref, ref_protocol: MeasureProtocol, path, protocol: MeasureProtocol) -> tuple[float, dict, float]:
    """The reference's time, the measurement of ``path``, the reference's time again. One
    child for the three where the backend can (``measure_series``), else three measurements.
    A fault of the reference itself (not the submission's) is the device's: DeviceUnavailable."""
    from maikit.runtime.devices.base import DeviceUnavailable, ModelFault

    series = getattr(device, "measure_series", None)
    if series is None:
        before = float(device.measure(ref, ref_protocol)["value_ms"])
        result = device.measure(path, protocol)
        return before, result, float(device.measure(ref, ref_protocol)["value_ms"])
    try:
        r0, result, r1 = series([(ref, ref_protocol), (path, protocol), (ref, ref_protocol)])
    except ModelFault as e:
        if e.details.get("item") in (0, 2):
            raise DeviceUnavailable(f"the drift reference failed on this device: {e.reason}") from None
        e.details.pop("item", None)
        raise
    return float(r0["value_ms"]), result, float(r1["value_ms"])


@dataclass
class DeviceGuard:
    """One job at a time on a device, a cool-down between jobs, and a health check.

    ``with guard.job():`` takes an exclusive lock on ``<state>/<name>.lock`` (blocking up to
    ``lock_timeout_s``) and waits out the cool-down since the previous job ended (stored in
    the lock file, so it holds across processes).
    """

    name: str
    state_dir: Path = field(default_factory=default_state_dir)
    cooldown_s: float = 0.0
    lock_timeout_s: float = 3600.0
    clock: Callable[[], float] = time.time
    sleep: Callable[[float], None] = time.sleep

    def __post_init__(self) -> None:
        self.state_dir = Path(self.state_dir)
        self.healthy: bool | None = None
        self.health_reason: str | None = None

    @property
    def lock_path(self) -> Path:
        return self.state_dir / f"{self.name}.lock"

    def check_health(self, device) -> dict:
        try:
            h = device.health()
        except MaikitError as e:  # an unreachable device or a missing tool
            h = {"ok": False, "reason": str(e)}
        self.healthy, self.health_reason = bool(h.get("ok")), h.get("reason")
        return h

    def job(self):
        guard = self

        class _Job:
            def __enter__(self_inner):
                guard.state_dir.mkdir(parents=True, exist_ok=True)
                self_inner.f = open(guard.lock_path, "a+")
                waited = 0.0
                while True:
                    try:
                        fcntl.flock(self_inner.f, fcntl.LOCK_EX | fcntl.LOCK_NB)
                        break
                    except BlockingIOError:
                        if waited >= guard.lock_timeout_s:
                            self_inner.f.close()
                            raise MaikitError(f"device `{guard.name}` is busy (another job holds {guard.lock_path})") from None
                        guard.sleep(0.5)
                        waited += 0.5
                self_inner.f.seek(0)
                text = self_inner.f.read().strip()
                try:
                    last_end = float(text) if text else None
                except ValueError:
                    last_end = None
                if last_end is not None and guard.cooldown_s > 0:
                    wait = guard.cooldown_s - (guard.clock() - last_end)
                    if wait > 0:
                        guard.sleep(wait)
                return self_inner

            def __exit__(self_inner, *exc):
                self_inner.f.seek(0)
                self_inner.f.truncate()
                self_inner.f.write(repr(guard.clock()))
                self_inner.f.flush()
                fcntl.flock(self_inner.f, fcntl.LOCK_UN)
                self_inner.f.close()

        return _Job()


def policy_dict(policy: DriftPolicy) -> dict:
    return asdict(policy)
