"""Submissions: upload with preflight and quota, read, logs, files (organisers), cancel,
re-run, select."""

from __future__ import annotations

from fastapi import APIRouter, Depends, File, Form, HTTPException, Request, UploadFile
from fastapi.responses import FileResponse, JSONResponse
from sqlalchemy import func, select
from sqlalchemy.orm import joinedload, selectinload

from maikit.server.api.deps import organiser, state, user
from maikit.server.api.routes.challenges import get_phase
from maikit.server.api.schemas import SubmissionPublic
from maikit.server.challenge import ChallengeDef
from maikit.server.db.models import ACTIVE_STATUSES, JOB_QUEUED, Job, Phase, Submission, User
from maikit.server.quota import owner_key, usage
from maikit.server.submissions import stage_logs, submit_upload

router = APIRouter(prefix="/api", tags=["submissions"])


def results_hidden(phase: Phase, cdef: ChallengeDef, u: User | None) -> bool:
    """Scores of a hidden-until-published phase are for organisers until it is published."""
    if u is not None and u.is_organiser:
        return False
    return cdef.phase(phase.slug).visibility == "hidden-until-published" and not phase.published


def submission_public(s, sub: Submission, u: User | None) -> SubmissionPublic:
    phase = sub.phase
    cdef = ChallengeDef.model_validate(phase.challenge.definition)
    hidden = results_hidden(phase, cdef, u)
    position = None
    if sub.status in ACTIVE_STATUSES:
        first = min((j.id for j in sub.jobs if j.status == JOB_QUEUED), default=None)
        if first is not None:
            position = int(s.scalar(select(func.count()).select_from(Job).where(Job.status == JOB_QUEUED, Job.id < first)))
    return SubmissionPublic(
        id=sub.id, challenge=cdef.slug, phase=phase.slug, user=sub.user.username, status=sub.status, stage=sub.stage,
        reason=sub.reason, fault=sub.fault, metrics=None if hidden else sub.metrics,
        runtime_ms=None if hidden else sub.runtime_ms, score=None if hidden else sub.score,
        size_bytes=sub.size_bytes, description=sub.description, sha256=sub.runtime_sha256, fidelity_sha256=sub.fidelity_sha256,
        preflight=sub.preflight, parent_id=sub.parent_id, selected=sub.selected, counts_quota=sub.counts_quota,
        created_at=sub.created_at.isoformat(), finished_at=sub.finished_at.isoformat() if sub.finished_at else None,
        queue_position=position, runtime_details=None if hidden else runtime_details(sub))


DEVICE_KEYS = ("backend", "cv", "drift", "op_profile", "op_profile_note", "findings", "compatibility", "delegate", "notes")


def runtime_details(sub: Submission) -> dict | None:
    """What a device runner adds to a runtime result (None for a worker without one)."""
    run = next((j.result for j in sub.jobs if j.role == "runtime" and j.result), None) or {}
    details = {k: run[k] for k in DEVICE_KEYS if k in run}
    return details or None


def visible_submission(s, sub_id: int, u: User) -> Submission:
    """The submission if ``u`` may see it (its owner, its team, or an organiser); 404 otherwise."""
    # what submission_public reads, in two queries instead of one per relationship
    sub = s.get(Submission, sub_id, options=[joinedload(Submission.phase).joinedload(Phase.challenge),
                                             joinedload(Submission.user), selectinload(Submission.jobs)])
    if sub is None or not (u.is_organiser or sub.owner_key == owner_key(u)):
        raise HTTPException(404, f"no submission {sub_id}")
    return sub


@router.post("/challenges/{slug}/phases/{phase}/submissions", response_model=SubmissionPublic, status_code=201,
             responses={413: {"description": "file over the challenge's upload cap"},
                        422: {"description": "preflight rejected the file (reason in detail)"},
                        429: {"description": "quota exhausted"}, 403: {"description": "phase closed"}})
async def create_submission(slug: str, phase: str, request: Request,
                            file: UploadFile = File(..., description="model.tflite (runtime), or the one file for both"),
                            fidelity_file: UploadFile | None = File(None, description="model_none.tflite (fidelity), optional"),
                            description: str = Form("", max_length=2000, description="what this model is (shown to you and the organisers)"),
                            u: User = Depends(user), st=Depends(state)):
    """Upload a model: preflight at once (free), then quota, then the fidelity and runtime jobs."""
    up = await st.run_upload(submit_upload, st, u, slug, phase, file.file,
                             fidelity_file.file if fidelity_file is not None else None,
                             request.headers.get("content-length"), description)
    if not up.ok:
        return JSONResponse({"detail": up.detail, "submission_id": up.submission_id}, status_code=422)
    return up.public


@router.get("/challenges/{slug}/phases/{phase}/submissions", response_model=list[SubmissionPublic])
def list_submissions(slug: str, phase: str, u: User = Depends(user), st=Depends(state)) -> list[SubmissionPublic]:
    """Your submissions in a phase (an organiser: everyone's), newest first."""
    with st.db.read() as s:
        c, p, cdef = get_phase(s, slug, phase)
        q = select(Submission).where(Submission.phase_id == p.id)
        if not u.is_organiser:
            q = q.where(Submission.owner_key == owner_key(u))
        return [submission_public(s, sub, u) for sub in s.execute(q.order_by(Submission.id.desc()).limit(500)).scalars()]


@router.get("/challenges/{slug}/phases/{phase}/quota")
def read_quota(slug: str, phase: str, u: User = Depends(user), st=Depends(state)) -> dict:
    """Your use of the phase's quota and when the daily count resets (UTC midnight)."""
    with st.db.read() as s:
        c, p, cdef = get_phase(s, slug, phase)
        return usage(s, phase_id=p.id, owner=owner_key(u), pdef=cdef.phase(p.slug), now=st.now()).to_dict()


@router.get("/submissions/{sub_id}", response_model=SubmissionPublic)
def read_submission(sub_id: int, u: User = Depends(user), st=Depends(state)) -> SubmissionPublic:
    with st.db.read() as s:
        return submission_public(s, visible_submission(s, sub_id, u), u)


@router.get("/submissions/{sub_id}/logs")
def read_logs(sub_id: int, u: User = Depends(user), st=Depends(state)) -> dict:
    """The log of every stage (preflight verdict, then each job's attempts)."""
    with st.db.read() as s:
        sub = visible_submission(s, sub_id, u)
        stages = stage_logs(s, sub)
        return {"submission_id": sub.id, "stages": stages}


@router.get("/submissions/{sub_id}/files/{role}", response_class=FileResponse)
def download_file(sub_id: int, role: str, _: User = Depends(organiser), st=Depends(state)):
    """A submitted file (organisers only): ``runtime`` or ``fidelity``."""
    if role not in ("runtime", "fidelity"):
        raise HTTPException(404, "role must be runtime or fidelity")
    with st.db.read() as s:
        sub = s.get(Submission, sub_id)
        if sub is None:
            raise HTTPException(404, f"no submission {sub_id}")
        sha = sub.runtime_sha256 if role == "runtime" else sub.fidelity_sha256
    path = st.store.path(sha)
    if not path.is_file():
        raise HTTPException(404, "file not stored")
    return FileResponse(path, media_type="application/octet-stream", filename=f"{role}.tflite")


@router.post("/submissions/{sub_id}/cancel", response_model=SubmissionPublic)
def cancel(sub_id: int, u: User = Depends(organiser), st=Depends(state)) -> SubmissionPublic:
    from maikit.server.jobs.pipeline import cancel_submission

    with st.db.write() as s, s.begin():
        sub = visible_submission(s, sub_id, u)
        cancel_submission(s, sub, st.now())
        s.flush()
        return submission_public(s, sub, u)


@router.post("/submissions/{sub_id}/rerun", response_model=SubmissionPublic, status_code=201)
def rerun(sub_id: int, u: User = Depends(organiser), st=Depends(state)) -> SubmissionPublic:
    """Run the same files again as a new submission (``parent_id`` = this one; no quota)."""
    from maikit.server.jobs.pipeline import rerun_refusal, rerun_submission

    with st.db.write() as s, s.begin():
        sub = visible_submission(s, sub_id, u)
        refusal = rerun_refusal(sub)
        if refusal:
            raise HTTPException(409, refusal)
        new = rerun_submission(s, sub, st.now(), st.settings.max_attempts)
        s.flush()
        s.refresh(new)
        return submission_public(s, new, u)


@router.post("/submissions/{sub_id}/select", response_model=SubmissionPublic)
def select_for_board(sub_id: int, u: User = Depends(user), st=Depends(state)) -> SubmissionPublic:
    """Choose this submission for a phase ranked by ``selected`` (one per participant)."""
    with st.db.write() as s, s.begin():
        sub = visible_submission(s, sub_id, u)
        for other in s.execute(select(Submission).where(Submission.phase_id == sub.phase_id,
                                                        Submission.owner_key == sub.owner_key,
                                                        Submission.selected.is_(True))).scalars():
            other.selected = False
        sub.selected = True
        s.flush()
        return submission_public(s, sub, u)
