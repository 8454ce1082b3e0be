"""Organisers' pages: phases (publish, re-run, export), every submission (filter, re-run,
cancel), workers and devices (health, last contact, current job)."""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import PlainTextResponse, RedirectResponse, Response
from sqlalchemy import func, select
from starlette.concurrency import run_in_threadpool

from maikit.server.api.routes.challenges import challenge_public, get_phase
from maikit.server.db.models import (ACTIVE_STATUSES, DONE_STATUSES, JOB_LEASED, JOB_QUEUED, Challenge, Job, Phase, Submission,
                                     User, Worker)
from maikit.server.jobs.pipeline import cancel_submission, rerun_phase, rerun_refusal, rerun_submission
from maikit.server.submissions import export_csv, export_rows
from maikit.server.web.render import render
from maikit.server.web.session import checked_form, need_organiser

router = APIRouter(prefix="/organiser", include_in_schema=False)
STATUSES = (*ACTIVE_STATUSES, *DONE_STATUSES)


@router.get("")
def organiser_home(request: Request, challenge: str = "", phase: str = "", status: str = "", user: str = "",
                   message: str = ""):
    u = need_organiser(request)
    st = request.app.state.platform
    with st.db.read() as s:
        challenges = [challenge_public(c, st.now()) for c in s.execute(select(Challenge).order_by(Challenge.id)).scalars()]
        q = (select(Submission, Phase.slug, Challenge.slug, User.username)
             .join(Phase, Phase.id == Submission.phase_id).join(Challenge, Challenge.id == Phase.challenge_id)
             .join(User, User.id == Submission.user_id))
        if challenge:
            q = q.where(Challenge.slug == challenge)
        if phase:
            q = q.where(Phase.slug == phase)
        if status:
            q = q.where(Submission.status == status)
        if user:
            q = q.where(User.username == user)
        subs = [{"id": sub.id, "challenge": cslug, "phase": pslug, "user": uname, "status": sub.status,
                 "stage": sub.stage, "score": sub.score, "runtime_ms": sub.runtime_ms, "parent_id": sub.parent_id,
                 "superseded": sub.superseded, "created_at": sub.created_at, "reason": sub.reason,
                 "can_rerun": rerun_refusal(sub) is None, "can_cancel": sub.status in ACTIVE_STATUSES}
                for sub, pslug, cslug, uname in s.execute(q.order_by(Submission.id.desc()).limit(300)).all()]
    return render(request, "organiser.html", user=u, title="Organiser", challenges=challenges, subs=subs,
                  statuses=STATUSES, filters={"challenge": challenge, "phase": phase, "status": status, "user": user},
                  message=message)


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
    if age <= max(120.0, 4 * lease_s):
        return "ok", "idle"
    return "warn", f"silent for {timedelta(seconds=int(age))}"


@router.get("/devices")
def devices(request: Request):
    u = need_organiser(request)
    st = request.app.state.platform
    now = st.now()
    with st.db.read() as s:
        rows = []
        for w in s.execute(select(Worker).order_by(Worker.id)).scalars():
            job = s.execute(select(Job).where(Job.worker_id == w.id, Job.status == JOB_LEASED).order_by(Job.id.desc())
                            .limit(1)).scalar_one_or_none()
            state, words = worker_health(w, job, now, st.settings.lease_s)
            rows.append({"w": w, "job": job, "state": state, "words": words,
                         "age_s": (now - w.last_seen).total_seconds(), "fp": w.fingerprint or {}})
        tags: dict[str, list] = {}
        for r in rows:
            tags.setdefault(r["w"].device_tag, []).append(r)
        queued = s.scalar(select(func.count()).select_from(Job).where(Job.status == JOB_QUEUED))
    return render(request, "devices.html", user=u, title="Workers and devices", rows=rows, tags=tags,
                  queued=queued, now=now)


def _back(message: str) -> RedirectResponse:
    from urllib.parse import quote

    return RedirectResponse(f"/organiser?message={quote(message)}", status_code=303)


async def _act(request: Request, fn):
    """An organiser's form action: role and CSRF checked, then ``fn(session, platform)`` in one
    write transaction; its return value."""
    await run_in_threadpool(need_organiser, request)
    await checked_form(request)
    return await run_in_threadpool(_in_transaction, request.app.state.platform, fn)


def _in_transaction(st, fn):
    with st.db.write() as s, s.begin():
        return fn(s, st)


def _submission(s, sub_id: int) -> Submission:
    sub = s.get(Submission, sub_id)
    if sub is None:
        raise HTTPException(404, f"no submission {sub_id}")
    return sub


@router.post("/submissions/{sub_id}/rerun")
async def rerun(sub_id: int, request: Request):
    def go(s, st) -> int:
        sub = _submission(s, sub_id)
        refusal = rerun_refusal(sub)
        if refusal:
            raise HTTPException(409, refusal)
        new = rerun_submission(s, sub, st.now(), st.settings.max_attempts)
        s.flush()
        return new.id

    return _back(f"Submission {sub_id} re-runs as {await _act(request, go)}.")


@router.post("/submissions/{sub_id}/cancel")
async def cancel(sub_id: int, request: Request):
    await _act(request, lambda s, st: cancel_submission(s, _submission(s, sub_id), st.now()))
    return _back(f"Submission {sub_id} cancelled.")


@router.post("/challenges/{slug}/phases/{phase}/rerun")
async def rerun_all(slug: str, phase: str, request: Request):
    new = await _act(request, lambda s, st: rerun_phase(s, get_phase(s, slug, phase)[1], st.now(), st.settings.max_attempts))
    return _back(f"{len(new)} submissions of {slug}/{phase} re-run.")


@router.post("/challenges/{slug}/phases/{phase}/publish")
async def publish(slug: str, phase: str, request: Request):
    def go(s, st) -> None:
        get_phase(s, slug, phase)[1].published = True

    await _act(request, go)
    return _back(f"Results of {slug}/{phase} are published.")


@router.get("/challenges/{slug}/phases/{phase}/export.{fmt}")
def export(slug: str, phase: str, fmt: str, request: Request):
    import json

    need_organiser(request)
    if fmt not in ("json", "csv"):
        raise HTTPException(404, "export as .json or .csv")
    st = request.app.state.platform
    with st.db.read() as s:
        _c, p, _cdef = get_phase(s, slug, phase)
        rows = export_rows(s, p.id)
    name = f'attachment; filename="{slug}-{phase}-submissions.{fmt}"'
    if fmt == "csv":
        return PlainTextResponse(export_csv(rows), media_type="text/csv", headers={"Content-Disposition": name})
    return Response(json.dumps({"challenge": slug, "phase": phase, "submissions": rows}), media_type="application/json",
                    headers={"Content-Disposition": name})
