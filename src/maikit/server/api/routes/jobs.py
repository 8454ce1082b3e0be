"""A leased job, addressed with its lease token (``Authorization: Bearer <lease_token>``):
download its file, heartbeat, upload log text, post the result. A lease that is no longer
current (expired and requeued, or already answered) gets 409."""

from __future__ import annotations

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import FileResponse
from fastapi.security import HTTPAuthorizationCredentials

from maikit.server.api.deps import bearer, state
from maikit.server.api.schemas import Heartbeat, JobResult
from maikit.server.db.models import JobLog, Worker
from maikit.server.jobs.queue import extend, job_for_lease

router = APIRouter(prefix="/api/jobs", tags=["jobs"])


def _lease(cred: HTTPAuthorizationCredentials | None) -> str:
    if cred is None:
        raise HTTPException(401, "the job's lease token is needed", headers={"WWW-Authenticate": "Bearer"})
    return cred.credentials


def _held(s, job_id: int, token: str, lock: bool = False):
    job = job_for_lease(s, job_id, token, lock=lock)
    if job is None:
        raise HTTPException(409, f"job {job_id}: this lease is not current (expired, requeued or answered)")
    return job


@router.get("/{job_id}/file", response_class=FileResponse)
def job_file(job_id: int, cred=Depends(bearer), st=Depends(state)):
    """The submitted file this job runs."""
    token = _lease(cred)
    with st.db.read() as s:
        job = _held(s, job_id, token)
        sub = job.submission
        sha = sub.fidelity_sha256 if job.role == "fidelity" else sub.runtime_sha256
    return FileResponse(st.store.path(sha), media_type="application/octet-stream")


@router.post("/{job_id}/heartbeat", response_model=Heartbeat)
def heartbeat(job_id: int, cred=Depends(bearer), st=Depends(state)) -> Heartbeat:
    """Extend the lease; ``cancel`` tells the worker to stop (the submission was cancelled)."""
    token = _lease(cred)
    with st.db.write() as s, s.begin():
        job = _held(s, job_id, token, lock=True)
        extend(s, job, now=st.now(), lease_s=st.settings.lease_s)
        if job.worker_id is not None:
            w = s.get(Worker, job.worker_id)
            if w is not None:
                w.last_seen = st.now()
        return Heartbeat(lease_expires_at=job.lease_expires_at.isoformat(), cancel=bool(job.cancel_requested))


@router.post("/{job_id}/log", status_code=204)
async def append_log(job_id: int, request: Request, cred=Depends(bearer), st=Depends(state)) -> None:
    """Append text (the body, UTF-8) to this attempt's log."""
    from starlette.concurrency import run_in_threadpool

    token = _lease(cred)
    text = (await request.body())[:1_000_000].decode("utf-8", errors="replace")

    def write() -> None:
        with st.db.write() as s, s.begin():
            job = _held(s, job_id, token)
            s.add(JobLog(job_id=job.id, attempt=job.attempt, text=text, created_at=st.now()))

    await run_in_threadpool(write)


@router.post("/{job_id}/result")
def post_result(job_id: int, body: JobResult, cred=Depends(bearer), st=Depends(state)) -> dict:
    """The job's outcome; accepted once, for the current lease only."""
    from maikit.server.jobs.pipeline import apply_result

    token = _lease(cred)
    with st.db.write() as s, s.begin():
        job = _held(s, job_id, token, lock=True)
        apply_result(s, job, body.model_dump(), st.now())
        return {"accepted": True, "job_status": job.status, "submission_status": job.submission.status}
