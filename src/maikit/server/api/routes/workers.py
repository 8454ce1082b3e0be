"""Workers: register with a worker token (and the device's health check), report health,
claim jobs (long-poll; an unhealthy worker is leased none), list (organisers)."""

from __future__ import annotations

import asyncio
import time

from fastapi import APIRouter, Depends, HTTPException
from fastapi.responses import Response
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from maikit.server.api.deps import organiser, state, worker_token
from maikit.server.api.schemas import ClaimRequest, WorkerHealth, WorkerRegister, WorkerRegistered
from maikit.server.db.models import JOB_QUEUED, ApiToken, Job, User, Worker

router = APIRouter(prefix="/api/workers", tags=["workers"])
POLL_S = 0.2


@router.post("/register", response_model=WorkerRegistered, status_code=201)
def register(body: WorkerRegister, tok: ApiToken = Depends(worker_token), st=Depends(state)) -> WorkerRegistered:
    """Announce a worker: name, roles (fidelity, runtime), device tag (must fit the token's)."""
    if tok.device_tag not in ("*", body.device_tag):
        raise HTTPException(403, f"this worker token serves device {tok.device_tag!r}, not {body.device_tag!r}")
    with st.db.write() as s, s.begin():
        w = Worker(name=body.name, token_id=tok.id, device_tag=body.device_tag, roles=list(body.roles),
                   fingerprint=body.fingerprint, registered_at=st.now(), last_seen=st.now())
        if body.health is not None:
            _set_health(w, body.health, st.now())
        s.add(w)
        s.flush()
        return WorkerRegistered(worker_id=w.id, device_tag=w.device_tag, roles=w.roles)


def _set_health(w: Worker, h: WorkerHealth, now) -> None:
    w.healthy, w.health_checked_at = bool(h.ok), now
    w.health_reason = None if h.ok else (h.reason or "health check failed")


@router.post("/{worker_id}/health", status_code=204)
def report_health(worker_id: int, body: WorkerHealth, tok: ApiToken = Depends(worker_token), st=Depends(state)) -> None:
    """The device's latest health check; while it is not ``ok`` the worker is leased no job."""
    with st.db.write() as s, s.begin():
        w = s.get(Worker, worker_id)
        if w is None or w.token_id != tok.id:
            raise HTTPException(404, f"no worker {worker_id} for this token")
        _set_health(w, body, st.now())
        w.last_seen = st.now()


def _try_claim(st, worker_id: int, token_id: int):
    from maikit.server.jobs.pipeline import job_payload, mark_running
    from maikit.server.jobs.queue import claim

    with st.db.read() as s:
        w = s.get(Worker, worker_id)
        if w is None or w.token_id != token_id:
            raise HTTPException(404, f"no worker {worker_id} for this token")
        roles, tag = list(w.roles), w.device_tag
        if not w.healthy:
            return None  # its device failed its health check: no job until it reports healthy
        waiting = s.execute(select(Job.id).where(Job.status == JOB_QUEUED, Job.role.in_(roles)).limit(1)).first()
    if waiting is None:
        return None
    with st.db.write() as s, s.begin():
        got = claim(s, worker_id=worker_id, roles=roles, device_tag=tag, now=st.now(), lease_s=st.settings.lease_s)
        w = s.get(Worker, worker_id)
        w.last_seen = st.now()
        if got is None:
            return None
        job, token = got
        mark_running(s, job)
        return job_payload(job, token, st.settings.lease_s)


@router.post("/claim", responses={200: {"description": "a job with its lease"}, 204: {"description": "no job"}})
async def claim_job(body: ClaimRequest, tok: ApiToken = Depends(worker_token), st=Depends(state)):
    """Lease the next job this worker can run, waiting up to ``wait_s`` for one (204 if none)."""
    deadline = time.monotonic() + min(body.wait_s, st.settings.claim_wait_s)
    while True:
        job = await run_in_threadpool(_try_claim, st, body.worker_id, tok.id)
        if job is not None:
            return job
        if time.monotonic() >= deadline:
            return Response(status_code=204)
        await asyncio.sleep(POLL_S)


@router.get("")
def list_workers(_: User = Depends(organiser), st=Depends(state)) -> list[dict]:
    """Every registered worker with its last contact and device health (organisers)."""
    with st.db.read() as s:
        return [{"id": w.id, "name": w.name, "device_tag": w.device_tag, "roles": w.roles, "fingerprint": w.fingerprint,
                 "registered_at": w.registered_at.isoformat(), "last_seen": w.last_seen.isoformat(),
                 "healthy": w.healthy, "health_reason": w.health_reason,
                 "health_checked_at": w.health_checked_at.isoformat() if w.health_checked_at else None}
                for w in s.execute(select(Worker).order_by(Worker.id)).scalars()]
