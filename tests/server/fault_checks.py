"""What every fault test asserts at its end, from the database (its own connection, so it works
for servers in other processes too) and from the API: every submission terminal, exactly one
result per job and the one its last lease's holder measured, quota as the rows say, and no
500 anywhere (the answers the test's clients got, the server's log)."""

from __future__ import annotations

import json
import logging
import os

import httpx
from sqlalchemy import select
from sqlalchemy.orm import Session

TERMINAL = ("Finished", "Failed", "Cancelled")


def db_state(db_url: str):
    """(submissions, jobs, worker names by id) read now, detached."""
    from maikit.server.db.models import Job, Submission, Worker
    from maikit.server.db.session import make_engine

    eng = make_engine(db_url)
    try:
        with Session(eng) as s:
            subs = list(s.execute(select(Submission).order_by(Submission.id)).scalars())
            jobs = list(s.execute(select(Job).order_by(Job.id)).scalars())
            names = {w.id: w.name for w in s.execute(select(Worker)).scalars()}
            s.expunge_all()
    finally:
        eng.dispose()
    return subs, jobs, names


def assert_consistent(db_url: str, http: httpx.Client, tokens: dict[str, str], phases: list[tuple[str, str]],
                      users=("alice", "bob")) -> dict[str, int]:
    """The end state after a fault; the submissions by status."""
    subs, jobs, names = db_state(db_url)
    assert subs, "no submission at all"
    by_sub: dict[int, list] = {}
    for j in jobs:
        by_sub.setdefault(j.submission_id, []).append(j)
    for sub in subs:
        assert sub.status in TERMINAL, (sub.id, sub.status, sub.stage)
        own = by_sub.get(sub.id, [])
        if sub.stage == "preflight":
            assert own == [], (sub.id, [(j.role, j.status) for j in own])
            continue
        assert sorted(j.role for j in own) == ["fidelity", "runtime"], (sub.id, [j.role for j in own])
        for j in own:
            assert j.status in ("done", "failed", "cancelled"), (sub.id, j.role, j.status)
            assert j.lease_hash is None, (sub.id, j.role)
            if j.status == "done":  # one result, the one the holder of its last lease measured
                assert j.result and j.attempt >= 1, (sub.id, j.role, j.attempt)
                assert j.result.get("worker") == names.get(j.worker_id), (sub.id, j.role, j.result.get("worker"),
                                                                         names.get(j.worker_id))
        if sub.status == "Finished":
            assert all(j.status == "done" for j in own), (sub.id, [(j.role, j.status) for j in own])
            assert sub.score is not None and sub.runtime_ms is not None and sub.metrics, sub.id
        else:
            assert not all(j.status == "done" for j in own), (sub.id, sub.status)
    # quota: what the API says each owner used is what the rows hold (no infrastructure failure
    # or cancel counts; every submission is terminal, so only Finished counted ones remain)
    user_names, phase_names = _lookup(db_url)
    for slug, phase in phases:
        for who in users:
            r = http.get(f"/api/challenges/{slug}/phases/{phase}/quota", headers={"Authorization": f"Bearer {tokens[who]}"})
            assert r.status_code == 200, r.text
            used = r.json()["used_total"]
            expected = sum(1 for s in subs if s.status == "Finished" and s.counts_quota
                           and user_names.get(s.user_id) == who and phase_names.get(s.phase_id) == (slug, phase))
            assert used == expected, (slug, phase, who, used, expected)
    counts: dict[str, int] = {}
    for sub in subs:
        counts[sub.status] = counts.get(sub.status, 0) + 1
    return counts


def _lookup(db_url: str):
    from maikit.server.db.models import Challenge, Phase, User
    from maikit.server.db.session import make_engine

    eng = make_engine(db_url)
    try:
        with Session(eng) as s:
            users = {u.id: u.username for u in s.execute(select(User)).scalars()}
            phases = {p.id: (c.slug, p.slug) for p, c in s.execute(select(Phase, Challenge).join(Challenge))}
    finally:
        eng.dispose()
    return users, phases


class Errors(logging.Handler):
    """Log records at ERROR and above (a 500's traceback, an unhandled exception) from any
    logger of this process, while installed: ``with Errors() as errs: ...``."""

    def __init__(self):
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    LOGGERS = ("", "uvicorn")  # uvicorn's own loggers do not propagate to the root

    def __enter__(self):
        for name in self.LOGGERS:
            logging.getLogger(name).addHandler(self)
        return self

    def __exit__(self, *exc):
        for name in self.LOGGERS:
            logging.getLogger(name).removeHandler(self)

    def text(self) -> str:
        return "\n".join(f"{r.name}: {r.getMessage()}" for r in self.records)


def no_500_in_log(text: str) -> None:
    """A server process's log (stderr) holds no traceback and no 500."""
    for bad in ("Traceback", "Exception in ASGI application", " 500 "):
        assert bad not in text, text[-3000:]


class Recorder:
    """An httpx event hook that keeps every answer's status: ``assert recorder.no_5xx_but(503)``."""

    def __init__(self):
        self.statuses: list[tuple[str, int]] = []

    def __call__(self, response: httpx.Response) -> None:
        self.statuses.append((f"{response.request.method} {response.request.url.path}", response.status_code))

    def server_errors(self, allowed=(503,)) -> list[tuple[str, int]]:
        return [(what, code) for what, code in self.statuses if code >= 500 and code not in allowed]


def record(fault: str, outcome: str, recover_s: float | None) -> None:
    """One row of the fault table (benchmarks/fault_suite.py): appended to the JSON-lines file
    named by ``MAI_FAULT_TIMES`` when it is set; nothing otherwise."""
    path = os.environ.get("MAI_FAULT_TIMES")
    if path:
        with open(path, "a") as f:
            f.write(json.dumps({"fault": fault, "outcome": outcome,
                                "recover_s": None if recover_s is None else round(recover_s, 1)}) + "\n")
