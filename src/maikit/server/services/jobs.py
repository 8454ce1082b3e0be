"""A leased job, addressed by its lease token: the file it runs, heartbeats, log text, the
result (all for the current lease only: Conflict otherwise), and the lease upkeep of the
server (expired leases requeued, every lease resumed when the server starts, submissions whose
status contradicts their jobs repaired). The queue and the submission pipeline beneath are
:mod:`maikit.server.jobs`."""

from __future__ import annotations

import logging
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from maikit.server.db.faults import database_away
from maikit.server.db.models import ACTIVE_STATUSES, FAULT_INFRA, JOB_LEASED, JOB_QUEUED, Job, JobLog, Worker
from maikit.server.errors import Conflict, Invalid
from maikit.server.jobs.pipeline import (apply_result, contradicting, fail_job, lock_submission, reap, repair,
                                         result_problem, unusable_result)
from maikit.server.jobs.queue import extend, job_for_lease, resume
from maikit.server.state import Platform

log = logging.getLogger("maikit.server")
LOG_LIMIT = 1_000_000  # bytes of log text kept per post


def held(s: Session, job_id: int, lease_token: str, lock: bool = False) -> Job:
    """The job if ``lease_token`` is its current lease; Conflict otherwise."""
    job = job_for_lease(s, job_id, lease_token, lock=lock)
    if job is None:
        raise Conflict(f"job {job_id}: this lease is not current (expired, requeued or answered)")
    return job


def check_lease(p: Platform, job_id: int, lease_token: str) -> None:
    """Conflict unless ``lease_token`` is the job's current lease (before a body is read)."""
    with p.db.read() as s:
        held(s, job_id, lease_token)


def job_file(p: Platform, job_id: int, lease_token: str) -> Path:
    """The submitted file this job runs."""
    with p.db.read() as s:
        job = held(s, job_id, lease_token)
        sub = job.submission
        sha = sub.fidelity_sha256 if job.role == "fidelity" else sub.runtime_sha256
    return p.store.path(sha)


def heartbeat(p: Platform, job_id: int, lease_token: str) -> tuple[str, bool]:
    """Extend the lease: (new expiry, ISO 8601; whether the worker should stop: cancelled)."""
    with p.db.write() as s, s.begin():
        job = held(s, job_id, lease_token, lock=True)
        extend(s, job, now=p.now(), lease_s=p.settings.lease_s)
        if job.worker_id is not None:
            w = s.get(Worker, job.worker_id)
            if w is not None:
                w.last_seen = p.now()
        return job.lease_expires_at.isoformat(), bool(job.cancel_requested)


def append_log(p: Platform, job_id: int, lease_token: str, data: bytes) -> None:
    """Append text (UTF-8, the first ``LOG_LIMIT`` bytes) to this attempt's log."""
    text = data[:LOG_LIMIT].decode("utf-8", errors="replace")
    with p.db.write() as s, s.begin():
        job = held(s, job_id, lease_token)
        s.add(JobLog(job_id=job.id, attempt=job.attempt, text=text, created_at=p.now()))


def post_result(p: Platform, job_id: int, lease_token: str, result: dict) -> dict:
    """The job's outcome (``ok``, ``result``, ``reason``, ``fault``); accepted once, for the
    current lease only. A result that says ``ok`` without the values its role measures (or
    with values that are not numbers) is refused (Invalid, naming what is missing) and the
    lease taken back at once: the job goes back to the queue for another attempt (the model
    is not at fault, another worker may measure it; the attempts are bounded, so a broken
    worker cannot loop), and fails as an infrastructure failure once its attempts are used up
    (:func:`~maikit.server.jobs.pipeline.unusable_result`)."""
    with p.db.write() as s, s.begin():
        sub_id = s.scalar(select(Job.submission_id).where(Job.id == job_id))
        if sub_id is not None:
            lock_submission(s, sub_id)  # the submission first, then the job: one lock order everywhere
        job = held(s, job_id, lease_token, lock=True)
        problem = result_problem(job, result)
        if problem is None:
            apply_result(s, job, result, p.now())
            return {"accepted": True, "job_status": job.status, "submission_status": job.submission.status}
        outcome = unusable_result(s, job, problem, p.now())
    log.warning("job %d: unusable result (%s); the job %s", job_id, problem, outcome)
    raise Invalid(f"job {job_id}: the result says ok but {problem}; the job {outcome}")


def unreadable_result(p: Platform, job_id: int, lease_token: str, problem: str) -> None:
    """A result body that is not a result (``problem``: what the schema found wrong): the lease is
    taken back at once, as for an unusable one (:func:`post_result`), and the caller answers 422."""
    with p.db.write() as s, s.begin():
        sub_id = s.scalar(select(Job.submission_id).where(Job.id == job_id))
        if sub_id is not None:
            lock_submission(s, sub_id)
        job = job_for_lease(s, job_id, lease_token, lock=True)
        if job is None:
            return  # answered or requeued meanwhile: nothing to take back
        outcome = unusable_result(s, job, problem, p.now())
    log.warning("job %d: unreadable result (%s); the job %s", job_id, problem, outcome)


def queue_counts(p: Platform) -> tuple[int, int]:
    """(queued, leased) jobs now."""
    with p.db.read() as s:
        counts = dict(s.execute(select(Job.status, func.count()).where(Job.status.in_((JOB_QUEUED, JOB_LEASED)))
                                .group_by(Job.status)).all())
    return counts.get(JOB_QUEUED, 0), counts.get(JOB_LEASED, 0)


def reap_once(p: Platform) -> int:
    """Requeue the jobs whose lease expired (fail those out of attempts); how many.

    After a database outage (noticed by a request or by this reaper: :meth:`Platform.database_down`)
    the first round that reaches the database again reaps nothing: it gives every lease one
    lease from now instead (:func:`resume_leases`), as a server start does. A worker could not
    heartbeat or post its result while the database was away, so a lease that ran out then says
    nothing about the worker; it has one lease to deliver (from its outbox) or heartbeat."""
    mark = p.outage_pending()
    if mark is not None:
        resume_leases(p, after="the database is back")
        p.outage_answered(mark)
        return 0
    with p.db.write() as s, s.begin():
        return reap(s, p.now())


def resume_leases(p: Platform, after: str = "server start") -> int:
    """The server starts (or the database is back after an outage): leases that were current
    when it stopped run one lease from now."""
    with p.db.write() as s, s.begin():
        n = resume(s, now=p.now(), lease_s=p.settings.lease_s)
    if n or after != "server start":
        log.info("%s: %d leased job(s) get %g s for their workers to come back", after, n, p.settings.lease_s)
    return n


def fail_unserved(p: Platform) -> int:
    """Fail (an infrastructure failure, no quota used) every submission whose job waited its
    phase's ``worker_wait_limit_s`` with no worker that could take it
    (:func:`~maikit.server.services.workers.unserved_jobs`); how many."""
    from maikit.server.services.workers import unserved_jobs

    failed = 0
    for sub_id, job_id, reason in unserved_jobs(p):
        with p.db.write() as s, s.begin():
            sub = lock_submission(s, sub_id)
            job = next((j for j in sub.jobs if j.id == job_id and j.status == JOB_QUEUED), None)
            if job is None or sub.status not in ACTIVE_STATUSES:
                continue  # taken or ended meanwhile
            fail_job(s, job, reason, FAULT_INFRA, p.now())
        failed += 1
        log.warning("submission %d failed: %s", sub_id, reason)
    return failed


def repair_once(p: Platform) -> int:
    """Find every submission whose status contradicts its jobs and put it right
    (:func:`~maikit.server.jobs.pipeline.repair`: finished, failed or requeued), each in a
    transaction of its own under the submission's lock, with a log line saying what was
    repaired; how many were."""
    with p.db.read() as s:
        candidates = contradicting(s)
    repaired = 0
    for sub_id in candidates:
        try:
            with p.db.write() as s, s.begin():
                sub = lock_submission(s, sub_id)
                what = repair(s, sub, p.now(), p.settings.max_attempts)
        except Exception as e:  # one that cannot be repaired now does not hold up the others
            if database_away(e):
                raise  # an outage: the reaper says so once and tries again next round
            log.exception("repair of submission %d", sub_id)
            continue
        if what:
            repaired += 1
            log.warning("repaired submission %d: %s", sub_id, what)
    return repaired
