"""Submissions: upload with preflight and quota, read, logs, files (organisers), cancel,
re-run, select."""

from __future__ import annotations

from functools import partial

from fastapi import APIRouter, Depends, Request
from fastapi.responses import FileResponse, JSONResponse
from starlette.concurrency import run_in_threadpool

from maikit.server.api.bodies import declared_length
from maikit.server.api.deps import client_address, organiser, state, user
from maikit.server.api.params import RowId
from maikit.server.api.schemas import SubmissionPublic
from maikit.server.api.uploads import Part, receive_form
from maikit.server.db.models import User
from maikit.server.errors import Invalid, TooLarge
from maikit.server.factsheet import FACTSHEET_MAX_BYTES
from maikit.server.services import submissions
from maikit.server.services.quota import phase_usage

router = APIRouter(prefix="/api", tags=["submissions"])


_FORM = {"multipart/form-data": {"schema": {"type": "object", "required": ["file"], "properties": {
    "file": {"type": "string", "format": "binary", "description": "model.tflite (runtime), or the one file for both"},
    "fidelity_file": {"type": "string", "format": "binary", "description": "model_none.tflite (fidelity), optional"},
    "code_file": {"type": "string", "format": "binary",
                  "description": "the code archive (.zip, .tar[.gz|.bz2|.xz]) of a phase that takes one"},
    "factsheet_file": {"type": "string", "format": "binary", "description": "the factsheet (YAML or JSON) of a phase that takes one"},
    "description": {"type": "string", "maxLength": 2000, "description": "what this model is (shown to you and the organisers)"}}}}}


def upload_parts(terms: submissions.UploadTerms) -> dict[str, Part]:
    """The fields an upload to a phase takes, each under its cap (the API's and the page's)."""
    model = f"larger than the challenge's cap of {terms.upload_cap_mb:g} MB"
    parts = {"file": Part(terms.file_cap, True, f"runtime file {model}"),
             "fidelity_file": Part(terms.file_cap, True, f"fidelity file {model}"),
             "description": Part(8000, False, "description longer than 2000 characters")}
    # a phase without a bundle still reads these parts (under the model's cap) to refuse them by name
    code_cap = terms.code_cap if terms.code_cap is not None else terms.file_cap
    parts["code_file"] = Part(code_cap, True, f"code archive larger than the phase's cap of {code_cap / 1e6:g} MB")
    parts["factsheet_file"] = Part(FACTSHEET_MAX_BYTES + 1, False, f"a factsheet is at most {FACTSHEET_MAX_BYTES // 1000} KB")
    return parts


async def upload_terms(request: Request, st, u: User, slug: str, phase: str) -> submissions.UploadTerms:
    """What an upload to the phase may carry, once the caller is known and the phase takes
    uploads from them; 413 at once when the declared length is over the phase's limit."""
    terms = await run_in_threadpool(submissions.upload_terms, st, u, slug, phase)
    declared = declared_length(request.scope)
    if declared is not None and declared > terms.body_limit:
        raise TooLarge(f"upload larger than the challenge's cap of {terms.upload_cap_mb:g} MB per file "
                       f"({terms.body_limit} bytes in all with what the phase takes beside the model)")
    return terms


async def received_upload(request: Request, st, terms: submissions.UploadTerms, extra: dict[str, Part] | None = None):
    """The upload's form, each part streamed under its cap into the store's temporary folder
    (:mod:`maikit.server.api.uploads`)."""
    return await receive_form(request, {**upload_parts(terms), **(extra or {})}, st.store, terms.body_limit,
                              st.settings.upload_idle_s)


@router.post("/challenges/{slug}/phases/{phase}/submissions", response_model=SubmissionPublic, status_code=201,
             openapi_extra={"requestBody": {"required": True, "content": _FORM}},
             responses={413: {"description": "file over the challenge's upload cap"},
                        422: {"description": "preflight rejected the file (reason in detail)"},
                        429: {"description": "quota exhausted, or too many uploads at once (Retry-After)"},
                        403: {"description": "phase closed"},
                        507: {"description": "the server cannot store uploads right now"}})
async def create_submission(slug: str, phase: str, request: Request, u: User = Depends(user), st=Depends(state)):
    """Upload a model: preflight at once (free), then quota, then the fidelity and runtime jobs.
    A phase with a bundle takes the code archive and the factsheet too (preflight names what is missing).
    The token is checked before any of the body is read; each file streams to the store under its cap."""
    terms = await upload_terms(request, st, u, slug, phase)
    async with st.upload_turn(u.id, client_address(request)):
        form = await received_upload(request, st, terms)
        try:
            up = await st.run_upload(partial(submissions.submit_upload, code_file=form.files.get("code_file"),
                                             factsheet=form.texts.get("factsheet_file")),
                                     st, u, slug, phase, _model(form), form.files.get("fidelity_file"), None,
                                     form.text("description")[:2000])
        finally:
            form.discard()
    if not up.ok:
        return JSONResponse({"detail": up.detail, "submission_id": up.submission_id, "counts": submissions.REJECTION_COUNTS,
                             "quota": up.quota}, status_code=422)
    return up.public


def _model(form):
    if "file" not in form.files:
        raise Invalid("the upload has no model: send it in the form field 'file'")
    return form.files["file"]


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
def rerun(sub_id: RowId, runtime_only: bool = False, u: User = Depends(organiser), st=Depends(state)) -> SubmissionPublic:
    """Run the same files again as a new submission (``parent_id`` = this one; no quota);
    ``runtime_only``: re-measure the runtime, keeping the fidelity result."""
    return submissions.rerun(st, sub_id, u, runtime_only)


@router.post("/submissions/{sub_id}/select", response_model=SubmissionPublic)
def select_for_board(sub_id: RowId, u: User = Depends(user), st=Depends(state)) -> SubmissionPublic:
    """Choose this submission for a phase ranked by ``selected`` (one per participant)."""
    return submissions.select_for_board(st, sub_id, u)
