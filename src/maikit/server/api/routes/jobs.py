"""A leased job, addressed with its lease token (``Authorization: Bearer <lease_token>``):
download its file, heartbeat, upload log text, post the result. A lease that is no longer
current (expired and requeued, or already answered) gets 409."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from maikit.server.api.deps import lease, state
from maikit.server.api.params import RowId
from maikit.server.api.schemas import Heartbeat, JobResult
from maikit.server.services import jobs

router = APIRouter(prefix="/api/jobs", tags=["jobs"])


@router.get("/{job_id}/file", response_class=FileResponse)
def job_file(job_id: RowId, token: str = Depends(lease), st=Depends(state)):
    """The submitted file this job runs."""
    return FileResponse(jobs.job_file(st, job_id, token), media_type="application/octet-stream")


@router.post("/{job_id}/heartbeat", response_model=Heartbeat)
def heartbeat(job_id: RowId, token: str = Depends(lease), st=Depends(state)) -> Heartbeat:
    """Extend the lease; ``cancel`` tells the worker to stop (the submission was cancelled)."""
    expires, cancel = jobs.heartbeat(st, job_id, token)
    return Heartbeat(lease_expires_at=expires, cancel=cancel)


@router.post("/{job_id}/log", status_code=204)
async def append_log(job_id: RowId, request: Request, token: str = Depends(lease), st=Depends(state)) -> None:
    """Append text (the body, UTF-8, at most the ``job_log_kb`` setting) to this attempt's log.
    The lease is checked before any of the body is read."""
    await run_in_threadpool(jobs.check_lease, st, job_id, token)
    await run_in_threadpool(jobs.append_log, st, job_id, token, await request.body())


@router.post("/{job_id}/result", openapi_extra={"requestBody": {"required": True, "content": {
    "application/json": {"schema": JobResult.model_json_schema(ref_template="#/components/schemas/{model}")}}}})
async def post_result(job_id: RowId, request: Request, token: str = Depends(lease), st=Depends(state)) -> dict:
    """The job's outcome (a :class:`JobResult`); accepted once, for the current lease only. The
    lease is checked before the body is read."""
    await run_in_threadpool(jobs.check_lease, st, job_id, token)
    raw = await request.body()
    try:
        body = JobResult.model_validate_json(raw)
    except ValidationError as e:  # a 422 naming each field; the lease is taken back (the job requeued) all the same
        errors = [{**err, "loc": ("body", *err["loc"])} for err in e.errors(include_url=False)]
        problem = "; ".join(f"{'.'.join(str(x) for x in err['loc'][1:]) or 'body'}: {err['msg']}" for err in errors)
        await run_in_threadpool(jobs.unreadable_result, st, job_id, token, problem)
        raise RequestValidationError(errors)
    return await run_in_threadpool(jobs.post_result, st, job_id, token, body.model_dump())
