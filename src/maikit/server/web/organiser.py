"""Organisers' pages: phases (publish, re-run, export), every submission (filter, re-run,
cancel), workers and devices (health, last contact, current job)."""

from __future__ import annotations

import json
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from maikit.server.api.params import RowId
from maikit.server.db.models import ACTIVE_STATUSES, DONE_STATUSES, User
from maikit.server.errors import NotFound
from maikit.server.services import challenges, submissions, workers
from maikit.server.web.render import render
from maikit.server.web.session import checked_form, need_organiser

router = APIRouter(prefix="/organiser", include_in_schema=False)
STATUSES = (*ACTIVE_STATUSES, *DONE_STATUSES)
LIMIT = 100  # submissions listed at once (the filters reach the others)


@router.get("")
def organiser_home(request: Request, challenge: str = "", phase: str = "", status: str = "", user: str = "",
                   message: str = ""):
    u = need_organiser(request)
    st = request.app.state.platform
    subs = submissions.organiser_rows(st, challenge=challenge, phase=phase, status=status, user=user, limit=LIMIT)
    return render(request, "organiser.html", user=u, title="Organiser", challenges=challenges.list_challenges(st),
                  subs=subs, statuses=STATUSES, filters={"challenge": challenge, "phase": phase, "status": status,
                                                         "user": user}, message=message, limit=LIMIT)


@router.get("/devices")
def devices(request: Request):
    u = need_organiser(request)
    st = request.app.state.platform
    rows, queued = workers.devices(st)
    tags: dict[str, list] = {}
    for r in rows:
        tags.setdefault(r["w"].device_tag, []).append(r)
    return render(request, "devices.html", user=u, title="Workers and devices", rows=rows, tags=tags,
                  queued=queued, now=st.now(), unserved=workers.unserved_tags(st))


def _back(message: str) -> RedirectResponse:
    return RedirectResponse(f"/organiser?message={quote(message)}", status_code=303)


async def _act(request: Request, fn, *args):
    """An organiser's form action: role and CSRF checked, then ``fn(platform, *args, organiser)``
    in a thread; its return value."""
    u: User = await run_in_threadpool(need_organiser, request)
    await checked_form(request)
    return await run_in_threadpool(fn, request.app.state.platform, *args, u)


@router.post("/submissions/{sub_id}/rerun")
async def rerun(sub_id: RowId, request: Request):
    new = await _act(request, submissions.rerun, sub_id)
    return _back(f"Submission {sub_id} re-runs as {new.id}.")


@router.post("/submissions/{sub_id}/remeasure")
async def remeasure(sub_id: int, request: Request):
    new = await _act(request, lambda st, sid, u: submissions.rerun(st, sid, u, runtime_only=True), sub_id)
    return _back(f"Submission {sub_id}'s runtime is measured again as {new.id} (its fidelity result kept).")


@router.post("/submissions/{sub_id}/cancel")
async def cancel(sub_id: RowId, request: Request):
    await _act(request, submissions.cancel, sub_id)
    return _back(f"Submission {sub_id} cancelled.")


@router.post("/challenges/{slug}/phases/{phase}/rerun")
async def rerun_all(slug: str, phase: str, request: Request):
    new = await _act(request, lambda st, u: challenges.rerun_phase(st, slug, phase))
    return _back(f"{len(new)} submission{'s' if len(new) != 1 else ''} of {slug}/{phase} re-run.")


@router.post("/challenges/{slug}/phases/{phase}/remeasure-flagged")
async def remeasure_flagged(slug: str, phase: str, request: Request):
    new = await _act(request, lambda st, u: challenges.rerun_phase(st, slug, phase, runtime_only=True, flagged_only=True))
    return _back(f"{len(new)} flagged result{'s' if len(new) != 1 else ''} of {slug}/{phase} measured again "
                 f"(fidelity results kept).")


@router.post("/challenges/{slug}/phases/{phase}/publish")
async def publish(slug: str, phase: str, request: Request):
    await _act(request, lambda st, u: challenges.publish_phase(st, slug, phase))
    return _back(f"Results of {slug}/{phase} are published.")


@router.get("/challenges/{slug}/phases/{phase}/export.{fmt}")
def export(slug: str, phase: str, fmt: str, request: Request):
    need_organiser(request)
    if fmt not in ("json", "csv"):
        raise NotFound("export as .json or .csv")
    rows = submissions.export_phase(request.app.state.platform, slug, phase)
    name = f'attachment; filename="{slug}-{phase}-submissions.{fmt}"'
    if fmt == "csv":
        return PlainTextResponse(submissions.export_csv(rows), media_type="text/csv", headers={"Content-Disposition": name})
    return Response(json.dumps({"challenge": slug, "phase": phase, "submissions": rows}), media_type="application/json",
                    headers={"Content-Disposition": name})
