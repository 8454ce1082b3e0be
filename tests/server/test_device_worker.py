"""Runtime jobs through a device backend (`mai worker --backend ...`, and `mai serve`'s
in-process workers): the real server, a fidelity worker and a runtime worker on the
`litert-cpu` backend with drift control."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from platform_testing import challenge_def, wait_for

pytestmark = pytest.mark.parametrize("engine_name", ["sqlite"], indirect=True)


def _calibrate(state, reference, device="litert-cpu"):
    from maikit.runtime.devices import MeasureProtocol, get_backend
    from maikit.runtime.drift import calibrate

    proto = MeasureProtocol(threads=1, runs=5, min_seconds=0.0, warmup_runs=1, warmup_seconds=0.0, statistic="p50")
    return calibrate(get_backend("litert-cpu"), n=2, reference=str(reference), protocol=proto,
                     store=state / f"{device}.json", device_name=device)


def test_runtime_job_on_a_device_backend_carries_samples_drift_profile_and_findings(live, tiny_models, isp_split, tmp_path):
    from maikit.runtime.drift import DriftPolicy
    from maikit.worker.device import DeviceRunner

    base = _calibrate(tmp_path, tiny_models["isp"] / "model.tflite")
    runner = DeviceRunner("litert-cpu", device="litert-cpu", state_dir=tmp_path,
                          policy=DriftPolicy(tolerance=50.0, cv_tolerance=50.0, max_attempts=1), per_op_top=3)
    live.create_challenge(challenge_def("dev1", isp_split))
    live.worker(name="fid", roles=["fidelity"])
    live.worker(name="rt", roles=["runtime"], device_runner=runner)
    r = live.upload("dev1", tiny_models["isp"] / "model.tflite", fidelity=tiny_models["isp"] / "model_none.tflite")
    assert r.status_code == 201, r.text
    done = live.wait_done(r.json()["id"])
    assert done["status"] == "Finished", done
    row = live.get("/api/challenges/dev1/phases/validation/export", "organiser").json()["submissions"][0]
    run = row["runtime"]
    assert run["backend"] == "litert-cpu" and run["worker"] == "rt"
    assert len(run["samples_ms"]) == run["runs"] >= 3
    assert done["runtime_ms"] == pytest.approx(sum(run["samples_ms"]) / run["runs"])  # the phase statistic: avg
    # the inference thread's CPU time per run comes through the device path too (the child, drift control)
    assert len(run["cpu_samples_ms"]) == run["runs"] and run["cpu_avg_ms"] == pytest.approx(sum(run["cpu_samples_ms"]) / run["runs"])
    d = run["drift"]
    assert d["baseline_ms"] == base["baseline_ms"] and d["ok"] and len(d["attempts"]) == 1
    assert d["drift"] == pytest.approx(max(abs(d["reference_before_ms"] - base["baseline_ms"]),
                                           abs(d["reference_after_ms"] - base["baseline_ms"])) / base["baseline_ms"])
    ops = run["op_profile"]["top_ops"]
    assert 1 <= len(ops) <= 3 and ops[0]["ms"] >= ops[-1]["ms"]
    assert run["findings"] == [] and row["fingerprint"]["backend"] == "litert-cpu" and row["fingerprint"]["cpu"]
    status = live.get(f"/api/submissions/{done['id']}", "alice").json()["runtime_details"]
    assert status["drift"] == d and status["op_profile"]["top_ops"] == ops
    cli = subprocess.run([sys.executable, "-m", "maikit", "status", str(done["id"]), "--server", live.url, "--json"],
                         capture_output=True, text=True, timeout=300, env={**os.environ, "MAI_TOKEN": live.tokens["alice"]})
    assert cli.returncode == 0, cli.stderr
    shown = json.loads(cli.stdout)["runtime_details"]  # what the participant sees
    assert shown["op_profile"] == run["op_profile"] and shown["op_profile_note"] is None and shown["findings"] == []
    assert shown["drift"] == d and shown["backend"] == "litert-cpu"
    logs = live.get(f"/api/submissions/{done['id']}/logs", "alice").json()["stages"]
    assert "reference drift" in logs["runtime"]["log"]


def test_mai_worker_once_with_a_backend_and_json_log(live, tiny_models, isp_split, tmp_path):
    live.create_challenge(challenge_def("dev2", isp_split))
    live.worker(name="fid", roles=["fidelity"])
    r = live.upload("dev2", tiny_models["isp"] / "model.tflite", fidelity=tiny_models["isp"] / "model_none.tflite")
    assert r.status_code == 201, r.text
    proc = subprocess.run(
        [sys.executable, "-m", "maikit", "worker", "--server", live.url, "--token", live.tokens["worker"], "--name", "cli-rt",
         "--roles", "runtime", "--backend", "litert-cpu", "--state", str(tmp_path), "--wait", "2", "--once", "--json-log"],
        capture_output=True, text=True, timeout=300, env={**os.environ})
    assert proc.returncode == 0, proc.stderr
    records = [json.loads(ln) for ln in proc.stderr.splitlines() if ln.startswith("{")]
    assert records and all({"time", "level", "logger", "message"} <= set(x) for x in records)
    done = live.wait_done(r.json()["id"])
    assert done["status"] == "Finished", done
    run = live.get("/api/challenges/dev2/phases/validation/export", "organiser").json()["submissions"][0]["runtime"]
    assert run["worker"] == "cli-rt" and run["drift"] is None
    assert any("no calibration" in n for n in run["notes"])


def test_mai_serve_in_process_workers_measure_through_the_device_runner_with_drift_control(live, tiny_models, isp_split):
    import threading

    from maikit.server.serve import ensure_calibration, in_process_worker

    reference = str(tiny_models["depth"] / "model.tflite")  # a fast reference for the test
    settings = live.platform.settings.model_copy(update={"drift_reference": reference, "drift_calibration_runs": 2})
    said = []
    base = ensure_calibration(settings, said.append)
    assert base["reference"] == reference and len(base["values_ms"]) == 2 and said[0].startswith("calibrating")
    told = len(said)  # (and a warning when the busy machine spread the reference's times)
    assert ensure_calibration(settings, said.append) == base and len(said) == told  # calibrated once, then reused
    live.create_challenge(challenge_def("dev4", isp_split))
    stop = threading.Event()
    w = in_process_worker(settings, live.url, live.tokens["worker"], "local-0", stop, wait_s=2.0)
    t = threading.Thread(target=w.run, daemon=True)
    t.start()
    try:
        r = live.upload("dev4", tiny_models["isp"] / "model.tflite", fidelity=tiny_models["isp"] / "model_none.tflite")
        assert r.status_code == 201, r.text
        done = live.wait_done(r.json()["id"])
    finally:
        stop.set()
        t.join(timeout=120)
    assert done["status"] == "Finished", done
    run = live.get("/api/challenges/dev4/phases/validation/export", "organiser").json()["submissions"][0]["runtime"]
    assert run["worker"] == "local-0" and run["backend"] == "litert-cpu" and len(run["samples_ms"]) == run["runs"] >= 3
    d = run["drift"]
    assert d["reference"] == reference and d["baseline_ms"] == base["baseline_ms"] and 1 <= len(d["attempts"]) <= 3
    assert run["op_profile"]["top_ops"] and run["findings"] == []
    from sqlalchemy import select

    from maikit.server.db.models import Job

    with live.platform.db.read() as s:  # timed at the phase's shape (protocol.input_shape): no warning
        stored = s.execute(select(Job.result).where(Job.submission_id == done["id"], Job.role == "runtime")).scalar_one()
    assert stored["warnings"] == [] and stored["input_shape"] == [1, 16, 16, 4]
    assert (settings.data_dir / "outbox").is_dir() and list((settings.data_dir / "outbox").iterdir()) == []


@pytest.mark.needs("vulkan")
def test_gpu_phase_preflight_carries_the_delegates_verdict(live, tiny_models, isp_split):
    from platform_testing import FAST

    d = challenge_def("gpu1", isp_split)
    d["protocol"] = {**FAST, "target": "gpu"}
    live.create_challenge(d)
    r = live.upload("gpu1", tiny_models["isp"] / "model.tflite", fidelity=tiny_models["isp"] / "model_none.tflite")
    assert r.status_code == 201, r.text
    g = r.json()["preflight"]["gpu_check"]
    assert g["available"] and g["fully_on_gpu"] and g["cpu_ops"] == 0 and g["gpu_ops"] == g["ops_total"]
    assert g["checked_shape"] == [1, 16, 16, 4] and g["outputs_match"]


def test_the_phases_drift_settings_override_the_workers(live, tiny_models, isp_split, tmp_path):
    """An organiser who sets ``protocol.drift`` decides the tolerance for every device worker:
    here one no reference can meet (a billionth), two attempts at most, against a worker whose
    own policy would take anything in one."""
    from maikit.runtime.drift import DriftPolicy
    from maikit.worker.device import DeviceRunner

    _calibrate(tmp_path, tiny_models["isp"] / "model.tflite")
    runner = DeviceRunner("litert-cpu", device="litert-cpu", state_dir=tmp_path,
                          policy=DriftPolicy(tolerance=50.0, cv_tolerance=50.0, max_attempts=1), per_op_top=0)
    d = challenge_def("dev4", isp_split)
    d["protocol"]["drift"] = {"tolerance": 1e-9, "cv_tolerance": 5.0, "max_attempts": 2}
    live.create_challenge(d)
    live.worker(name="fid", roles=["fidelity"])
    live.worker(name="rt", roles=["runtime"], device_runner=runner)
    r = live.upload("dev4", tiny_models["isp"] / "model.tflite", fidelity=tiny_models["isp"] / "model_none.tflite")
    done = live.wait_done(r.json()["id"])
    assert done["status"] == "Finished", done
    drift = done["runtime_details"]["drift"]
    assert drift["policy_from"] == "phase" and drift["tolerance"] == 1e-9 and drift["max_attempts"] == 2
    assert len(drift["attempts"]) == 2 and not drift["ok"]  # repeated once, then flagged: never silent
    assert any("no clean measurement in 2 attempts" in n for n in done["runtime_details"]["notes"])
    # a phase without the field leaves the worker's own policy
    assert runner.policy_for({"protocol": {"threads": 2}}) is runner.policy

