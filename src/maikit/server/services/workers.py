"""Workers: register under a worker token (with the device's health check), report health,
claim jobs (a long poll; an unhealthy worker is leased none, nor one that hung up), and the
organisers' view of them (health, last contact, the job each holds, device tags no worker
serves); what a job that no worker can take waits for, and which jobs waited too long."""

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


def serves(w: Worker, role: str, tag: str | None) -> bool:
    """Whether ``w`` may be leased a job of this role and device tag (the claim's rule)."""
    return role in (w.roles or []) and (tag is None or w.device_tag in ("*", tag))


def silent_after_s(lease_s: float) -> float:
    """How long a worker may go unheard before it counts as silent (the devices page's "silent")."""
    return max(120.0, 4 * lease_s)


def _wanted(role: str, tag: str | None) -> str:
    return f"a worker serving device {tag!r}" if tag else f"a worker that runs {role} jobs"


def waiting_for(workers: list[Worker], role: str, tag: str | None, now, lease_s: float) -> str | None:
    """Why no worker takes a queued job of this role and device tag now, in a participant's
    words (none has connected, all failed their health check, all silent); None when one can
    (the job waits its turn in the queue)."""
    able = [w for w in workers if serves(w, role, tag)]
    if not able:
        return f"waiting for {_wanted(role, tag)}: none has connected"
    healthy = [w for w in able if w.healthy]
    if not healthy:
        return f"waiting for {_wanted(role, tag)}: every one failed its device health check"
    last = max(w.last_seen for w in healthy)
    if (now - last).total_seconds() > silent_after_s(lease_s):
        return f"waiting for {_wanted(role, tag)}: none heard from since {last.isoformat()}"
    return None


def waiting_since(job: Job):
    """Since when a queued job waits: its creation, or the start of its last lease."""
    return max(job.created_at, job.started_at) if job.started_at is not None else job.created_at


def submission_waiting(s, sub, limit_s: float, now, lease_s: float) -> str | None:
    """What an active submission's first queued job waits for when no worker can take it, and
    when the submission fails if none comes (:func:`fail_unserved`); None: nothing to say."""
    queued = [j for j in sub.jobs if j.status == JOB_QUEUED]
    if not queued:
        return None
    workers = list(s.execute(select(Worker)).scalars())
    for job in queued:
        why = waiting_for(workers, job.role, job.device_tag, now, lease_s)
        if why:
            by = (waiting_since(job) + timedelta(seconds=limit_s)).isoformat().replace("+00:00", "Z")
            return (f"{why}; if none takes it by {by}, the submission fails as an infrastructure failure "
                    "(no quota used)")
    return None


def unserved_tags(p: Platform) -> list[dict]:
    """The device tags that challenges run on or queued jobs wait for and that no registered
    worker serves (the organisers' devices page): tag, challenges, queued jobs."""
    from maikit.server.challenge import ChallengeDef
    from maikit.server.db.models import Challenge

    with p.db.read() as s:
        workers = list(s.execute(select(Worker)).scalars())
        tags: dict[str, dict] = {}
        for c in s.execute(select(Challenge).order_by(Challenge.slug)).scalars():
            tag = ChallengeDef.model_validate(c.definition).protocol.device
            tags.setdefault(tag, {"tag": tag, "challenges": [], "queued": 0})["challenges"].append(c.slug)
        waiting = (select(Job.device_tag, func.count()).where(Job.status == JOB_QUEUED, Job.device_tag.is_not(None))
                   .group_by(Job.device_tag))
        for tag, n in s.execute(waiting):
            tags.setdefault(tag, {"tag": tag, "challenges": [], "queued": 0})["queued"] = int(n)
    return [t for tag, t in tags.items() if not any(serves(w, "runtime", tag) for w in workers)]


def unserved_jobs(p: Platform) -> list[tuple[int, int, str]]:
    """Queued jobs that waited their phase's ``worker_wait_limit_s`` while no worker that can
    take them (serving their role and device tag, healthy) was heard from in that time:
    (submission id, job id, reason)."""
    from maikit.server.challenge import ChallengeDef
    from maikit.server.db.models import Phase, Submission

    now = p.now()
    out = []
    with p.db.read() as s:
        workers = list(s.execute(select(Worker)).scalars())
        groups = s.execute(select(Job.role, Job.device_tag).where(Job.status == JOB_QUEUED).distinct()).all()
        for role, tag in groups:
            heard = [w.last_seen for w in workers if serves(w, role, tag) and w.healthy]
            last = max(heard) if heard else None
            if last is not None and (now - last).total_seconds() < p.settings.lease_s:
                continue  # a worker for them is about: they wait their turn
            defs: dict[int, float] = {}
            for job, phase in s.execute(select(Job, Phase).join(Submission, Submission.id == Job.submission_id)
                                        .join(Phase, Phase.id == Submission.phase_id)
                                        .where(Job.status == JOB_QUEUED, Job.role == role,
                                               Job.device_tag.is_(None) if tag is None else Job.device_tag == tag)):
                if phase.id not in defs:
                    defs[phase.id] = ChallengeDef.model_validate(phase.challenge.definition).phase(phase.slug).worker_wait_limit_s
                limit = defs[phase.id]
                if (now - waiting_since(job)).total_seconds() < limit:
                    continue
                if last is not None and (now - last).total_seconds() < limit:
                    continue
                out.append((job.submission_id, job.id,
                            f"{job.role}: no worker {'serving device ' + repr(tag) if tag else 'that runs ' + role + ' jobs'} "
                            f"took the {job.role} job within {limit:g} s (the phase's worker_wait_limit_s): an "
                            f"infrastructure failure, no quota used"))
    return out


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
    if age <= silent_after_s(lease_s):
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
