"""Workers: register with a worker token (and the device's health check), report health,
claim jobs (long-poll; an unhealthy worker is leased none), list (organisers)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from maikit.server.api.deps import organiser, state, worker_token
from maikit.server.api.params import RowId
from maikit.server.api.schemas import ClaimRequest, WorkerHealth, WorkerRegister, WorkerRegistered
from maikit.server.db.models import ApiToken, User
from maikit.server.services import workers

router = APIRouter(prefix="/api/workers", tags=["workers"])


@router.post("/register", response_model=WorkerRegistered, status_code=201)
def register(body: WorkerRegister, tok: ApiToken = Depends(worker_token), st=Depends(state)) -> WorkerRegistered:
    """Announce a worker: name, roles (fidelity, runtime), device tag (must fit the token's)."""
    w = workers.register(st, tok, name=body.name, roles=list(body.roles), device_tag=body.device_tag,
                         fingerprint=body.fingerprint,
                         health=None if body.health is None else (body.health.ok, body.health.reason))
    return WorkerRegistered(worker_id=w.id, device_tag=w.device_tag, roles=w.roles)


@router.post("/{worker_id}/health", status_code=204)
def report_health(worker_id: RowId, body: WorkerHealth, tok: ApiToken = Depends(worker_token), st=Depends(state)) -> None:
    """The device's latest health check; while it is not ``ok`` the worker is leased no job."""
    workers.report_health(st, tok.id, worker_id, body.ok, body.reason)


@router.post("/claim", responses={200: {"description": "a job with its lease"}, 204: {"description": "no job"}})
async def claim_job(body: ClaimRequest, request: Request, tok: ApiToken = Depends(worker_token), st=Depends(state)):
    """Lease the next job this worker can run, waiting up to ``wait_s`` for one (204 if none);
    none is leased to a worker that hung up meanwhile."""
    job = await workers.claim_waiting(st, body.worker_id, tok.id, body.wait_s, gone=request.is_disconnected)
    return job if job is not None else Response(status_code=204)


@router.get("")
def list_workers(_: User = Depends(organiser), st=Depends(state)) -> list[dict]:
    """Every registered worker with its last contact and device health (organisers)."""
    return workers.list_workers(st)
