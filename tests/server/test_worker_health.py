"""A device that fails its health check: `mai worker` reports it unhealthy to the server, which
leases it no job and shows it (API and the organiser's devices page) with the reason; the
worker keeps checking and takes jobs once the device recovers. The device is an Android
phone behind the `adb` backend, played by the stand-ins for `adb` and `benchmark_model`
(a phone is hardware we cannot have); it "recovers" when its `adb` appears."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import httpx
from sqlalchemy import select

from platform_testing import FAST, challenge_def, wait_for

STANDIN = Path(__file__).parents[1] / "runtime" / "devices" / "standin"


def _with_this_python(src: Path, dst: Path) -> Path:
    lines = src.read_text().splitlines(keepends=True)
    dst.write_text(f"#!{sys.executable}\n" + "".join(lines[1:]))
    dst.chmod(0o755)
    return dst


def _workers(live) -> dict[str, dict]:
    r = live.get("/api/workers", "organiser")
    assert r.status_code == 200, r.text
    return {w["name"]: w for w in r.json()}


def _devices_page(live) -> str:
    with httpx.Client(base_url=live.url, timeout=60) as web:
        csrf = re.search(r'name="csrf" value="([^"]+)"', web.get("/signin").text).group(1)
        r = web.post("/signin", data={"username": "organiser", "password": "org-pass", "csrf": csrf})
        assert r.status_code == 303, r.text
        page = web.get("/organiser/devices")
        assert page.status_code == 200
        return page.text


def _runtime_job(live, sub_id: int):
    from maikit.server.db.models import Job

    with live.platform.db.read() as s:
        job = s.execute(select(Job).where(Job.submission_id == sub_id, Job.role == "runtime")).scalar_one()
        s.expunge_all()
        return job


def _phone_worker(live, tmp_path: Path, *extra: str) -> list[str]:
    binary = _with_this_python(STANDIN / "benchmark_model", tmp_path / "benchmark_model")
    return [sys.executable, "-m", "maikit", "worker", "--server", live.url, "--token", live.tokens["worker"],
            "--name", "phone-worker", "--roles", "runtime", "--backend", "adb", "--device", "phone1",
            "--option", f"adb={tmp_path / 'adb'}", "--option", f"benchmark_model_path={binary}",
            "--option", f"remote_dir={tmp_path / 'phone'}", "--state", str(tmp_path / "state"), "--wait", "2", *extra]


def test_unhealthy_device_is_reported_takes_no_jobs_and_recovers(live, tiny_models, isp_split, tmp_path):
    d = challenge_def("h1", isp_split)
    d["protocol"] = dict(FAST, device="phone1", warmup_runs=1)  # jobs for the phone (benchmark_model warms up once)
    live.create_challenge(d)
    live.worker(name="fid", roles=["fidelity"])
    sub = live.upload("h1", tiny_models["isp"] / "model.tflite", fidelity=tiny_models["isp"] / "model_none.tflite").json()
    log = tmp_path / "worker.log"
    proc = subprocess.Popen(_phone_worker(live, tmp_path, "--health-every", "0.5"), stdout=subprocess.DEVNULL,
                            stderr=open(log, "ab"), start_new_session=True)
    try:
        w = wait_for(lambda: _workers(live).get("phone-worker"), 180, 0.1, "the worker's registration")
        assert w["healthy"] is False and "not found" in w["health_reason"] and w["health_checked_at"]
        first_check = w["health_checked_at"]
        # it keeps checking (and reporting), and is leased nothing meanwhile
        wait_for(lambda: _workers(live)["phone-worker"]["health_checked_at"] != first_check, 180, 0.1, "a second check")
        assert _runtime_job(live, sub["id"]).attempt == 0 and _runtime_job(live, sub["id"]).status == "queued"
        assert proc.poll() is None
        page = _devices_page(live)
        assert "unhealthy, takes no jobs" in page and "not found" in page
        _with_this_python(STANDIN / "adb", tmp_path / "adb")  # the phone is back
        done = live.wait_done(sub["id"], timeout=300)
        assert done["status"] == "Finished", (done["reason"], done["fault"])
        job = _runtime_job(live, sub["id"])
        assert job.attempt == 1 and job.result["worker"] == "phone-worker" and job.result["backend"] == "adb"
        w = _workers(live)["phone-worker"]
        assert w["healthy"] is True and w["health_reason"] is None
        assert "unhealthy" not in _devices_page(live)
        assert "failed its health check" in log.read_text() and "passed its health check again" in log.read_text()
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def test_unhealthy_device_with_once_is_reported_then_exits_2(live, tmp_path):
    proc = subprocess.run(_phone_worker(live, tmp_path, "--once"), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2, proc.stderr
    assert "phone1" in proc.stderr and "failed its health check" in proc.stderr
    w = _workers(live)["phone-worker"]
    assert w["healthy"] is False and "not found" in w["health_reason"]
