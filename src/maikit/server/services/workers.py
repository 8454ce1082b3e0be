"""Workers: register under a worker token (with the device's health check), report health,
claim jobs (a long poll; an unhealthy worker is leased none, nor one that hung up), and the organisers' view of
them (health, last contact, the job each holds)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta

import anyio.to_thread
from sqlalchemy import func, select

from maikit.server.db.models import JOB_LEASED, JOB_QUEUED, QUEUED, RUNNING, ApiToken, Job, Worker
from maikit.server.errors import Forbidden, NotFound
from maikit.server.jobs.pipeline import job_payload, lock_submission, mark_running
from maikit.server.jobs.queue import claim, job_for_lease
from maikit.server.jobs.queue import give_back as give_back_lease
from maikit.server.state import Platform

log = logging.getLogger("maikit.server")
POLL_S = 0.2  # how often a waiting claim looks at the queue again


def _set_health(w: Worker, ok: bool, reason: str | None, now) -> None:
    w.healthy, w.health_checked_at = bool(ok), now
    w.health_reason = None if ok else (reason or "health check failed")


def register(p: Platform, token: ApiToken, *, name: str, roles: list[str], device_tag: str, fingerprint: dict,
             health: tuple[bool, str | None] | None = None) -> Worker:
    """A new worker under ``token``, whose device tag must fit the token's; ``health`` is the
    device's check on start, (ok, reason) (None: no device to check)."""
    if token.device_tag not in ("*", device_tag):
        raise Forbidden(f"this worker token serves device {token.device_tag!r}, not {device_tag!r}")
    with p.db.write() as s, s.begin():
        w = Worker(name=name, token_id=token.id, device_tag=device_tag, roles=list(roles), fingerprint=fingerprint,
                   registered_at=p.now(), last_seen=p.now())
        if health is not None:
            _set_health(w, *health, p.now())
        s.add(w)
        s.flush()
        return w


def _own_worker(s, worker_id: int, token_id: int) -> Worker:
    w = s.get(Worker, worker_id)
    if w is None or w.token_id != token_id:
        raise NotFound(f"no worker {worker_id} for this token")
    return w


def report_health(p: Platform, token_id: int, worker_id: int, ok: bool, reason: str | None) -> None:
    """The device's latest health check; while it is not ``ok`` the worker is leased no job."""
    with p.db.write() as s, s.begin():
        w = _own_worker(s, worker_id, token_id)
        _set_health(w, ok, reason, p.now())
        w.last_seen = p.now()


def try_claim(p: Platform, worker_id: int, token_id: int) -> dict | None:
    """Lease the next job this worker can run now: its payload (:func:`job_payload`), or None."""
    with p.db.read() as s:
        w = _own_worker(s, worker_id, token_id)
        roles, tag = list(w.roles), w.device_tag
        if not w.healthy:
            return None  # its device failed its health check: no job until it reports healthy
        waiting = s.execute(select(Job.id).where(Job.status == JOB_QUEUED, Job.role.in_(roles)).limit(1)).first()
    if waiting is None:
        return None
    with p.db.write() as s, s.begin():
        got = claim(s, worker_id=worker_id, roles=roles, device_tag=tag, now=p.now(), lease_s=p.settings.lease_s,
                    first_s=p.settings.first_heartbeat_s)
        w = s.get(Worker, worker_id)
        w.last_seen = p.now()
        if got is None:
            return None
        job, token = got
        mark_running(s, job)
        return job_payload(job, token, p.settings.lease_s)


def give_back(p: Platform, job_id: int, lease_token: str) -> None:
    """Queue again a job whose claim was answered to a worker that had hung up (its attempt not
    counted; the submission Queued again if no other job of it runs)."""
    with p.db.write() as s, s.begin():
        sub_id = s.scalar(select(Job.submission_id).where(Job.id == job_id))
        if sub_id is None:
            return
        sub = lock_submission(s, sub_id)
        job = job_for_lease(s, job_id, lease_token, lock=True)
        if job is None:
            return
        give_back_lease(job)
        if sub.status == RUNNING and not any(j.status == JOB_LEASED for j in sub.jobs):
            sub.status, sub.stage = QUEUED, None


async def claim_waiting(p: Platform, worker_id: int, token_id: int, wait_s: float,
                        gone: Callable[[], Awaitable[bool]] | None = None) -> dict | None:
    """:func:`try_claim`, again every ``POLL_S`` for up to ``wait_s`` (at most the
    ``claim_wait_s`` setting) until a job comes; None if none did. Each try runs in a thread.

    ``gone`` says whether the worker hung up (its connection closed): no job is leased to a
    worker that is gone. It is asked before each try, and again once a job was leased, since
    the worker may hang up while the lease is written: then the lease is given back at once
    (:func:`give_back`, the attempt not counted) rather than left to expire. A worker that
    hangs up after that check, while the answer is on its way, is found out by its missing
    first heartbeat (the ``first_heartbeat_s`` setting)."""
    deadline = time.monotonic() + min(wait_s, p.settings.claim_wait_s)
    while True:
        if gone is not None and await gone():
            return None
        job = await anyio.to_thread.run_sync(try_claim, p, worker_id, token_id)
        if job is not None and gone is not None and await gone():
            await anyio.to_thread.run_sync(give_back, p, job["job_id"], job["lease_token"])
            log.info("worker %d hung up while job %d was leased to it: given back", worker_id, job["job_id"])
            return None
        if job is not None or time.monotonic() >= deadline:
            return job
        await asyncio.sleep(POLL_S)


def list_workers(p: Platform) -> list[dict]:
    """Every registered worker with its last contact and device health (organisers)."""
    with p.db.read() as s:
        return [{"id": w.id, "name": w.name, "device_tag": w.device_tag, "roles": w.roles, "fingerprint": w.fingerprint,
                 "registered_at": w.registered_at.isoformat(), "last_seen": w.last_seen.isoformat(),
                 "healthy": w.healthy, "health_reason": w.health_reason,
                 "health_checked_at": w.health_checked_at.isoformat() if w.health_checked_at else None}
                for w in s.execute(select(Worker).order_by(Worker.id)).scalars()]


def tags_without_worker(p: Platform, tags: list[str]) -> list[str]:
    """The device tags among ``tags`` that no registered worker with the runtime role serves
    (runtime jobs for them wait until one registers), in the order given."""
    with p.db.read() as s:
        served = {tag for tag, roles in s.execute(select(Worker.device_tag, Worker.roles)) if "runtime" in (roles or [])}
    return [t for t in dict.fromkeys(tags) if t not in served]


def worker_health(w: Worker, job: Job | None, now, lease_s: float) -> tuple[str, str]:
    """(state, words): unhealthy when its device failed its health check; busy while its lease
    is current; idle when heard from recently; silent otherwise."""
    age = (now - w.last_seen).total_seconds()
    if not w.healthy:
        return "bad", f"unhealthy, takes no jobs: {w.health_reason or 'health check failed'}"
    if job is not None and job.lease_expires_at is not None and job.lease_expires_at >= now:
        return "ok", "busy, lease current"
    if job is not None:
        return "bad", "lease expired: the job goes back to the queue"
    if age <= max(120.0, 4 * lease_s):
        return "ok", "idle"
    return "warn", f"silent for {timedelta(seconds=int(age))}"


def devices(p: Platform) -> tuple[list[dict], int]:
    """Every worker with the job it holds, its state (:func:`worker_health`) and fingerprint;
    and how many jobs are queued."""
    now = p.now()
    with p.db.read() as s:
        rows = []
        for w in s.execute(select(Worker).order_by(Worker.id)).scalars():
            job = s.execute(select(Job).where(Job.worker_id == w.id, Job.status == JOB_LEASED).order_by(Job.id.desc())
                            .limit(1)).scalar_one_or_none()
            state, words = worker_health(w, job, now, p.settings.lease_s)
            rows.append({"w": w, "job": job, "state": state, "words": words,
                         "age_s": (now - w.last_seen).total_seconds(), "fp": w.fingerprint or {}})
        queued = s.scalar(select(func.count()).select_from(Job).where(Job.status == JOB_QUEUED))
    return rows, queued
