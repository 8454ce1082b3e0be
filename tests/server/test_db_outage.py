"""A database outage (a PostgreSQL server of the test's own, stopped and started again while
jobs run and clients read): every request that needs the database is a 503 with Retry-After
and one line, the leaderboard read before is still served, the in-process and the remote
worker keep the results they finished meanwhile, and once the database is back those results
are taken (the leases were not reaped: every lease gets one lease from the database's return),
each job done once, at its first attempt; no 500 anywhere."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from fault_checks import Errors, Recorder, assert_consistent, record
from pg_instance import own_postgres  # noqa: F401  (the fixture)
from platform_testing import FAST, challenge_def, running_on, start_live, stop_live, wait_for

pytestmark = pytest.mark.faults

LEASE_S = 20.0  # longer than the workers' longest wait between two tries (10 s)


class Lines(logging.Handler):
    def __init__(self):
        super().__init__(logging.INFO)
        self.lines: list[str] = []

    def emit(self, record):
        self.lines.append(record.getMessage())

    def has(self, text: str) -> bool:
        return any(text in line for line in self.lines)


def _worker_process(url: str, token: str, name: str, outbox: Path, log: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "maikit", "worker", "--server", url, "--token", token, "--name", name,
                             "--roles", "runtime", "--wait", "2", "--outbox", str(outbox)],
                            stdout=subprocess.DEVNULL, stderr=open(log, "ab"), start_new_session=True)


def test_database_outage_keeps_finished_results_and_answers_503(own_postgres, tmp_path, tmp_path_factory, tiny_models,
                                                                hostile_models, isp_split):
    pg = own_postgres
    live = start_live(tmp_path_factory.mktemp("outage-server"), pg.url, lease_s=LEASE_S)
    rec = Recorder()
    live.http.event_hooks["response"].append(rec)
    lines = Lines()
    logging.getLogger("maikit").addHandler(lines)
    level = logging.getLogger("maikit").level
    logging.getLogger("maikit").setLevel(logging.INFO)
    far, errors = None, Errors()
    try:
        with errors:
            d = challenge_def("out1", isp_split)
            d["protocol"] = dict(FAST, min_seconds=8.0)  # runtime jobs still measuring when the database stops
            live.create_challenge(d)
            # runtime: a fixed 16x16 file of some milliseconds a run (a few thousand per-run times in
            # the result, not the hundreds of thousands of the tiny model); fidelity: the tiny one
            model, fid = hostile_models["slow"].parent / "model.tflite", tiny_models["isp"] / "model_none.tflite"
            live.worker(name="fid", roles=["fidelity"])
            near, _ = live.worker(name="near", roles=["runtime"])
            first = live.upload("out1", model, fidelity=fid).json()["id"]
            done = live.wait_done(first, timeout=300)
            assert done["status"] == "Finished", (done["reason"], done["fault"])
            board = live.get("/api/challenges/out1/phases/validation/leaderboard")
            assert board.status_code == 200 and [r["submission_id"] for r in board.json()["rows"]] == [first]

            far = _worker_process(live.url, live.tokens["worker"], "far", tmp_path / "outbox", tmp_path / "far.log")
            subs = [live.upload("out1", model, fidelity=fid, who=who).json()["id"] for who in ("alice", "bob")]
            held = {name: wait_for(lambda name=name: running_on(live, name), 300, 0.05, f"worker {name} to run a job")
                    for name in ("near", "far")}

            pg.stop("fast")  # the database goes away while both measure
            down_at = time.monotonic()
            health = live.get("/api/health")
            assert health.status_code == 503, health.text
            assert int(health.headers["Retry-After"]) >= 1
            detail = health.json()["detail"]
            assert "database is unreachable" in detail and "\n" not in detail
            sub = live.get(f"/api/submissions/{subs[0]}", "alice")
            assert sub.status_code == 503 and "Retry-After" in sub.headers, sub.text
            page = live.get(f"/submissions/{subs[0]}")
            assert page.status_code != 500, page.status_code
            # the board read before the outage is still served, as it was
            again = live.get("/api/challenges/out1/phases/validation/leaderboard")
            assert again.status_code == 200 and again.content == board.content
            page = live.get("/challenges/out1/phases/validation/leaderboard")  # the page, from the same cache
            assert page.status_code == 200 and f"/submissions/{first}" in page.text or str(first) in page.text, page.text[:300]
            # both workers finish, cannot deliver, and keep their results
            wait_for(lambda: "result not delivered yet" in (tmp_path / "far.log").read_text(), 300, 0.1,
                     "the remote worker's undelivered result")
            wait_for(lambda: lines.has(f"job {held['near']}: result not delivered yet"), 300, 0.1,
                     "the in-process worker's undelivered result")
            live.platform.clock.shift(2 * LEASE_S)  # the outage lasted longer than a lease
            pg.start()
            back_at = time.monotonic()

            done = [live.wait_done(subs[0], "alice", timeout=300), live.wait_done(subs[1], "bob", timeout=300)]
            recovered = time.monotonic() - back_at
            assert [x["status"] for x in done] == ["Finished", "Finished"], [(x["reason"], x["fault"]) for x in done]
            from maikit.server.db.models import Job

            with live.platform.db.read() as s:
                runtime = {j.id: j for j in s.execute(select(Job).where(Job.role == "runtime")).scalars()}
            for name, job_id in held.items():  # delivered after the outage, measured once
                assert runtime[job_id].attempt == 1 and runtime[job_id].result["worker"] == name, (name, job_id)
            wait_for(lambda: "result delivered after the server came back" in (tmp_path / "far.log").read_text(), 120, 0.1,
                     "the remote worker's delivery")
            assert lines.has("the database is back:"), lines.lines[-20:]
            assert near.stop.is_set() is False
            counts = assert_consistent(pg.url, live.http, live.tokens, [("out1", "validation")])
            assert counts == {"Finished": 3}
            assert "Traceback" not in (tmp_path / "far.log").read_text()
        assert rec.server_errors() == [], rec.server_errors()
        assert errors.records == [], errors.text()
        record(f"PostgreSQL stopped (fast) for {back_at - down_at:.0f} s while 2 workers measure and clients read",
               "503 + Retry-After, board served from memory; both results kept and delivered after, measured once "
               "(attempt 1); 3 Finished", recovered)
    finally:
        logging.getLogger("maikit").removeHandler(lines)
        logging.getLogger("maikit").setLevel(level)
        if far is not None and far.poll() is None:
            os.killpg(far.pid, signal.SIGKILL)
            far.wait()
        if not pg.running():
            pg.start()
        stop_live(live)
