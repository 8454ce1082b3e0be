"""The fault suite's server-process faults (``pytest -m faults`` runs the whole suite; the list
and the measured outcomes are in benchmarks/RESULTS.md): a ``mai serve`` process killed with
SIGKILL in the middle of an upload, and two ``mai serve`` processes on one database with
several workers. Each ends with the checks every fault test makes (:mod:`fault_checks`):
every submission terminal, one result per job from its last lease's holder, quota as the rows
say, no 500 in any answer or in the servers' logs."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from fault_checks import Recorder, assert_consistent, no_500_in_log, record
from platform_testing import FAST, challenge_def, free_port, wait_for

pytestmark = pytest.mark.faults


def _accounts(data_dir: Path, db_url: str | None) -> tuple[str, dict[str, str]]:
    """A migrated database with the test accounts; (its URL, their tokens)."""
    from platform_testing import Live, _accounts as make, _reset_postgres

    from maikit.server.app import create_app
    from maikit.server.core.config import Settings

    if db_url:
        _reset_postgres(db_url)
    app = create_app(Settings(data_dir=data_dir, db_url=db_url), run_migrations=True)
    holder = Live.__new__(Live)
    holder.platform, holder.tokens = app.state.platform, {}
    make(holder)
    url = app.state.platform.settings.database_url
    app.state.platform.close()
    return url, holder.tokens


class Server:
    """``mai serve --workers 0`` in its own process group, its stderr in a log file."""

    def __init__(self, data_dir: Path, db_url: str | None, log: Path, port: int | None = None):
        self.data_dir, self.db_url, self.log = data_dir, db_url, log
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None

    def start(self) -> "Server":
        env = dict(os.environ, MAI_SERVER_LEASE_S="30", MAI_SERVER_REAP_EVERY_S="0.5", MAI_SERVER_CLAIM_WAIT_S="2")
        cmd = [sys.executable, "-m", "maikit", "serve", "--data-dir", str(self.data_dir), "--port", str(self.port),
               "--workers", "0"]
        if self.db_url:
            cmd += ["--db", self.db_url]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=open(self.log, "ab"), env=env,
                                     start_new_session=True)
        wait_for(self.up, 300, 0.2, f"server on {self.port}")
        return self

    def up(self) -> bool:
        assert self.proc.poll() is None, self.log.read_text()[-2000:]
        try:
            return httpx.get(f"{self.url}/api/health", timeout=5).status_code == 200
        except httpx.HTTPError:
            return False

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


def _client(url: str, rec: Recorder) -> httpx.Client:
    return httpx.Client(base_url=url, timeout=120, event_hooks={"response": [rec]})


def _multipart(boundary: str, name: str, payload: bytes, pause: threading.Event, sent_half: threading.Event):
    """A multipart body of one file, sent in small pieces; after half of it, it waits for ``pause``."""
    yield (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\n"
           "Content-Type: application/octet-stream\r\n\r\n").encode()
    half = len(payload) // 2
    for i in range(0, len(payload), 1024):
        if i >= half and not sent_half.is_set():
            sent_half.set()
            pause.wait(60)
        yield payload[i:i + 1024]
    yield f"\r\n--{boundary}--\r\n".encode()


def _worker_threads(url: str, token: str, names, stop: threading.Event):
    from maikit.worker.loop import Worker

    threads = []
    for name in names:
        w = Worker(url, token, name=name, roles=("fidelity", "runtime"), wait_s=2, stop=stop)
        t = threading.Thread(target=w.run, daemon=True)
        t.start()
        threads.append(t)
    return threads


def test_server_killed_mid_upload_leaves_nothing_half_written(engine_name, request, tmp_path, tiny_models, isp_split):
    db_url = request.getfixturevalue("pg_database") if engine_name == "postgresql" else None
    db_url, tokens = _accounts(tmp_path, db_url)
    server = Server(tmp_path, db_url, tmp_path / "serve.log").start()
    rec, stop = Recorder(), threading.Event()
    http = _client(server.url, rec)
    alice = {"Authorization": f"Bearer {tokens['alice']}"}
    try:
        d = challenge_def("k1", isp_split)
        r = http.post("/api/challenges", json=d, headers={"Authorization": f"Bearer {tokens['organiser']}"})
        assert r.status_code == 201, r.text
        model = (tiny_models["isp"] / "model.tflite").read_bytes()
        upload = "/api/challenges/k1/phases/validation/submissions"

        # 1. killed while the body arrives
        boundary, pause, half = "maikitfault", threading.Event(), threading.Event()
        outcome: dict = {}

        def slow_upload():
            try:
                outcome["r"] = httpx.post(f"{server.url}{upload}", content=_multipart(boundary, "m.tflite", model, pause, half),
                                          headers={**alice, "Content-Type": f"multipart/form-data; boundary={boundary}"},
                                          timeout=120)
            except httpx.HTTPError as e:
                outcome["error"] = e

        t = threading.Thread(target=slow_upload)
        t.start()
        assert half.wait(120)
        server.kill()
        killed_at = time.monotonic()
        pause.set()
        t.join(120)
        assert "error" in outcome, outcome  # the client saw the connection go, not an answer
        server.start()
        restarted = time.monotonic() - killed_at
        assert http.get("/api/challenges/k1/phases/validation/submissions", headers=alice).json() == []

        # 2. killed once the whole body was sent, before the answer (reading, preflight or commit)
        files = {"file": ("m.tflite", model, "application/octet-stream"),
                 "fidelity_file": ("f.tflite", (tiny_models["isp"] / "model_none.tflite").read_bytes(),
                                   "application/octet-stream")}
        t = threading.Thread(target=lambda: _swallow(lambda: httpx.post(f"{server.url}{upload}", files=files, headers=alice,
                                                                         timeout=120)))
        t.start()
        time.sleep(0.3)
        server.kill()
        t.join(120)
        server.start()
        rows = http.get("/api/challenges/k1/phases/validation/submissions", headers=alice).json()
        assert len(rows) <= 1, rows  # none, or the one the killed server committed (then it runs normally)

        # the restarted server works: a new upload, with workers, finishes; the store holds whole files only
        r = http.post(upload, files=files, headers=alice)
        assert r.status_code == 201, r.text
        _worker_threads(server.url, tokens["worker"], ["w1"], stop)
        for sub in http.get("/api/challenges/k1/phases/validation/submissions", headers=alice).json():
            wait_for(lambda sub=sub: http.get(f"/api/submissions/{sub['id']}", headers=alice).json()["status"]
                     in ("Finished", "Failed", "Cancelled"), 300, 0.3, f"submission {sub['id']}")
        stored = [f for f in (tmp_path / "files").rglob("*") if f.is_file() and f.parent.name != "tmp"]
        import hashlib

        assert stored and all(hashlib.sha256(f.read_bytes()).hexdigest() == f.name for f in stored), stored
        counts = assert_consistent(db_url, http, tokens, [("k1", "validation")])
        assert counts.get("Finished", 0) >= 1 and set(counts) == {"Finished"}, counts
        assert rec.server_errors(allowed=()) == [], rec.server_errors(allowed=())
        no_500_in_log(server.log.read_text())
        record(f"server SIGKILL mid-upload, twice ({engine_name})",
               f"no submission row, no quota used, store holds whole files only; {counts.get('Finished', 0)} Finished after", restarted)
    finally:
        stop.set()
        server.kill()
        http.close()


def _swallow(fn) -> None:
    try:
        fn()
    except httpx.HTTPError:
        pass


def test_two_server_processes_on_one_database_with_several_workers(request, tmp_path, tiny_models, isp_split):
    """PostgreSQL only: two server processes share a database (SQLite serves one process)."""
    db_url, tokens = _accounts(tmp_path, request.getfixturevalue("pg_database"))
    one = Server(tmp_path, db_url, tmp_path / "one.log").start()
    two = Server(tmp_path, db_url, tmp_path / "two.log").start()
    rec, stop = Recorder(), threading.Event()
    clients = [_client(one.url, rec), _client(two.url, rec)]
    try:
        d = challenge_def("k2", isp_split)
        d["protocol"] = dict(FAST, min_seconds=0.5)
        org = {"Authorization": f"Bearer {tokens['organiser']}"}
        assert clients[0].post("/api/challenges", json=d, headers=org).status_code == 201
        _worker_threads(one.url, tokens["worker"], ["a1", "a2"], stop)
        _worker_threads(two.url, tokens["worker"], ["b1", "b2"], stop)
        files = {"file": ("m.tflite", (tiny_models["isp"] / "model.tflite").read_bytes(), "application/octet-stream"),
                 "fidelity_file": ("f.tflite", (tiny_models["isp"] / "model_none.tflite").read_bytes(),
                                   "application/octet-stream")}
        ids, t0 = [], time.monotonic()
        for i in range(8):  # alternate servers and owners; each server reads the other's work
            who = ("alice", "bob")[i % 2]
            r = clients[i % 2].post("/api/challenges/k2/phases/validation/submissions", files=files,
                                    headers={"Authorization": f"Bearer {tokens[who]}"})
            assert r.status_code == 201, r.text
            ids.append((who, r.json()["id"]))
        for i, (who, sub_id) in enumerate(ids):
            c, h = clients[(i + 1) % 2], {"Authorization": f"Bearer {tokens[who]}"}
            wait_for(lambda c=c, h=h, sub_id=sub_id: c.get(f"/api/submissions/{sub_id}", headers=h).json()["status"]
                     in ("Finished", "Failed", "Cancelled"), 600, 0.3, f"submission {sub_id}")
        took = time.monotonic() - t0
        counts = assert_consistent(db_url, clients[0], tokens, [("k2", "validation")])
        assert counts == {"Finished": 8}, counts
        # both boards agree (each server's cache within its freshness bound)
        boards = [wait_for(lambda c=c: (b := c.get("/api/challenges/k2/phases/validation/leaderboard").json())["rows"]
                           and len(b["rows"]) == 2 and b, 60, 0.3, "the board") for c in clients]
        assert boards[0]["rows"] == boards[1]["rows"]
        from fault_checks import db_state

        _subs, jobs, names = db_state(db_url)
        workers = {names[j.worker_id] for j in jobs}
        assert len(jobs) == 16 and all(j.attempt == 1 for j in jobs), [(j.id, j.attempt) for j in jobs]  # leased once
        assert workers & {"a1", "a2"} and workers & {"b1", "b2"}, workers  # both servers' workers took jobs
        assert rec.server_errors(allowed=()) == [], rec.server_errors(allowed=())
        no_500_in_log(one.log.read_text())
        no_500_in_log(two.log.read_text())
        record("two server processes on one PostgreSQL, 4 workers (2 per server), 8 uploads alternating",
               "each job leased once, 8 Finished, both boards equal, no 500", None)
        print(f"two servers: 8 submissions in {took:.1f} s")
    finally:
        stop.set()
        one.kill()
        two.kill()
        for c in clients:
            c.close()
