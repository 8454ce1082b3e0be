"""A server down longer than a lease loses no work: a `mai worker` process finishes its job
while the server is stopped, is killed (SIGKILL), and once the server is back (its clock
past the lease's end) the restarted worker delivers the result from its outbox; the
submission is Finished once, with that result. An unreadable outbox file is moved aside with
one warning and the worker goes on. A starting server gives every lease one lease from its
start, and no more."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

from sqlalchemy import select

from platform_testing import FAST, Live, challenge_def, wait_for

LEASE_S = 60.0  # the restarted worker delivers within one lease of the server's start


def _worker(url: str, token: str, name: str, outbox: Path, log: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "maikit", "worker", "--server", url, "--token", token, "--name", name,
                             "--roles", "runtime", "--wait", "2", "--outbox", str(outbox)],
                            stdout=subprocess.DEVNULL, stderr=open(log, "ab"), start_new_session=True)


def _kill(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def _stop_server(live: Live) -> None:
    live.server.should_exit = True
    live.thread.join(timeout=120)
    assert not live.thread.is_alive()


def _start_server(live: Live, outage_s: float) -> Live:
    """The same database and files served again on the same port, its clock ``outage_s``
    past the stop (how long the server was down)."""
    import uvicorn

    from maikit.server.app import create_app

    app = create_app(live.platform.settings)
    app.state.platform.clock.shift(outage_s)
    port = int(live.url.rsplit(":", 1)[1])
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_for(lambda: server.started, 120, what="server restart")
    again = Live(app, live.url, server, thread)
    again.tokens, again._workers = live.tokens, []
    return again


def _jobs(live: Live, sub_id: int) -> dict:
    from maikit.server.db.models import Job

    with live.platform.db.read() as s:
        jobs = {j.role: j for j in s.execute(select(Job).where(Job.submission_id == sub_id)).scalars()}
        s.expunge_all()
        return jobs


def _runtime_running(live: Live, sub_id: int, name: str) -> bool:
    log = (live.get(f"/api/submissions/{sub_id}/logs", "alice").json()["stages"].get("runtime") or {}).get("log") or ""
    return f"worker {name} attempt 1" in log


def test_result_finished_while_the_server_was_down_is_delivered_from_the_outbox(engine_name, request, tmp_path,
                                                                                tmp_path_factory, tiny_models, isp_split):
    from platform_testing import start_live, stop_live

    from maikit.server.services.jobs import reap_once

    db_url = request.getfixturevalue("pg_database") if engine_name == "postgresql" else None
    # a folder of its own directly in pytest's base folder (start_live's reference data root is
    # that folder's parent, where the session's splits are)
    live = start_live(tmp_path_factory.mktemp("restart-server"), db_url, lease_s=LEASE_S)
    d = challenge_def("o1", isp_split)
    d["protocol"] = dict(FAST, min_seconds=3.0)  # the runtime job is still measuring when the server stops
    live.create_challenge(d)
    sub = live.upload("o1", tiny_models["isp"] / "model.tflite", fidelity=tiny_models["isp"] / "model_none.tflite").json()
    outbox, log = tmp_path / "outbox", tmp_path / "far.log"
    again, procs = None, []
    try:
        fid, fid_thread = live.worker(name="fid", roles=["fidelity"])
        wait_for(lambda: _jobs(live, sub["id"])["fidelity"].status == "done", 300, 0.1, "the fidelity job")
        fid.stop.set()
        fid_thread.join(timeout=120)
        procs.append(_worker(live.url, live.tokens["worker"], "far", outbox, log))
        wait_for(lambda: _runtime_running(live, sub["id"], "far"), 300, 0.05, "worker far to run the runtime job")
        job_id = _jobs(live, sub["id"])["runtime"].id
        _stop_server(live)
        # the worker finishes the measurement while the server is down and keeps the result on disk
        wait_for(lambda: "result not delivered yet" in log.read_text(), 300, 0.1, "the undelivered result")
        _kill(procs[-1])
        [kept] = outbox.glob("job-*.json")
        assert kept.name == f"job-{job_id}-attempt-1.json"

        again = _start_server(live, outage_s=3 * LEASE_S)
        reap_once(again.platform)  # the reaper's first round after the start: the lease is still current
        job = _jobs(again, sub["id"])["runtime"]
        assert job.status == "leased" and job.attempt == 1
        assert job.lease_expires_at >= again.platform.now()

        procs.append(_worker(again.url, again.tokens["worker"], "far", outbox, log))
        done = again.wait_done(sub["id"], timeout=300)
        assert done["status"] == "Finished", (done["reason"], done["fault"])
        jobs = _jobs(again, sub["id"])
        assert sorted(jobs) == ["fidelity", "runtime"]
        assert all(j.status == "done" and j.attempt == 1 for j in jobs.values())  # nothing ran twice
        assert jobs["runtime"].result["worker"] == "far" and jobs["runtime"].result["runs"] >= 3
        assert done["runtime_ms"] > 0
        wait_for(lambda: f"job {job_id}: result delivered from the outbox" in log.read_text(), 120, 0.1,
                 "the delivery in the worker's log")
        assert list(outbox.glob("job-*.json")) == []
        assert "Traceback" not in log.read_text()
    finally:
        for p in procs:
            _kill(p)
        stop_live(live)
        if again is not None:
            stop_live(again)


def test_unreadable_outbox_file_is_moved_aside_and_the_worker_goes_on(live, tiny_models, isp_split, tmp_path):
    from maikit.worker.outbox import Outbox

    outbox, log = tmp_path / "outbox", tmp_path / "w.log"
    outbox.mkdir()
    (outbox / "job-41-attempt-1.json").write_text('{"server": "http://old", "job_id": 41, "lease_')  # cut short
    box = Outbox(outbox)  # and a result for another server (an outbox folder shared by hand): left alone
    box.release(box.put("http://elsewhere:8000", {"job_id": 42, "lease_token": "mai_l_x", "attempt": 1}, {"ok": True}))
    live.create_challenge(challenge_def("o2", isp_split))
    live.worker(name="fid", roles=["fidelity"])
    proc = _worker(live.url, live.tokens["worker"], "w", outbox, log)
    try:
        sub = live.upload("o2", tiny_models["isp"] / "model.tflite", fidelity=tiny_models["isp"] / "model_none.tflite")
        done = live.wait_done(sub.json()["id"], timeout=300)
        assert done["status"] == "Finished", (done["reason"], done["fault"])
        # the server finishes the submission on taking the result; the worker removes its
        # outbox file only after the answer reaches it: wait for that, not for the submission
        wait_for(lambda: [p.name for p in outbox.glob("job-*.json")] == ["job-42-attempt-1.json"], 120, 0.05,
                 "the delivered results' outbox files to go")
        assert proc.poll() is None
    finally:
        _kill(proc)
    text = log.read_text()
    warnings = [ln for ln in text.splitlines() if "job-41-attempt-1.json" in ln]
    assert len(warnings) == 1 and "not a readable result" in warnings[0] and "moved aside" in warnings[0]
    assert (outbox / "job-41-attempt-1.json.corrupt").is_file()
    assert [p.name for p in outbox.glob("job-*.json")] == ["job-42-attempt-1.json"] and "Traceback" not in text
    assert sum("job-42-attempt-1.json" in ln and "http://elsewhere:8000" in ln for ln in text.splitlines()) == 1


def test_a_starting_server_gives_every_lease_one_lease_from_its_start(engine_name, request, tmp_path, tiny_models,
                                                                       isp_split):
    from datetime import timedelta

    from platform_testing import start_live, stop_live

    from maikit.server.jobs.pipeline import reap
    from maikit.server.jobs.queue import resume

    db_url = request.getfixturevalue("pg_database") if engine_name == "postgresql" else None
    live = start_live(tmp_path, db_url, lease_s=LEASE_S, reap_every_s=3600.0)  # the test reaps, with its own times
    try:
        live.create_challenge(challenge_def("o3", isp_split))
        sub = live.upload("o3", tiny_models["isp"] / "model.tflite").json()
        r = live.post("/api/workers/register", "worker", json={"name": "gone", "roles": ["runtime"], "device_tag": "litert-cpu"})
        wid = r.json()["worker_id"]
        claimed = live.post("/api/workers/claim", "worker", json={"worker_id": wid, "wait_s": 10}).json()
        assert claimed["role"] == "runtime"
        db, lease = live.platform.db, timedelta(seconds=LEASE_S)
        expiry = _jobs(live, sub["id"])["runtime"].lease_expires_at
        start = expiry + 3 * lease  # the server was down three leases past the lease's end
        with db.write() as s, s.begin():
            assert resume(s, now=start, lease_s=LEASE_S) == 1
        jobs = _jobs(live, sub["id"])
        assert jobs["runtime"].status == "leased" and jobs["runtime"].lease_expires_at == start + lease
        assert jobs["fidelity"].status == "queued" and jobs["fidelity"].lease_expires_at is None
        with db.write() as s, s.begin():  # a lease already longer is not shortened
            assert resume(s, now=start - lease / 2, lease_s=LEASE_S) == 0
        assert _jobs(live, sub["id"])["runtime"].lease_expires_at == start + lease
        with db.write() as s, s.begin():
            assert reap(s, start + lease / 2) == 0
        with db.write() as s, s.begin():  # the worker never came back: requeued one lease after the start
            assert reap(s, start + lease + timedelta(seconds=1)) == 1
        job = _jobs(live, sub["id"])["runtime"]
        assert job.status == "queued" and job.attempt == 1 and job.lease_expires_at is None
        lease_auth = {"Authorization": f"Bearer {claimed['lease_token']}"}
        late = live.http.post(f"/api/jobs/{claimed['job_id']}/result", headers=lease_auth, json={"ok": True, "result": {}})
        assert late.status_code == 409
    finally:
        stop_live(live)
