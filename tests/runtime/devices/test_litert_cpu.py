"""`litert-cpu`: the protocol applied as `mai bench` applies it, raw samples, fingerprint,
child-process limits, and no PyTorch on the way."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from maikit.runtime.devices import ChildLimits, MeasureProtocol, ModelFault, get_backend


def test_samples_statistic_and_protocol(smallnet_file):
    p = MeasureProtocol(threads=1, runs=12, min_seconds=0.0, warmup_runs=3, warmup_seconds=0.0, statistic="p90")
    r = get_backend("litert-cpu").measure(smallnet_file, p)
    s = np.asarray(r["samples_ms"])
    assert r["runs"] == len(s) == 12 and r["warmup_runs"] == 3
    assert r["value_ms"] == pytest.approx(np.percentile(s, 90))
    assert r["stats"]["avg_ms"] == pytest.approx(s.mean()) and r["cv"] == pytest.approx(s.std() / s.mean())
    assert r["protocol"]["threads"] == 1 and r["fingerprint"]["runtime"] == "LiteRT"
    assert r["fingerprint"]["cpu_count"] == os.cpu_count()


def test_junk_file_is_a_model_fault(tmp_path):
    junk = tmp_path / "junk.tflite"
    junk.write_bytes(b"\x00" * 64)
    with pytest.raises(ModelFault) as e:
        get_backend("litert-cpu").measure(junk, MeasureProtocol(runs=1, min_seconds=0.0))
    assert e.value.kind == "not_a_model"


def test_wall_clock_limit_stops_the_child(smallnet_file):
    dev = get_backend("litert-cpu", limits=ChildLimits(wall_seconds=3))
    with pytest.raises(ModelFault) as e:
        dev.measure(smallnet_file, MeasureProtocol(runs=1, min_seconds=120.0, max_seconds=150.0))
    assert e.value.kind == "timeout"


def test_evaluator_runs_without_torch(smallnet_file, tmp_path):
    """`python -m maikit.runtime.devices measure --json --per-op` (what the ssh backend runs on a
    board) works with torch made unimportable, in the evaluator and in its measuring children
    (a `torch` package first on their path that refuses to import)."""
    (tmp_path / "torch").mkdir()
    (tmp_path / "torch" / "__init__.py").write_text("raise ImportError('no torch on this board')\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(tmp_path), os.environ.get("PYTHONPATH")]))}
    code = ("import sys, runpy; sys.modules['torch'] = None; sys.argv = ['x'] + sys.argv[1:]; "
            "runpy.run_module('maikit.runtime.devices', run_name='__main__')")
    r = subprocess.run([sys.executable, "-c", code, "measure", str(smallnet_file), "--json", "--runs", "3",
                        "--min-seconds", "0", "--threads", "1", "--per-op", "--top", "2"],
                       capture_output=True, text=True, timeout=300, env=env)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["runs"] == 3 and out["backend"] == "litert-cpu"
    prof = out["op_profile"]
    assert out["op_profile_note"] is None and len(prof["top_ops"]) == 2 and prof["top_ops"][0]["ms"] > 0


def _evaluator(*args, stdin=None):
    return subprocess.run([sys.executable, "-m", "maikit.runtime.devices", "measure", *map(str, args)], stdin=stdin,
                          capture_output=True, text=True, timeout=300)


def test_a_dynamic_file_has_no_per_op_profile_and_says_why(dynamic_file):
    r = _evaluator(dynamic_file, "--json", "--runs", "1", "--min-seconds", "0", "--shape", "1x24x32x3", "--per-op")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["runs"] == 1 and out["op_profile"] is None and "dynamic input shape" in out["op_profile_note"]


def test_stop_on_eof_stops_the_run_when_stdin_ends(smallnet_file):
    """What the ssh backend relies on: the evaluator stops (and kills its child) when its stdin,
    the SSH channel, ends; here stdin is empty from the start, and the run would take minutes."""
    r = _evaluator(smallnet_file, "--json", "--runs", "1", "--min-seconds", "250", "--max-seconds", "280",
                   "--stop-on-eof", stdin=subprocess.DEVNULL)
    assert r.returncode == 2 and json.loads(r.stdout) == {"error": {"kind": "cancelled", "reason": "stopped: stdin ended"}}


def test_cancel_stops_the_child(smallnet_file):
    """A cancelled job (the worker's heartbeat was told so) kills the measuring child."""
    import threading

    from maikit.runtime.devices.base import Cancelled

    dev = get_backend("litert-cpu", limits=ChildLimits(wall_seconds=300))
    dev.cancel = threading.Event()
    threading.Timer(1.0, dev.cancel.set).start()
    with pytest.raises(Cancelled):
        dev.measure(smallnet_file, MeasureProtocol(runs=1, min_seconds=250.0, max_seconds=280.0))


def test_a_series_in_one_child_measures_each_item_with_its_protocol(smallnet_file, tmp_path):
    """What drift control uses: reference, submission, reference in one child; each result as
    ``measure`` gives it, in order, and the child started once."""
    from unittest import mock

    import maikit.runtime.devices.litert_cpu as lc

    fast = MeasureProtocol(threads=1, runs=3, min_seconds=0.0, warmup_runs=0, warmup_seconds=0.0, statistic="min")
    slow = MeasureProtocol(threads=1, runs=5, min_seconds=0.0, warmup_runs=1, warmup_seconds=0.0, statistic="p50")
    dev = get_backend("litert-cpu")
    with mock.patch.object(lc, "run_child", wraps=lc.run_child) as spy:
        out = dev.measure_series([(smallnet_file, fast), (smallnet_file, slow), (smallnet_file, fast)])
    assert spy.call_count == 1
    assert [r["runs"] for r in out] == [3, 5, 3] and [r["warmup_runs"] for r in out] == [0, 1, 0]
    assert out[1]["value_ms"] == pytest.approx(np.median(out[1]["samples_ms"]))
    assert out[0]["value_ms"] == pytest.approx(min(out[0]["samples_ms"]))
    junk = tmp_path / "junk.tflite"
    junk.write_bytes(b"\x00" * 64)
    with pytest.raises(ModelFault) as e:
        dev.measure_series([(smallnet_file, fast), (junk, fast), (smallnet_file, fast)])
    assert e.value.kind == "not_a_model" and e.value.details["item"] == 1 and str(e.value.file) == str(junk)


def test_drift_control_blames_the_submission_or_the_reference_for_what_failed(smallnet_file, tmp_path):
    from maikit.runtime.devices import DeviceUnavailable
    from maikit.runtime.drift import DriftPolicy, measure_with_drift

    dev = get_backend("litert-cpu")
    fast = MeasureProtocol(threads=1, runs=2, min_seconds=0.0, warmup_runs=0, warmup_seconds=0.0)
    junk = tmp_path / "junk.tflite"
    junk.write_bytes(b"\x00" * 64)
    base = {"baseline_ms": 1.0, "reference": str(smallnet_file), "protocol": fast.to_dict()}
    r = measure_with_drift(dev, smallnet_file, fast, base, DriftPolicy(tolerance=1e6, cv_tolerance=1e6))
    d = r["drift"]
    assert r["runs"] == 2 and d["ok"] and d["reference_before_ms"] > 0 and d["reference_after_ms"] > 0
    with pytest.raises(ModelFault) as e:  # the submission's fault
        measure_with_drift(dev, junk, fast, base, DriftPolicy())
    assert e.value.kind == "not_a_model" and "item" not in e.value.details
    with pytest.raises(DeviceUnavailable, match="the drift reference failed on this device"):  # the device's
        measure_with_drift(dev, smallnet_file, fast, dict(base, reference=str(junk)), DriftPolicy())
