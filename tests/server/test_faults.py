"""Fault tests with real `mai worker` processes: a worker killed with SIGKILL in the middle
of a job among several submissions; the network between a worker and the server cut for
longer than the lease (a TCP proxy on loopback that the test cuts and restores)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from fault_checks import assert_consistent, record
from platform_testing import FAST, challenge_def, running_on, submission_rows, wait_for

pytestmark = pytest.mark.faults


def _worker_process(url: str, token: str, name: str, roles: str, log: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "maikit", "worker", "--server", url, "--token", token, "--name", name,
                             "--roles", roles, "--wait", "2"], stdout=subprocess.DEVNULL, stderr=open(log, "ab"),
                            start_new_session=True)


def _kill(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def _jobs(live) -> list:
    from maikit.server.db.models import Job

    with live.platform.db.read() as s:
        jobs = list(s.execute(select(Job).order_by(Job.id)).scalars())
        s.expunge_all()
        return jobs


def _worker_names(live) -> dict[int, str]:
    from maikit.server.db.models import Worker

    with live.platform.db.read() as s:
        return {w.id: w.name for w in s.execute(select(Worker)).scalars()}


@pytest.mark.lease_s(6.0)  # the killed worker's lease expires soon; the survivor's heartbeats have room
def test_worker_killed_mid_job_six_submissions_each_finished_once(live, tiny_models, isp_split, tmp_path):
    d = challenge_def("f1", isp_split)
    d["protocol"] = dict(FAST, min_seconds=1.0)  # runtime jobs hold their lease a while
    live.create_challenge(d)
    model, fid = tiny_models["isp"] / "model.tflite", tiny_models["isp"] / "model_none.tflite"
    subs = []
    for _ in range(6):
        r = live.upload("f1", model, fidelity=fid)
        assert r.status_code == 201, r.text
        subs.append(r.json()["id"])
    quota_before = live.get("/api/challenges/f1/phases/validation/quota", "alice").json()
    assert quota_before["used_today"] == 6
    token = live.tokens["worker"]
    a = _worker_process(live.url, token, "wa", "fidelity,runtime", tmp_path / "wa.log")
    b = _worker_process(live.url, token, "wb", "fidelity,runtime", tmp_path / "wb.log")
    try:
        killed_job = wait_for(lambda: running_on(live, "wa"), 300, 0.05, "worker wa to be running a job")
        _kill(a)
        killed_at = time.monotonic()
        done = [live.wait_done(i, timeout=600) for i in subs]
        recovered = time.monotonic() - killed_at
    finally:
        _kill(a)
        _kill(b)
    assert [x["status"] for x in done] == ["Finished"] * 6, [(x["reason"], x["fault"]) for x in done]
    jobs = _jobs(live)
    # one job per submission and role, each done once with one result
    assert sorted((j.submission_id, j.role) for j in jobs) == sorted((i, r) for i in subs for r in ("fidelity", "runtime"))
    assert all(j.status == "done" and j.result for j in jobs)
    names = _worker_names(live)
    requeued = next(j for j in jobs if j.id == killed_job)
    assert requeued.attempt == 2 and names[requeued.worker_id] == "wb" and requeued.result["worker"] == "wb"
    assert all(j.attempt == 1 for j in jobs if j.id != killed_job)
    # the requeue did not touch the quota: six counted submissions, as before
    assert live.get("/api/challenges/f1/phases/validation/quota", "alice").json()["used_today"] == quota_before["used_today"]
    assert submission_rows(live, "f1") == {"Finished": 6}  # the requeue made no new submission
    assert assert_consistent(live.platform.settings.database_url, live.http, live.tokens, [("f1", "validation")]) \
        == {"Finished": 6}
    record(f"worker SIGKILL mid-job ({live.platform.db.dialect}; 6 submissions, 2 worker processes, lease 6 s)",
           "the job requeued once (attempt 2, the other worker); 6 Finished, quota unchanged", recovered)


class CuttableProxy:
    """A TCP proxy on loopback in front of the server. ``cut()`` drops every connection and
    refuses new ones (they are accepted and closed at once) until ``restore()``."""

    def __init__(self, upstream_port: int):
        self.upstream = ("127.0.0.1", upstream_port)
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.down = threading.Event()
        self.closing = False
        self.lock = threading.Lock()
        self.open: set[socket.socket] = set()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self.closing:
            try:
                client, _ = self.sock.accept()
            except OSError:
                return
            if self.down.is_set():
                client.close()
                continue
            try:
                server = socket.create_connection(self.upstream)
            except OSError:
                client.close()
                continue
            with self.lock:
                self.open.update((client, server))
            for src, dst in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(src, dst), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                if self.down.is_set():
                    break
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            self._drop(s)

    def _drop(self, s: socket.socket) -> None:
        with self.lock:
            self.open.discard(s)
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        s.close()

    def cut(self) -> None:
        self.down.set()
        with self.lock:
            conns = list(self.open)
        for s in conns:
            self._drop(s)

    def restore(self) -> None:
        self.down.clear()

    def close(self) -> None:
        self.closing = True
        self.cut()
        self.sock.close()


@pytest.mark.lease_s(6.0)
def test_network_cut_longer_than_the_lease_late_result_refused(live, tiny_models, isp_split, tmp_path):
    from maikit.server.db.models import Job

    d = challenge_def("f2", isp_split)
    d["protocol"] = dict(FAST, min_seconds=2.0)  # the runtime job outlives the cut's start
    live.create_challenge(d)
    live.worker(name="fid", roles=["fidelity"])
    port = int(live.url.rsplit(":", 1)[1])
    proxy = CuttableProxy(port)
    log = tmp_path / "far.log"
    far = _worker_process(proxy.url, live.tokens["worker"], "far", "runtime", log)
    model, fid = tiny_models["isp"] / "model.tflite", tiny_models["isp"] / "model_none.tflite"

    def runtime_job(sub_id: int) -> Job:
        return next(j for j in _jobs(live) if j.submission_id == sub_id and j.role == "runtime")

    try:
        first = live.upload("f2", model, fidelity=fid).json()["id"]
        job_id = wait_for(lambda: running_on(live, "far"), 300, 0.05, "worker far to run the runtime job")
        assert job_id == runtime_job(first).id
        proxy.cut()
        # the worker finishes the measurement but cannot deliver it; the lease runs out meanwhile
        wait_for(lambda: f"job {job_id}: result not delivered yet" in log.read_text(), 300, 0.1, "the undelivered result")
        wait_for(lambda: runtime_job(first).status == "queued", 300, 0.1, "the expired lease's requeue")
        near, near_thread = live.worker(name="near", roles=["runtime"])
        done = live.wait_done(first, timeout=300)
        assert done["status"] == "Finished", (done["reason"], done["fault"])
        job = runtime_job(first)
        assert job.status == "done" and job.attempt == 2 and job.result["worker"] == "near"
        near.stop.set()
        near_thread.join(timeout=120)
        assert not near_thread.is_alive()
        proxy.restore()
        wait_for(lambda: f"job {job_id}: the server refused the late result" in log.read_text(), 300, 0.1,
                 "the late result's refusal in the worker's log")
        assert far.poll() is None  # the refusal is no error: the worker goes on
        job = runtime_job(first)
        assert job.attempt == 2 and job.result["worker"] == "near"  # the late result changed nothing
        second = live.upload("f2", model, fidelity=fid).json()["id"]
        done = live.wait_done(second, timeout=300)
        assert done["status"] == "Finished", (done["reason"], done["fault"])
        assert runtime_job(second).result["worker"] == "far"
        assert "Traceback" not in log.read_text()
    finally:
        _kill(far)
        proxy.close()
