"""Participants' pages: challenges, leaderboards, submit, my submissions, a submission."""

from __future__ import annotations

import json
from datetime import datetime

import anyio.from_thread

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import JSONResponse, PlainTextResponse, RedirectResponse
from sqlalchemy import func, select
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect

from maikit.server.api.routes.challenges import challenge_public, get_challenge, get_phase
from maikit.server.api.routes.submissions import submission_public, visible_submission
from maikit.server.challenge import ChallengeDef
from maikit.server.db.models import ACTIVE_STATUSES, JOB_DONE, Challenge, Job, Submission, User, Worker
from maikit.server.leaderboard import board_refusal, columns, to_csv
from maikit.server.quota import owner_key, usage
from maikit.server.submissions import body_limit, stage_logs, submit_upload
from maikit.server.web.charts import histogram, scatter
from maikit.server.web.render import render
from maikit.server.web.session import check_csrf, current_user, need_user

router = APIRouter(include_in_schema=False)


@router.get("/")
def index(request: Request):
    st = request.app.state.platform
    with st.db.read() as s:
        challenges = [challenge_public(c, st.now()) for c in s.execute(select(Challenge).order_by(Challenge.id)).scalars()]
    return render(request, "index.html", title="Challenges", challenges=challenges)


@router.get("/challenges/{slug}")
def challenge_home(slug: str, request: Request):
    st = request.app.state.platform
    u = current_user(request)
    now = st.now()
    with st.db.read() as s:
        c = get_challenge(s, slug)
        pub = challenge_public(c, now)
        quota = {}
        if u is not None:
            cdef = ChallengeDef.model_validate(c.definition)
            for p in c.phases:
                quota[p.slug] = usage(s, phase_id=p.id, owner=owner_key(u), pdef=cdef.phase(p.slug), now=now)
    return render(request, "challenge.html", user=u, title=pub.title, c=pub, quota=quota)


def _board(request: Request, slug: str, phase: str):
    """(user, definition, public challenge, public phase, rows, the user's own row ids); runs in
    a worker thread: the rows come from the server's board cache, as the API's do."""
    st = request.app.state.platform
    u = current_user(request)
    with st.db.read() as s:
        c, p, cdef = get_phase(s, slug, phase)
        refusal = board_refusal(p, cdef, u)
        if refusal:
            raise HTTPException(403, refusal)
        pub = challenge_public(c, st.now())
    rows = [dict(r) for r in anyio.from_thread.run(st.boards.get, slug, phase).rows]
    own: set[int] = set()
    if u is not None and rows:
        with st.db.read() as s:
            own = set(s.scalars(select(Submission.id).where(Submission.id.in_([r["submission_id"] for r in rows]),
                                                            Submission.owner_key == owner_key(u))))
    return u, cdef, pub, next(ph for ph in pub.phases if ph.slug == phase), rows, own


@router.get("/challenges/{slug}/phases/{phase}/leaderboard")
def leaderboard(slug: str, phase: str, request: Request, sort: str | None = None, order: str | None = None):
    from maikit.scoring.paper import paper_rows
    from maikit.tasks import get_task

    u, cdef, pub, ph, rows, own = _board(request, slug, phase)
    cols = columns(cdef)
    keys = {c["key"] for c in cols}
    if sort in keys and sort != "rank":
        col = next(c for c in cols if c["key"] == sort)
        desc = (order or col.get("sort", "asc")) == "desc"
        present = [r for r in rows if r.get(sort) is not None]
        missing = [r for r in rows if r.get(sort) is None]
        rows = sorted(present, key=lambda r: r[sort], reverse=desc) + missing
    else:
        sort, desc = "rank", False
    spec = get_task(cdef.task)
    primary = next(m for m in spec.metrics if m.name == spec.primary_metric)
    chart = scatter(rows, primary.name, primary.title or primary.name, primary.higher_is_better, own)
    paper = [r.to_dict() | {"printed": r.printed} for r in paper_rows(cdef.task)]
    return render(request, "leaderboard.html", user=u, title=f"{pub.title}: {ph.title or ph.slug} leaderboard", c=pub,
                  phase=ph, cols=cols, rows=rows, own=own, sort=sort, desc=desc, chart=chart, paper=paper,
                  task_title=spec.title)


@router.get("/challenges/{slug}/phases/{phase}/leaderboard.csv")
def leaderboard_csv(slug: str, phase: str, request: Request):
    u, cdef, pub, ph, rows, own = _board(request, slug, phase)
    return PlainTextResponse(to_csv(rows, columns(cdef)), media_type="text/csv",
                             headers={"Content-Disposition": f'attachment; filename="{slug}-{phase}-leaderboard.csv"'})


@router.get("/challenges/{slug}/phases/{phase}/leaderboard.json")
def leaderboard_json(slug: str, phase: str, request: Request):
    u, cdef, pub, ph, rows, own = _board(request, slug, phase)
    return JSONResponse({"challenge": slug, "phase": phase, "task": cdef.task, "ranking": ph.ranking,
                         "columns": columns(cdef), "rows": rows},
                        headers={"Content-Disposition": f'attachment; filename="{slug}-{phase}-leaderboard.json"'})


def _submit_context(request: Request, slug: str, phase: str, u: User) -> dict:
    st = request.app.state.platform
    with st.db.read() as s:
        c, p, cdef = get_phase(s, slug, phase)
        pub = challenge_public(c, st.now())
        quota = usage(s, phase_id=p.id, owner=owner_key(u), pdef=cdef.phase(p.slug), now=st.now())
    return {"c": pub, "phase": next(ph for ph in pub.phases if ph.slug == phase), "quota": quota}


@router.get("/challenges/{slug}/phases/{phase}/submit")
def submit_page(slug: str, phase: str, request: Request):
    u = need_user(request)
    ctx = _submit_context(request, slug, phase, u)
    return render(request, "submit.html", user=u, title=f"Submit to {ctx['c'].title}", verdict=None, **ctx)


class _BodyTooLarge(Exception):
    pass


async def _limited_form(request: Request, limit: int):
    """The multipart form, refused (413) past ``limit`` bytes before any of it is kept:
    the declared length is checked first, then the bytes as they arrive."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise _BodyTooLarge()
    received = 0
    receive = request.receive

    async def counting():
        nonlocal received
        msg = await receive()
        if msg["type"] == "http.request":
            received += len(msg.get("body", b""))
            if received > limit:
                raise _BodyTooLarge()
        return msg

    return await Request(request.scope, counting).form(max_files=2, max_fields=10)


def _submit_start(request: Request, slug: str, phase: str) -> tuple[User, ChallengeDef]:
    u = need_user(request)
    with request.app.state.platform.db.read() as s:
        return u, get_phase(s, slug, phase)[2]


@router.post("/challenges/{slug}/phases/{phase}/submit")
async def submit(slug: str, phase: str, request: Request):
    # the form arrives in the event loop; the database, the file store and the preflight
    # child are waited for in threads, so an upload never holds up other requests
    st = request.app.state.platform
    u, cdef = await run_in_threadpool(_submit_start, request, slug, phase)
    try:
        form = await _limited_form(request, body_limit(cdef))
    except _BodyTooLarge:
        raise HTTPException(413, f"upload larger than the challenge's cap of {cdef.upload_cap_mb:g} MB per file")
    except ClientDisconnect:
        raise HTTPException(400, "the upload was interrupted")
    check_csrf(request, form)
    runtime_file = form.get("file")
    fidelity_file = form.get("fidelity_file")
    if fidelity_file is not None and (isinstance(fidelity_file, str) or not fidelity_file.filename):
        fidelity_file = None
    ctx = await run_in_threadpool(_submit_context, request, slug, phase, u)
    if runtime_file is None or isinstance(runtime_file, str) or not runtime_file.filename:
        verdict = {"ok": False, "detail": "Choose a .tflite file to upload.", "findings": []}
        return render(request, "submit.html", status=422, user=u, title=f"Submit to {ctx['c'].title}", verdict=verdict, **ctx)
    description = str(form.get("description", ""))[:2000]
    try:
        up = await st.run_upload(submit_upload, st, u, slug, phase, runtime_file.file,
                                 fidelity_file.file if fidelity_file is not None else None, None, description)
    except HTTPException as e:
        verdict = {"ok": False, "detail": str(e.detail), "findings": [], "refused": True}
        return render(request, "submit.html", status=e.status_code, user=u, title=f"Submit to {ctx['c'].title}",
                      verdict=verdict, **ctx)
    ctx = await run_in_threadpool(_submit_context, request, slug, phase, u)  # the quota after this upload
    if up.ok:
        pre = up.public.preflight or {}
        verdict = {"ok": True, "submission_id": up.submission_id, "findings": pre.get("findings", []),
                   "files": pre.get("files", {})}
        status = 201
    else:
        verdict = {"ok": False, "submission_id": up.submission_id, "detail": up.detail, "findings": []}
        status = 422
    return render(request, "submit.html", status=status, user=u, title=f"Submit to {ctx['c'].title}", verdict=verdict, **ctx)


def wait_estimate_s(s, position: int | None, now: datetime) -> float | None:
    """Rough wait before a queued job starts: jobs ahead (+1) times the mean time of the last
    finished jobs, shared among the workers heard from in the last two minutes."""
    if position is None:
        return None
    recent = s.execute(select(Job.started_at, Job.finished_at).where(Job.status == JOB_DONE, Job.started_at.is_not(None))
                       .order_by(Job.id.desc()).limit(20)).all()
    if not recent:
        return None
    mean = sum((b - a).total_seconds() for a, b in recent) / len(recent)
    from datetime import timedelta

    workers = s.scalar(select(func.count()).select_from(Worker).where(Worker.last_seen >= now - timedelta(minutes=2))) or 1
    return (position + 1) * mean / workers


def _my_rows(request: Request, slug: str, phase: str, u: User):
    st = request.app.state.platform
    now = st.now()
    with st.db.read() as s:
        c, p, cdef = get_phase(s, slug, phase)
        subs = s.execute(select(Submission).where(Submission.phase_id == p.id, Submission.owner_key == owner_key(u))
                         .order_by(Submission.id.desc()).limit(200)).scalars().all()
        rows = []
        for sub in subs:
            pub = submission_public(s, sub, u)
            rows.append(pub.model_dump() | {"wait_s": wait_estimate_s(s, pub.queue_position, now),
                                            "active": pub.status in ACTIVE_STATUSES, "superseded": sub.superseded})
        quota = usage(s, phase_id=p.id, owner=owner_key(u), pdef=cdef.phase(p.slug), now=now)
        pub_c = challenge_public(c, now)
    return pub_c, next(ph for ph in pub_c.phases if ph.slug == phase), rows, quota


@router.get("/challenges/{slug}/phases/{phase}/submissions")
def my_submissions(slug: str, phase: str, request: Request):
    u = need_user(request)
    c, ph, rows, quota = _my_rows(request, slug, phase, u)
    return render(request, "submissions.html", user=u, title=f"Your submissions: {c.title}", c=c, phase=ph, rows=rows,
                  quota=quota)


@router.get("/challenges/{slug}/phases/{phase}/submissions.json")
def my_submissions_json(slug: str, phase: str, request: Request):
    u = need_user(request)
    c, ph, rows, quota = _my_rows(request, slug, phase, u)
    return JSONResponse(json.loads(json.dumps({"rows": rows, "quota": quota.to_dict()}, default=str)))


PLAIN_REASONS = {
    "infrastructure": "The platform failed while running it (a worker stopped answering or the device broke). "
                      "This is not your model's fault and does not count toward your quota; an organiser can re-run it.",
    "model": "Your model failed while it ran. Read the stage log below for the details; this counts toward the "
             "failed-submission limit, not toward your submission quota.",
}


def plain_reason(sub) -> str | None:
    """The failure reason in words a participant can act on."""
    if sub.status == "Cancelled":
        return "An organiser cancelled this submission; it does not count toward your quota."
    if sub.status != "Failed":
        return None
    if sub.stage == "preflight":
        return ("The file was rejected when it was uploaded, before running anything: "
                + (sub.reason or "").removeprefix("preflight: ") + ". This did not use your submission quota.")
    return PLAIN_REASONS.get(sub.fault or "model", PLAIN_REASONS["model"])


@router.get("/submissions/{sub_id:int}")
def submission_detail(sub_id: int, request: Request):
    u = need_user(request)
    st = request.app.state.platform
    with st.db.read() as s:
        sub = visible_submission(s, sub_id, u)
        pub = submission_public(s, sub, u)
        hidden = pub.score is None and sub.score is not None
        jobs = {j.role: j for j in sub.jobs}
        run = (jobs["runtime"].result or {}) if "runtime" in jobs and not hidden else {}
        logs = stage_logs(s, sub)
        wait = wait_estimate_s(s, pub.queue_position, st.now())
        c = challenge_public(sub.phase.challenge, st.now())
        reason = plain_reason(sub)
    return render(request, "submission.html", user=u, title=f"Submission {sub_id}", sub=pub, c=c, run=run,
                  hist=histogram(run.get("samples_ms") or []), logs=logs, wait=wait, reason=reason, hidden=hidden,
                  active=pub.status in ACTIVE_STATUSES)


@router.get("/submissions/{sub_id:int}.json")
def submission_json(sub_id: int, request: Request):
    u = need_user(request)
    st = request.app.state.platform
    with st.db.read() as s:
        pub = submission_public(s, visible_submission(s, sub_id, u), u)
    return JSONResponse(pub.model_dump())


@router.get("/me")
def me(request: Request):
    return RedirectResponse("/account" if current_user(request) else "/signin", status_code=303)
