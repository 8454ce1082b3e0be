"""Drift control, calibration and device exclusivity, with a scripted device (injected
timings: deterministic) and one real calibration on this CPU."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from maikit.errors import MaikitError
from maikit.runtime.devices import MeasureProtocol
from maikit.runtime.devices.reference import reference_model
from maikit.runtime.drift import DeviceGuard, DriftPolicy, calibrate, load_baseline, measure_with_drift


class ScriptedDevice:
    """A device whose measurements are given in advance: reference times and job results in
    the order they are asked for (a timer injected into the drift logic)."""

    name = "scripted"

    def __init__(self, reference_ms, jobs):
        self.reference_ms, self.jobs = list(reference_ms), list(jobs)
        self.calls = []

    def measure(self, path, protocol):
        is_ref = str(path) == str(reference_model())
        self.calls.append("ref" if is_ref else "job")
        if is_ref:
            return {"value_ms": self.reference_ms.pop(0)}
        value, cv = self.jobs.pop(0)
        return {"value_ms": value, "cv": cv, "notes": []}

    def fingerprint(self):
        return {"cpu": "scripted"}

    def health(self):
        return {"ok": True}


BASE = {"baseline_ms": 100.0, "reference": "isp/smallnet"}
P = MeasureProtocol()


def test_clean_run_is_measured_once_with_its_drift_figure():
    dev = ScriptedDevice([101.0, 98.0], [(50.0, 0.01)])
    r = measure_with_drift(dev, "m.tflite", P, BASE, DriftPolicy(tolerance=0.05))
    assert dev.calls == ["ref", "job", "ref"]
    assert r["value_ms"] == 50.0 and r["drift"]["ok"] and r["drift"]["drift"] == pytest.approx(0.02)
    assert len(r["drift"]["attempts"]) == 1


def test_drift_repeats_until_clean_after_cooldown():
    sleeps = []
    # attempt 1: the device slowed down 2x during the job (a busy neighbour); attempt 2 clean
    dev = ScriptedDevice([100.0, 200.0, 101.0, 100.0], [(95.0, 0.02), (50.0, 0.02)])
    r = measure_with_drift(dev, "m.tflite", P, BASE, DriftPolicy(tolerance=0.05, cooldown_s=7.0), sleep=sleeps.append)
    assert r["value_ms"] == 50.0 and r["drift"]["ok"] and r["drift"]["reported_attempt"] == 2
    assert [a["ok"] for a in r["drift"]["attempts"]] == [False, True]
    assert "drifted 100.0%" in r["drift"]["attempts"][0]["reasons"][0]
    assert sleeps == [7.0]


def test_high_cv_repeats_and_persistent_drift_is_flagged_never_silent():
    dev = ScriptedDevice([100.0, 100.0, 130.0, 140.0, 120.0, 125.0], [(60.0, 0.30), (90.0, 0.01), (80.0, 0.01)])
    r = measure_with_drift(dev, "m.tflite", P, BASE, DriftPolicy(tolerance=0.05, cv_tolerance=0.05, max_attempts=3))
    a = r["drift"]["attempts"]
    assert [x["ok"] for x in a] == [False, False, False]
    assert "coefficient of variation 30.0%" in a[0]["reasons"][0]
    # the least-drifted attempt is reported, and flagged
    assert not r["drift"]["ok"] and r["drift"]["reported_attempt"] == 1 and r["value_ms"] == 60.0
    assert any("no clean measurement in 3 attempts" in n for n in r["notes"])


def test_calibration_takes_the_median_and_is_stored(tmp_path):
    dev = ScriptedDevice([10.0, 30.0, 11.0, 12.0, 10.5], [])
    b = calibrate(dev, n=5, store=tmp_path / "d.json", device_name="pi4-a")
    assert b["baseline_ms"] == 11.0 and b["values_ms"] == [10.0, 30.0, 11.0, 12.0, 10.5]
    assert b["spread"] == pytest.approx(20.0 / 11.0) and b["device"] == "pi4-a" and not b["stable"]
    assert calibrate(ScriptedDevice([10.0, 10.4, 10.2], []), n=3)["stable"]
    assert load_baseline(tmp_path / "d.json")["baseline_ms"] == 11.0
    with pytest.raises(MaikitError, match="mai device calibrate"):
        load_baseline(tmp_path / "missing.json")


def test_guard_waits_out_the_cooldown_from_the_previous_job(tmp_path):
    now = [1000.0]
    slept = []

    def sleep(s):
        slept.append(s)
        now[0] += s

    g = DeviceGuard("pi", state_dir=tmp_path, cooldown_s=30.0, clock=lambda: now[0], sleep=sleep)
    with g.job():
        now[0] += 5.0
    assert slept == []
    now[0] += 10.0  # 10 s after the job ended
    with g.job():
        pass
    assert slept == [pytest.approx(20.0)]


def test_guard_is_exclusive_across_processes(tmp_path):
    g = DeviceGuard("phone", state_dir=tmp_path, lock_timeout_s=1.0, sleep=lambda s: None)
    code = ("import fcntl, sys, time; f = open(sys.argv[1], 'a'); fcntl.flock(f, fcntl.LOCK_EX); "
            "print('locked', flush=True); sys.stdin.readline()")
    tmp_path.mkdir(exist_ok=True)
    holder = subprocess.Popen([sys.executable, "-c", code, str(g.lock_path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(MaikitError, match="busy"):
            with g.job():
                pass
    finally:
        holder.stdin.write("\n")
        holder.stdin.flush()
        holder.wait(timeout=30)
    with g.job():  # free again
        pass


def test_real_calibration_on_this_cpu(tmp_path):
    r = subprocess.run([sys.executable, "-m", "maikit.runtime.devices", "calibrate", "--name", "ci-cpu", "--count", "2",
                        "--state", str(tmp_path), "--json"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    b = json.loads(r.stdout)
    assert b["baseline_ms"] > 0 and len(b["values_ms"]) == 2 and b["reference"] == "isp/smallnet"
    assert load_baseline(tmp_path / "ci-cpu.json")["baseline_ms"] == b["baseline_ms"]
