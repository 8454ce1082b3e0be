"""Participants' pages: challenges, leaderboards, submit, my submissions, a submission."""

from __future__ import annotations

import json
from functools import partial
from urllib.parse import quote

import anyio.from_thread
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from maikit.server.api.deps import client_address
from maikit.server.api.errors import headers_of, status_of
from maikit.server.api.params import RowId
from maikit.server.api.routes.submissions import received_upload, upload_terms
from maikit.server.api.uploads import Part
from maikit.server.challenge import ChallengeDef
from maikit.server.db.models import ACTIVE_STATUSES, User
from maikit.server.errors import Forbidden, NotFound, ServiceError, Unauthorized
from maikit.server.services import challenges, factsheets, kit, submissions
from maikit.server.services.quota import challenge_usage, phase_usage
from maikit.server.web.charts import histogram, scatter
from maikit.server.web.render import render
from maikit.server.web.session import check_csrf, checked_form, current_user, need_user

router = APIRouter(include_in_schema=False)


@router.get("/")
def index(request: Request):
    return render(request, "index.html", title="Challenges",
                  challenges=challenges.list_challenges(request.app.state.platform))


@router.get("/challenges/{slug}")
def challenge_home(slug: str, request: Request):
    st = request.app.state.platform
    u = current_user(request)
    pub = challenges.read_challenge(st, slug)
    quota = challenge_usage(st, slug, u) if u is not None else {}
    files = kit.listing(st, slug) if u is not None and pub.kit else []
    return render(request, "challenge.html", user=u, title=pub.title, c=pub, quota=quota, kit=files)


def _board(request: Request, slug: str, phase: str):
    """(user, the board, if they may see it): from the server's one board cache, by the same
    visibility rule as the API's (runs in a worker thread)."""
    u = current_user(request)
    return u, anyio.from_thread.run(request.app.state.platform.boards.visible, slug, phase, u)


@router.get("/challenges/{slug}/phases/{phase}/leaderboard")
def leaderboard(slug: str, phase: str, request: Request, sort: str | None = None, order: str | None = None):
    from maikit.scoring.paper import paper_rows
    from maikit.tasks import get_task

    u, board = _board(request, slug, phase)
    st = request.app.state.platform
    pub = challenges.read_challenge(st, slug)
    ph = pub.phase(phase)
    rows = [dict(r) for r in board.rows]
    own = submissions.owned(st, u, [r["submission_id"] for r in rows]) if u is not None else set()
    cols = list(board.columns)
    keys = {c["key"] for c in cols}
    if sort in keys and sort != "rank":
        col = next(c for c in cols if c["key"] == sort)
        desc = (order or col.get("sort", "asc")) == "desc"
        present = [r for r in rows if r.get(sort) is not None]
        missing = [r for r in rows if r.get(sort) is None]
        rows = sorted(present, key=lambda r: r[sort], reverse=desc) + missing
    else:
        sort, desc = "rank", False
    spec = get_task(board.task)
    primary = next(m for m in spec.metrics if m.name == spec.primary_metric)
    chart = scatter(rows, primary.name, primary.title or primary.name, primary.higher_is_better, own)
    paper = [r.to_dict() | {"printed": r.printed} for r in paper_rows(board.task)]
    return render(request, "leaderboard.html", user=u, title=f"{pub.title}: {ph.title or ph.slug} leaderboard", c=pub,
                  phase=ph, cols=cols, rows=rows, own=own, sort=sort, desc=desc, chart=chart, paper=paper,
                  task_title=spec.title)


def _download(request: Request, slug: str, phase: str, fmt: str) -> Response:
    """The board as the API sends it (the same bytes), as a file to save."""
    body, _etag, media = _board(request, slug, phase)[1].body(fmt)
    return Response(body, media_type=media,
                    headers={"Content-Disposition": f'attachment; filename="{slug}-{phase}-leaderboard.{fmt}"'})


@router.get("/challenges/{slug}/phases/{phase}/leaderboard.csv")
def leaderboard_csv(slug: str, phase: str, request: Request):
    return _download(request, slug, phase, "csv")


@router.get("/challenges/{slug}/phases/{phase}/leaderboard.json")
def leaderboard_json(slug: str, phase: str, request: Request):
    return _download(request, slug, phase, "json")


def _submit_context(request: Request, slug: str, phase: str, u: User) -> dict:
    st = request.app.state.platform
    pub = challenges.read_challenge(st, slug)
    quota = phase_usage(st, slug, phase, u)  # NotFound for an unknown phase
    ph = pub.phase(phase)
    on_file = ph.bundle.get("factsheet", "none") != "none" and factsheets.read_own(st, slug, phase, u).factsheet is not None
    return {"c": pub, "phase": ph, "quota": quota, "sheet_on_file": on_file}


@router.get("/challenges/{slug}/phases/{phase}/submit")
def submit_page(slug: str, phase: str, request: Request):
    u = need_user(request)
    ctx = _submit_context(request, slug, phase, u)
    return render(request, "submit.html", user=u, title=f"Submit to {ctx['c'].title}", verdict=None, **ctx)


def _submit_start(request: Request, slug: str, phase: str) -> tuple[User, ChallengeDef]:
    return need_user(request), challenges.definition(request.app.state.platform, slug, phase)


@router.post("/challenges/{slug}/phases/{phase}/submit")
async def submit(slug: str, phase: str, request: Request):
    # the session is checked before any of the body is read; the form streams into the file
    # store under the phase's caps (as the API's upload); the database, the file store and the
    # preflight child are waited for in threads, so an upload never holds up other requests
    st = request.app.state.platform
    u, _cdef = await run_in_threadpool(_submit_start, request, slug, phase)
    ctx = None
    try:
        terms = await upload_terms(request, st, u, slug, phase)
        async with st.upload_turn(u.id, client_address(request)):
            form = await received_upload(request, st, terms, {"csrf": Part(200, False, "the form's token is too long")})
            try:
                check_csrf(request, {"csrf": form.text("csrf", None)})
                ctx = await run_in_threadpool(_submit_context, request, slug, phase, u)
                if "file" not in form.files:
                    verdict = {"ok": False, "detail": "Choose a .tflite file to upload.", "findings": []}
                    return render(request, "submit.html", status=422, user=u, title=f"Submit to {ctx['c'].title}",
                                  verdict=verdict, **ctx)
                up = await st.run_upload(partial(submissions.submit_upload, code_file=form.files.get("code_file"),
                                                 factsheet=form.texts.get("factsheet_file")),
                                         st, u, slug, phase, form.files["file"], form.files.get("fidelity_file"), None,
                                         form.text("description")[:2000])
            finally:
                form.discard()
    except ServiceError as e:
        if type(e) in (Forbidden, Unauthorized, NotFound):  # the form's token, the session, the phase: the error page
            raise
        ctx = ctx or await run_in_threadpool(_submit_context, request, slug, phase, u)
        verdict = {"ok": False, "detail": e.reason, "findings": [], "refused": True}
        page = render(request, "submit.html", status=status_of(e), user=u, title=f"Submit to {ctx['c'].title}",
                      verdict=verdict, **ctx)
        page.headers.update(headers_of(e))
        return page
    ctx = await run_in_threadpool(_submit_context, request, slug, phase, u)  # the quota after this upload
    if up.ok:
        pre = up.public.preflight or {}
        verdict = {"ok": True, "submission_id": up.submission_id, "findings": pre.get("findings", []),
                   "files": pre.get("files", {})}
        status = 201
    else:
        verdict = {"ok": False, "submission_id": up.submission_id, "detail": up.detail, "findings": [],
                   "counts": submissions.REJECTION_COUNTS, "failed": submissions.failed_attempts_words(up.quota)}
        status = 422
    return render(request, "submit.html", status=status, user=u, title=f"Submit to {ctx['c'].title}", verdict=verdict, **ctx)


def _my_rows(request: Request, slug: str, phase: str, u: User):
    st = request.app.state.platform
    rows = submissions.own_rows(st, slug, phase, u)
    quota = phase_usage(st, slug, phase, u)
    pub = challenges.read_challenge(st, slug)
    return pub, pub.phase(phase), rows, quota


@router.get("/challenges/{slug}/phases/{phase}/submissions")
def my_submissions(slug: str, phase: str, request: Request, message: str = ""):
    u = need_user(request)
    c, ph, rows, quota = _my_rows(request, slug, phase, u)
    return render(request, "submissions.html", user=u, title=f"Your submissions: {c.title}", c=c, phase=ph, rows=rows,
                  quota=quota, message=message)


async def _own_action(request: Request, fn, sub_id: RowId, message: str) -> RedirectResponse:
    """A participant's form action on a submission (``fn(platform, sub_id, user)``: the same
    service and rules as the API's), then back to their list with ``message``."""
    u = await run_in_threadpool(need_user, request)
    await checked_form(request)
    pub = await run_in_threadpool(fn, request.app.state.platform, sub_id, u)
    return RedirectResponse(f"/challenges/{pub.challenge}/phases/{pub.phase}/submissions?message={quote(message)}",
                            status_code=303)


@router.post("/submissions/{sub_id:int}/cancel")
async def cancel_own(sub_id: RowId, request: Request):
    return await _own_action(request, submissions.cancel, sub_id,
                             f"Submission {sub_id} cancelled; it does not count toward your quota.")


@router.post("/submissions/{sub_id:int}/select")
async def select_own(sub_id: RowId, request: Request):
    return await _own_action(request, submissions.select_for_board, sub_id,
                             f"Submission {sub_id} is the one the leaderboard shows for you.")


@router.get("/challenges/{slug}/phases/{phase}/submissions.json")
def my_submissions_json(slug: str, phase: str, request: Request):
    u = need_user(request)
    c, ph, rows, quota = _my_rows(request, slug, phase, u)
    return JSONResponse(json.loads(json.dumps({"rows": rows, "quota": quota.to_dict()}, default=str)))


PLAIN_REASONS = {
    "infrastructure": "The platform failed while running it (a worker stopped answering or the device broke). "
                      "This is not your model's fault: it counts toward neither your submission quota nor the "
                      "failed-attempt limit, and an organiser can re-run it.",
    "fidelity": "Your fidelity file failed while it was scored on the reference data",
    "runtime": "Your runtime file failed while it was timed",
}
COUNTS_FAILED = ("A failed submission uses none of your submission quota; a failure of your model counts as one "
                 "failed attempt toward the phase's daily failed-attempt limit.")


def plain_reason(sub) -> str | None:
    """The failure reason in words a participant can act on: the stage, what went wrong there
    (the recorded reason without its stage prefix), what it counts toward."""
    if sub.status == "Cancelled":
        who = "You (or your team)" if sub.reason == submissions.CANCELLED_BY_OWNER else "An organiser"
        return f"{who} cancelled this submission; it counts toward neither your quota nor the failed-attempt limit."
    if sub.status != "Failed":
        return None
    stage = sub.failed_stage
    why = (sub.reason or "").split(":", 1)[1].strip() if ":" in (sub.reason or "") else (sub.reason or "")
    if stage == "preflight":
        return (f"The file was rejected when it was uploaded, before anything ran: {why}. "
                f"{submissions.REJECTION_COUNTS[0].upper()}{submissions.REJECTION_COUNTS[1:]}.")
    if sub.fault == "infrastructure":
        return f"At the {stage or 'unknown'} stage: {PLAIN_REASONS['infrastructure']}"
    lead = PLAIN_REASONS.get(stage or "", "Your model failed")
    return f"{lead}: {why.rstrip('.')}. {COUNTS_FAILED}"


@router.get("/submissions/{sub_id:int}")
def submission_detail(sub_id: RowId, request: Request):
    u = need_user(request)
    d = submissions.submission_detail(request.app.state.platform, sub_id, u)
    return render(request, "submission.html", user=u, title=f"Submission {sub_id}", sub=d.public, c=d.challenge,
                  run=d.run, hist=histogram(d.run.get("samples_ms") or []), logs=d.logs, wait=d.wait_s,
                  reason=plain_reason(d), hidden=d.hidden, active=d.public.status in ACTIVE_STATUSES, limits=d.limits,
                  failed_stage=d.failed_stage)


@router.get("/submissions/{sub_id:int}.json")
def submission_json(sub_id: RowId, request: Request):
    u = need_user(request)
    return JSONResponse(submissions.read_submission(request.app.state.platform, sub_id, u).model_dump())


@router.get("/me")
def me(request: Request):
    return RedirectResponse("/account" if current_user(request) else "/signin", status_code=303)
