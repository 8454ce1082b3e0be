"""Leases: a killed worker's job is requeued and finished by another, with exactly one result;
results and heartbeats count only for the current lease; attempts run out as an
infrastructure failure; a server killed mid-job and restarted loses nothing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import httpx
import pytest
from sqlalchemy import select

from platform_testing import FAST, challenge_def, free_port, wait_for


def _job(live, sub_id: int, role: str):
    from maikit.server.db.models import Job, Worker

    with live.platform.db.read() as s:
        job = s.execute(select(Job).where(Job.submission_id == sub_id, Job.role == role)).scalar_one()
        worker = s.get(Worker, job.worker_id) if job.worker_id else None
        s.expunge_all()
        return job, worker


def _worker_process(url: str, token: str, name: str, roles: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "maikit", "worker", "--server", url, "--token", token, "--name", name,
                             "--roles", roles, "--wait", "2"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)


@pytest.mark.lease_s(6.0)  # expires soon after the kill; the rescuer's heartbeats (every 2 s) have room
def test_killed_worker_job_is_requeued_and_finished_once(live, tiny_models, isp_split):
    d = challenge_def("l1", isp_split)
    d["protocol"] = dict(FAST, min_seconds=3.0)  # the runtime job holds its lease for a while
    live.create_challenge(d)
    sub = live.upload("l1", tiny_models["isp"] / "model.tflite", fidelity=tiny_models["isp"] / "model_none.tflite").json()
    a = _worker_process(live.url, live.tokens["worker"], "doomed", "runtime")
    try:
        def started():  # leased by A, and A has begun running it
            job, worker = _job(live, sub["id"], "runtime")
            log = live.get(f"/api/submissions/{sub['id']}/logs", "alice").json()["stages"]["runtime"]["log"]
            return job.status == "leased" and worker.name == "doomed" and "doomed attempt 1" in log

        wait_for(started, 180, 0.1, "worker A to start the runtime job")
    finally:
        os.killpg(a.pid, signal.SIGKILL)
        a.wait()
    live.worker(name="rescuer")
    done = live.wait_done(sub["id"])
    assert done["status"] == "Finished", (done["reason"], done["fault"])
    job, worker = _job(live, sub["id"], "runtime")
    assert job.status == "done" and job.attempt == 2 and worker.name == "rescuer"
    assert job.result["worker"] == "rescuer" and job.result["runs"] >= 3
    logs = live.get(f"/api/submissions/{sub['id']}/logs", "alice").json()["stages"]["runtime"]["log"]
    assert "doomed attempt 1" in logs and "rescuer attempt 2" in logs


def _register(live) -> int:
    r = live.post("/api/workers/register", "worker", json={"name": "manual", "roles": ["runtime"], "device_tag": "litert-cpu"})
    assert r.status_code == 201, r.text
    return r.json()["worker_id"]


def _claim(live, wid: int) -> dict:
    r = live.post("/api/workers/claim", "worker", json={"worker_id": wid, "wait_s": 10})
    assert r.status_code == 200, r.status_code
    return r.json()


@pytest.mark.lease_s(2.0)  # no worker heartbeats here: the test lets each lease expire
def test_only_the_current_lease_may_answer(live, tiny_models, isp_split):
    live.create_challenge(challenge_def("l2", isp_split))
    sub = live.upload("l2", tiny_models["isp"] / "model.tflite").json()
    wid = _register(live)
    first = _claim(live, wid)
    lease = lambda job: {"Authorization": f"Bearer {job['lease_token']}"}  # noqa: E731
    assert live.http.post(f"/api/jobs/{first['job_id']}/heartbeat", headers=lease(first)).json()["cancel"] is False
    # no more heartbeats: the lease expires and the job is requeued
    wait_for(lambda: _job(live, sub["id"], "runtime")[0].status == "queued", 60, 0.1, "requeue")
    second = _claim(live, wid)
    assert second["job_id"] == first["job_id"] and second["attempt"] == 2
    body = {"ok": True, "result": {"avg_ms": 1.0, "runs": 1}}
    assert live.http.post(f"/api/jobs/{first['job_id']}/heartbeat", headers=lease(first)).status_code == 409
    assert live.http.post(f"/api/jobs/{first['job_id']}/result", headers=lease(first), json=body).status_code == 409
    assert live.http.get(f"/api/jobs/{first['job_id']}/file", headers=lease(first)).status_code == 409
    assert live.http.get(f"/api/jobs/{second['job_id']}/file", headers=lease(second)).content == \
        (tiny_models["isp"] / "model.tflite").read_bytes()
    assert live.http.post(f"/api/jobs/{second['job_id']}/result", headers=lease(second), json=body).status_code == 200
    assert live.http.post(f"/api/jobs/{second['job_id']}/result", headers=lease(second),
                          json={"ok": True, "result": {"avg_ms": 2.0}}).status_code == 409
    job, _ = _job(live, sub["id"], "runtime")
    assert job.status == "done" and job.result == body["result"]


@pytest.mark.lease_s(2.0)
def test_attempts_run_out_as_an_infrastructure_failure(live, tiny_models, isp_split):
    live.create_challenge(challenge_def("l3", isp_split))
    sub = live.upload("l3", tiny_models["isp"] / "model.tflite").json()
    wid = _register(live)
    for attempt in (1, 2, 3):  # max_attempts = 3; each lease is left to expire
        job = _claim(live, wid)
        assert job["attempt"] == attempt
        wait_for(lambda: _job(live, sub["id"], "runtime")[0].status != "leased", 60, 0.1, "lease expiry")
    done = live.wait_done(sub["id"])
    assert done["status"] == "Failed" and done["fault"] == "infrastructure"
    assert "stopped answering 3 times" in done["reason"]
    quota = live.get("/api/challenges/l3/phases/validation/quota", "alice").json()
    assert quota["used_today"] == 0


def _serve(data_dir, port, db_url, log):
    env = dict(os.environ, MAI_SERVER_LEASE_S="60")
    cmd = [sys.executable, "-m", "maikit", "serve", "--data-dir", str(data_dir), "--port", str(port), "--workers", "0"]
    if db_url:
        cmd += ["--db", db_url]
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=open(log, "ab"), env=env, start_new_session=True)


@pytest.mark.faults
def test_server_killed_mid_job_and_restarted_loses_nothing(engine_name, request, tmp_path, tiny_models, isp_split):
    from platform_testing import Live, _accounts, _reset_postgres
    from maikit.server.app import create_app
    from maikit.server.core.config import Settings
    from maikit.worker.loop import Worker

    db_url = None
    if engine_name == "postgresql":
        db_url = request.getfixturevalue("pg_database")
        _reset_postgres(db_url)
    # accounts straight into the database the server will use (migrated by create_app)
    app = create_app(Settings(data_dir=tmp_path, db_url=db_url), run_migrations=True)
    holder = Live.__new__(Live)
    holder.platform, holder.tokens = app.state.platform, {}
    _accounts(holder)
    app.state.platform.db.dispose()
    tokens = holder.tokens
    port, log = free_port(), tmp_path / "serve.log"
    url = f"http://127.0.0.1:{port}"

    def up():
        try:
            return httpx.get(f"{url}/api/health", timeout=5).status_code == 200
        except httpx.HTTPError:
            return False

    server = _serve(tmp_path, port, db_url, log)
    stop = threading.Event()
    try:
        wait_for(up, 300, 0.2, "server")
        org = {"Authorization": f"Bearer {tokens['organiser']}"}
        d = challenge_def("r1", isp_split)
        d["protocol"] = dict(FAST, min_seconds=4.0)
        assert httpx.post(f"{url}/api/challenges", json=d, headers=org, timeout=60).status_code == 201
        files = {"file": ("m.tflite", (tiny_models["isp"] / "model.tflite").read_bytes()),
                 "fidelity_file": ("f.tflite", (tiny_models["isp"] / "model_none.tflite").read_bytes())}
        sub = httpx.post(f"{url}/api/challenges/r1/phases/validation/submissions", files=files,
                         headers={"Authorization": f"Bearer {tokens['alice']}"}, timeout=120).json()
        w = Worker(url, tokens["worker"], name="steady", roles=("runtime",), wait_s=2, stop=stop)
        threading.Thread(target=w.run, daemon=True).start()
        alice = {"Authorization": f"Bearer {tokens['alice']}"}
        wait_for(lambda: httpx.get(f"{url}/api/submissions/{sub['id']}", headers=alice, timeout=30).json()["stage"] == "runtime",
                 300, 0.1, "the runtime job to start")
        os.killpg(server.pid, signal.SIGKILL)
        server.wait()
        killed_at = time.monotonic()
        server = _serve(tmp_path, port, db_url, log)
        wait_for(up, 300, 0.2, "server restart")
        w2 = Worker(url, tokens["worker"], name="fidelity", roles=("fidelity",), wait_s=2, stop=stop)
        threading.Thread(target=w2.run, daemon=True).start()

        def finished():
            s = httpx.get(f"{url}/api/submissions/{sub['id']}", headers=alice, timeout=30).json()
            return s if s["status"] in ("Finished", "Failed") else None

        done = wait_for(finished, 400, 0.3, "the submission after the restart")
        assert done["status"] == "Finished", (done["reason"], done["fault"])
        export = httpx.get(f"{url}/api/challenges/r1/phases/validation/export", headers=org, timeout=30).json()
        assert [s["id"] for s in export["submissions"]] == [sub["id"]]
        assert export["submissions"][0]["runtime"]["runs"] >= 3
        from fault_checks import assert_consistent, no_500_in_log, record

        assert assert_consistent(Settings(data_dir=tmp_path, db_url=db_url).database_url, httpx.Client(base_url=url, timeout=60),
                                 tokens, [("r1", "validation")]) == {"Finished": 1}
        no_500_in_log(log.read_text())
        record(f"server SIGKILL mid-job and restarted ({engine_name})",
               "the worker retries; its lease resumed on start; 1 Finished, measured once", time.monotonic() - killed_at)
    finally:
        stop.set()
        os.killpg(server.pid, signal.SIGKILL)
        server.wait()
