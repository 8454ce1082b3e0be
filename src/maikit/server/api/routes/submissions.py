"""Submissions: upload with preflight and quota, read, logs, files (organisers), cancel,
re-run, select."""

from __future__ import annotations

from fastapi import APIRouter, Depends, File, HTTPException, Request, UploadFile
from fastapi.responses import FileResponse, JSONResponse
from sqlalchemy import func, select

from maikit.server.api.deps import organiser, state, user
from maikit.server.api.routes.challenges import get_phase
from maikit.server.api.schemas import SubmissionPublic
from maikit.server.challenge import ChallengeDef
from maikit.server.db.models import (ACTIVE_STATUSES, FAILED, FAULT_MODEL, JOB_QUEUED, JobLog, Job, Phase, Submission,
                                     User)
from maikit.server.quota import lock_owner, owner_key, usage
from maikit.server.store import TooLarge

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
        size_bytes=sub.size_bytes, sha256=sub.runtime_sha256, fidelity_sha256=sub.fidelity_sha256,
        preflight=sub.preflight, parent_id=sub.parent_id, selected=sub.selected, counts_quota=sub.counts_quota,
        created_at=sub.created_at.isoformat(), finished_at=sub.finished_at.isoformat() if sub.finished_at else None,
        queue_position=position)


def visible_submission(s, sub_id: int, u: User) -> Submission:
    """The submission if ``u`` may see it (its owner, its team, or an organiser); 404 otherwise."""
    sub = s.get(Submission, sub_id)
    if sub is None or not (u.is_organiser or sub.owner_key == owner_key(u)):
        raise HTTPException(404, f"no submission {sub_id}")
    return sub


def _run_preflight(st, files: dict, cdef: ChallengeDef) -> dict:
    from maikit.worker.sandbox import Limits, SandboxFailure, run_sandboxed

    limits = Limits(memory_mb=st.settings.preflight_memory_mb, cpu_s=st.settings.preflight_timeout_s,
                    wall_s=st.settings.preflight_timeout_s)
    try:
        return {"ok": True, **run_sandboxed("preflight", {"files": {k: str(v) for k, v in files.items()},
                                                            "task": cdef.task, "target": cdef.protocol.target}, limits)}
    except SandboxFailure as e:
        return {"ok": False, "reason": e.reason, "kind": e.kind}


@router.post("/challenges/{slug}/phases/{phase}/submissions", response_model=SubmissionPublic, status_code=201,
             responses={413: {"description": "file over the challenge's upload cap"},
                        422: {"description": "preflight rejected the file (reason in detail)"},
                        429: {"description": "quota exhausted"}, 403: {"description": "phase closed"}})
def create_submission(slug: str, phase: str, request: Request,
                      file: UploadFile = File(..., description="model.tflite (runtime), or the one file for both"),
                      fidelity_file: UploadFile | None = File(None, description="model_none.tflite (fidelity), optional"),
                      u: User = Depends(user), st=Depends(state)):
    """Upload a model: preflight at once (free), then quota, then the fidelity and runtime jobs."""
    now = st.now()
    with st.db.read() as s:
        c, p, cdef = get_phase(s, slug, phase)
        pdef = cdef.phase(p.slug)
        if not (p.start <= now < p.end):
            when = f"opens {p.start.isoformat()}" if now < p.start else f"closed {p.end.isoformat()}"
            raise HTTPException(403, f"phase {phase!r} of {slug!r} is not open: it {when}")
        owner = owner_key(u)
        failed_refusal = usage(s, phase_id=p.id, owner=owner, pdef=pdef, now=now).failed_refusal()
        phase_id = p.id
    if failed_refusal:
        raise HTTPException(429, failed_refusal)
    cap = int(cdef.upload_cap_mb * 1e6)
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > 2 * cap + 1_000_000:
        raise HTTPException(413, f"upload larger than the challenge's cap of {cdef.upload_cap_mb:g} MB")
    spooled: dict = {}
    try:
        for role, up in (("runtime", file), ("fidelity", fidelity_file)):
            if up is None:
                continue
            try:
                spooled[role] = st.store.spool(up.file, cap)
            except TooLarge:
                raise HTTPException(413, f"{role} file larger than the challenge's cap of {cdef.upload_cap_mb:g} MB")
        if "fidelity" not in spooled:
            spooled["fidelity"] = spooled["runtime"]
        paths = {"runtime": spooled["runtime"][0]}
        if spooled["fidelity"] is not spooled["runtime"]:
            paths["fidelity"] = spooled["fidelity"][0]
        verdict = _run_preflight(st, paths, cdef)
        size = spooled["runtime"][2]
        if not verdict["ok"]:
            with st.db.write() as s, s.begin():
                sub = Submission(phase_id=phase_id, user_id=u.id, owner_key=owner, status=FAILED, stage="preflight",
                                 reason=f"preflight: {verdict['reason']}", fault=FAULT_MODEL, counts_quota=False,
                                 size_bytes=size, runtime_sha256=spooled["runtime"][1],
                                 fidelity_sha256=spooled["fidelity"][1], created_at=now, finished_at=now,
                                 preflight={"ok": False, "reason": verdict["reason"]})
                s.add(sub)
                s.flush()
                sub_id = sub.id
            return JSONResponse({"detail": f"preflight: {verdict['reason']}", "submission_id": sub_id}, status_code=422)
        from maikit.server.jobs.pipeline import create_jobs

        with st.db.write() as s, s.begin():
            lock_owner(s, u)
            use = usage(s, phase_id=phase_id, owner=owner, pdef=pdef, now=now)
            refusal = use.refusal()
            if refusal:
                raise HTTPException(429, refusal)
            for role, (tmp, sha, _size) in spooled.items():
                if tmp.exists():
                    st.store.keep(tmp, sha)
            sub = Submission(phase_id=phase_id, user_id=u.id, owner_key=owner, status="Submitted", counts_quota=True,
                             size_bytes=size, runtime_sha256=spooled["runtime"][1], fidelity_sha256=spooled["fidelity"][1],
                             created_at=now, preflight=verdict)
            s.add(sub)
            s.flush()
            create_jobs(s, sub, cdef, now=now, max_attempts=st.settings.max_attempts)
            s.flush()
            s.refresh(sub)
            out = submission_public(s, sub, u)
        out.quota = use.to_dict() | {"used_today": use.used_today + 1, "used_total": use.used_total + 1}
        return out
    finally:
        for tmp, _sha, _size in spooled.values():
            tmp.unlink(missing_ok=True)


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
        stages = {"preflight": sub.preflight}
        for job in sub.jobs:
            logs = s.execute(select(JobLog).where(JobLog.job_id == job.id).order_by(JobLog.id)).scalars().all()
            stages[job.role] = {"status": job.status, "attempt": job.attempt, "error": job.error,
                                "log": "".join(entry.text for entry in logs)}
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
    from maikit.server.jobs.pipeline import rerun_submission

    with st.db.write() as s, s.begin():
        sub = visible_submission(s, sub_id, u)
        if sub.stage == "preflight":
            raise HTTPException(409, "a file rejected at preflight cannot be re-run")
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
