"""The job queue: claim with a lease, heartbeat, result for the current lease only, requeue.

A job is ``queued`` -> ``leased`` (worker, lease hash, expiry, attempt) -> ``done`` |
``failed`` | ``cancelled``. A claim is one UPDATE of the oldest matching queued row; on
PostgreSQL its sub-select takes the row with ``FOR UPDATE SKIP LOCKED``, so concurrent
claims (several server processes) never get the same job; SQLite runs writers one at a
time. The pick locks the job's submission too (a claim marks it Running), skipping a job
whose submission another transaction holds: locks are taken submission first elsewhere
(:mod:`maikit.server.jobs.pipeline`), so a claim never waits in the opposite order.

A new lease lasts until its first heartbeat is due (``first_s``), then a lease from each
heartbeat; a lease whose claim was answered to a client that had hung up is given back at
once (:func:`give_back`). A lease that expires without a heartbeat puts the job back
(attempt + 1) until ``max_attempts`` leases were lost; then it fails as an infrastructure
failure. A server that starts gives every lease one lease from its start (:func:`resume`): a
server that was down longer than a lease keeps the work its workers finished meanwhile.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import Session

from maikit.server.core.security import hash_token, new_token
from maikit.server.db.models import JOB_CANCELLED, JOB_FAILED, JOB_LEASED, JOB_QUEUED, Job, Submission


def claim(s: Session, *, worker_id: int, roles: list[str], device_tag: str, now: datetime, lease_s: float,
          first_s: float | None = None) -> tuple[Job, str] | None:
    """Lease the oldest queued job for these roles and device; (job, lease token) or None. The
    lease runs ``first_s`` (at most ``lease_s``) until the worker's first heartbeat extends it."""
    tag_ok = or_(Job.device_tag.is_(None), Job.device_tag == device_tag) if device_tag != "*" else True
    pick = (select(Job.id).join(Submission, Submission.id == Job.submission_id)
            .where(Job.status == JOB_QUEUED, Job.role.in_(roles), tag_ok).order_by(Job.id).limit(1))
    if s.get_bind().dialect.name == "postgresql":
        pick = pick.with_for_update(skip_locked=True)
    token = new_token("mai_l_")
    stmt = (update(Job).where(Job.id == pick.scalar_subquery(), Job.status == JOB_QUEUED)
            .values(status=JOB_LEASED, worker_id=worker_id, lease_hash=hash_token(token),
                    lease_expires_at=now + timedelta(seconds=min(lease_s, first_s or lease_s)),
                    attempt=Job.attempt + 1,
                    started_at=now)
            .returning(Job.id))
    job_id = s.execute(stmt).scalar_one_or_none()
    if job_id is None:
        return None
    return s.get(Job, job_id), token


def job_for_lease(s: Session, job_id: int, lease_token: str, *, lock: bool = False) -> Job | None:
    """The job if ``lease_token`` is its current lease (and the job is still leased)."""
    q = select(Job).where(Job.id == job_id, Job.lease_hash == hash_token(lease_token), Job.status == JOB_LEASED)
    if lock:
        q = q.with_for_update()
    return s.execute(q).scalar_one_or_none()


def extend(s: Session, job: Job, *, now: datetime, lease_s: float) -> None:
    job.lease_expires_at = now + timedelta(seconds=lease_s)


def resume(s: Session, *, now: datetime, lease_s: float) -> int:
    """On server start: every lease runs at least until ``now + lease_s``; how many were extended.

    Its worker could not heartbeat or post while the server was down, so a lease that ran
    out during the outage says nothing about the worker: it gets one lease from the start
    to come back (a heartbeat, or the result from its outbox). A worker that is gone is
    still found out one lease later, and its job requeued. Results count only for the
    current lease, as always, so no job is done twice.
    """
    until = now + timedelta(seconds=lease_s)
    r = s.execute(update(Job).where(Job.status == JOB_LEASED,
                                    or_(Job.lease_expires_at.is_(None), Job.lease_expires_at < until))
                  .values(lease_expires_at=until))
    return r.rowcount


def expired(s: Session, now: datetime) -> list[Job]:
    """Leased jobs whose lease ran out, each locked with its submission on PostgreSQL (skipped
    while another transaction holds either: another reaper, a result being stored)."""
    q = (select(Job).join(Submission, Submission.id == Job.submission_id)
         .where(and_(Job.status == JOB_LEASED, Job.lease_expires_at < now)).order_by(Job.id))
    if s.get_bind().dialect.name == "postgresql":
        q = q.with_for_update(skip_locked=True)
    return list(s.execute(q).scalars())


def give_back(job: Job) -> None:
    """A lease its worker never received (it hung up while the claim was answered): the job is
    queued again as before the claim, the attempt not counted."""
    job.status, job.attempt = JOB_QUEUED, max(0, job.attempt - 1)
    job.worker_id, job.lease_hash, job.lease_expires_at = None, None, None
    if job.attempt == 0:
        job.started_at = None


def requeue_or_fail(job: Job, now: datetime) -> bool:
    """Put an expired job back in the queue; False (and failed) when its attempts are used up."""
    job.lease_hash, job.worker_id, job.lease_expires_at = None, None, None
    if job.cancel_requested:
        job.status, job.finished_at = JOB_CANCELLED, now
        return True
    if job.attempt >= job.max_attempts:
        job.status, job.finished_at = JOB_FAILED, now
        job.error = f"the worker stopped answering {job.attempt} times (lease expired); infrastructure failure"
        return False
    job.status = JOB_QUEUED
    return True
