"""Submissions: upload with preflight and quota, read, logs, files (organisers), cancel,
re-run, select."""

from __future__ import annotations

from functools import partial

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import FileResponse, JSONResponse

from maikit.server.api.deps import organiser, state, user
from maikit.server.api.params import RowId
from maikit.server.api.schemas import SubmissionPublic
from maikit.server.db.models import User
from maikit.server.factsheet import FACTSHEET_MAX_BYTES
from maikit.server.services import submissions
from maikit.server.services.quota import phase_usage

router = APIRouter(prefix="/api", tags=["submissions"])


@router.post("/challenges/{slug}/phases/{phase}/submissions", response_model=SubmissionPublic, status_code=201,
             responses={413: {"description": "file over the challenge's upload cap"},
                        422: {"description": "preflight rejected the file (reason in detail)"},
                        429: {"description": "quota exhausted"}, 403: {"description": "phase closed"}})
async def create_submission(slug: str, phase: str, request: Request,
                            file: UploadFile = File(..., description="model.tflite (runtime), or the one file for both"),
                            fidelity_file: UploadFile | None = File(None, description="model_none.tflite (fidelity), optional"),
                            description: str = Form("", max_length=2000, description="what this model is (shown to you and the organisers)"),
                            code_file: UploadFile | None = File(None, description="the code archive (.zip, .tar[.gz|.bz2|.xz]) of a phase that takes one"),
                            factsheet_file: UploadFile | None = File(None, description="the factsheet (YAML or JSON) of a phase that takes one"),
                            u: User = Depends(user), st=Depends(state)):
    """Upload a model: preflight at once (free), then quota, then the fidelity and runtime jobs.
    A phase with a bundle takes the code archive and the factsheet too (preflight names what is missing)."""
    sheet = await factsheet_file.read(FACTSHEET_MAX_BYTES + 1) if factsheet_file is not None else None
    up = await st.run_upload(partial(submissions.submit_upload, code_file=code_file.file if code_file is not None else None,
                                     factsheet=sheet),
                             st, u, slug, phase, file.file, fidelity_file.file if fidelity_file is not None else None,
                             request.headers.get("content-length"), description)
    if not up.ok:
        return JSONResponse({"detail": up.detail, "submission_id": up.submission_id}, status_code=422)
    return up.public


@router.get("/challenges/{slug}/phases/{phase}/submissions", response_model=list[SubmissionPublic])
def list_submissions(slug: str, phase: str, u: User = Depends(user), st=Depends(state)) -> list[SubmissionPublic]:
    """Your submissions in a phase (an organiser: everyone's), newest first."""
    return submissions.list_submissions(st, slug, phase, u)


@router.get("/challenges/{slug}/phases/{phase}/quota")
def read_quota(slug: str, phase: str, u: User = Depends(user), st=Depends(state)) -> dict:
    """Your use of the phase's quota and when the daily count resets (UTC midnight)."""
    return phase_usage(st, slug, phase, u).to_dict()


@router.get("/submissions/{sub_id}", response_model=SubmissionPublic)
def read_submission(sub_id: RowId, u: User = Depends(user), st=Depends(state)) -> SubmissionPublic:
    return submissions.read_submission(st, sub_id, u)


@router.get("/submissions/{sub_id}/logs")
def read_logs(sub_id: RowId, u: User = Depends(user), st=Depends(state)) -> dict:
    """The log of every stage (preflight verdict, then each job's attempts)."""
    return {"submission_id": sub_id, "stages": submissions.read_logs(st, sub_id, u)}


@router.get("/submissions/{sub_id}/files/{role}", response_class=FileResponse)
def download_file(sub_id: RowId, role: str, _: User = Depends(organiser), st=Depends(state)):
    """A submitted file (organisers only): ``runtime``, ``fidelity`` or ``code`` (the bundle's code archive)."""
    path, name = submissions.stored_file(st, sub_id, role)
    return FileResponse(path, media_type="application/octet-stream", filename=name)


@router.post("/submissions/{sub_id}/cancel", response_model=SubmissionPublic)
def cancel(sub_id: RowId, u: User = Depends(user), st=Depends(state)) -> SubmissionPublic:
    """Cancel: your own (or your team's) queued or running submission, the quota given back;
    an organiser, any submission in any status."""
    return submissions.cancel(st, sub_id, u)


@router.post("/submissions/{sub_id}/rerun", response_model=SubmissionPublic, status_code=201)
def rerun(sub_id: RowId, u: User = Depends(organiser), st=Depends(state)) -> SubmissionPublic:
    """Run the same files again as a new submission (``parent_id`` = this one; no quota)."""
    return submissions.rerun(st, sub_id, u)


@router.post("/submissions/{sub_id}/select", response_model=SubmissionPublic)
def select_for_board(sub_id: RowId, u: User = Depends(user), st=Depends(state)) -> SubmissionPublic:
    """Choose this submission for a phase ranked by ``selected`` (one per participant)."""
    return submissions.select_for_board(st, sub_id, u)
