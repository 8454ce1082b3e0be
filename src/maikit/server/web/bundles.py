"""Pages of the testing phase's parts: the starting kit's downloads and the generated
guideline (signed-in users), the factsheet form (its team, until the phase ends), and the
organisers' downloads of bundles, factsheets and the report's data."""

from __future__ import annotations

import json
import re

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, JSONResponse, Response
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool

from maikit.server.api.errors import status_of
from maikit.server.api.params import RowId
from maikit.server.errors import ServiceError
from maikit.server.services import challenges, factsheets, kit, reports, submissions
from maikit.server.web.render import render
from maikit.server.web.session import checked_form, need_organiser, need_user

router = APIRouter(include_in_schema=False)


@router.get("/challenges/{slug}/kit/{name:path}")
def kit_download(slug: str, name: str, request: Request):
    need_user(request)
    what, entry = kit.kit_download(request.app.state.platform, slug, name)
    filename = name.rsplit("/", 1)[-1]
    if isinstance(what, bytes):
        return Response(what, media_type="text/markdown; charset=utf-8",
                        headers={"Content-Disposition": f'attachment; filename="{filename}"', "X-Sha256": entry.sha256})
    return FileResponse(what, media_type="application/octet-stream", filename=filename, headers={"X-Sha256": entry.sha256})


@router.get("/challenges/{slug}/guideline")
def guideline(slug: str, request: Request):
    u = need_user(request)
    st = request.app.state.platform
    pub = challenges.read_challenge(st, slug)
    title, _, body = kit.guideline_text(st, slug).partition("\n")
    # the page's h1 is the guideline's title; its sections (##) sit under the page's h2 (the
    # Markdown filter lowers headings by two levels)
    body = re.sub(r"^## ", "# ", body, flags=re.M)
    return render(request, "guideline.html", user=u, title=f"Optimisation guideline: {pub.title}", c=pub,
                  heading=title.removeprefix("# "), text=body)


# --------------------------------------------------------------------------------------
# The factsheet form: lists as one entry per line


def _lines(text: str) -> list[str]:
    return [ln.strip() for ln in (text or "").splitlines() if ln.strip()]


def _fields(form) -> dict:
    """The form's fields as a factsheet object: members "Name | e-mail | 1, 2" and links
    "title | https://..." one per line, affiliations one per line."""
    members = []
    for line in _lines(form.get("members", "")):
        parts = [p.strip() for p in line.split("|")]
        m: dict = {"name": parts[0]}
        if len(parts) > 1 and parts[1]:
            m["email"] = parts[1]
        if len(parts) > 2 and parts[2]:
            nums = [p.strip() for p in parts[2].split(",") if p.strip()]
            m["affiliations"] = [int(n) if n.isdigit() else n for n in nums]
        members.append(m)
    links = []
    for line in _lines(form.get("links", "")):
        title, sep, url = line.rpartition("|")
        links.append({"title": title.strip() or None, "url": url.strip()} if sep else {"url": line})
    obj = {k: str(form.get(k, "")).strip() for k in ("team", "title", "description", "framework", "training_data",
                                                       "training_time", "model_size")}
    obj["model_size"] = obj["model_size"] or None
    return obj | {"members": members, "affiliations": _lines(form.get("affiliations", "")), "links": links}


def _as_form(sheet: dict | None) -> dict:
    """A saved factsheet as the form's text fields."""
    if not sheet:
        return {}
    members = [" | ".join([m["name"], m.get("email") or "", ", ".join(str(a) for a in m.get("affiliations") or [])]).rstrip(" |")
               for m in sheet.get("members") or []]
    links = [f"{link['title']} | {link['url']}" if link.get("title") else link["url"] for link in sheet.get("links") or []]
    return {**{k: sheet.get(k) or "" for k in ("team", "title", "description", "framework", "training_data",
                                                 "training_time", "model_size")},
            "members": "\n".join(members), "affiliations": "\n".join(sheet.get("affiliations") or []), "links": "\n".join(links)}


def _factsheet_page(request: Request, slug: str, phase: str, u, *, status: int = 200, values: dict | None = None,
                    error: str | None = None, saved: bool = False):
    st = request.app.state.platform
    pub = challenges.read_challenge(st, slug)
    view = factsheets.read_own(st, slug, phase, u)
    return render(request, "factsheet.html", status=status, user=u, title=f"Factsheet: {pub.title}", c=pub,
                  phase=pub.phase(phase), view=view, values=values if values is not None else _as_form(view.factsheet),
                  error=error, saved=saved)


@router.get("/challenges/{slug}/phases/{phase}/factsheet")
def factsheet_page(slug: str, phase: str, request: Request):
    return _factsheet_page(request, slug, phase, need_user(request))


@router.post("/challenges/{slug}/phases/{phase}/factsheet")
async def save_factsheet(slug: str, phase: str, request: Request):
    u = await run_in_threadpool(need_user, request)
    form = await checked_form(request)
    values = {k: str(form.get(k, "")) for k in ("team", "title", "members", "affiliations", "description", "framework",
                                                 "training_data", "training_time", "model_size", "links")}
    try:
        sheet = factsheets.validated(_fields(form))
        await run_in_threadpool(factsheets.save_own, request.app.state.platform, slug, phase, u, sheet)
    except ServiceError as e:
        return await run_in_threadpool(lambda: _factsheet_page(request, slug, phase, u, status=status_of(e), values=values,
                                                               error=e.reason))
    return await run_in_threadpool(lambda: _factsheet_page(request, slug, phase, u, saved=True))


# --------------------------------------------------------------------------------------
# Organisers' downloads


@router.get("/organiser/submissions/{sub_id}/bundle")
def organiser_bundle(sub_id: RowId, request: Request):
    need_organiser(request)
    path, name = submissions.bundle_archive(request.app.state.platform, sub_id)
    return FileResponse(path, media_type="application/zip", filename=name, background=BackgroundTask(path.unlink, missing_ok=True))


@router.get("/organiser/challenges/{slug}/phases/{phase}/factsheets.json")
def organiser_factsheets(slug: str, phase: str, request: Request):
    need_organiser(request)
    rows = factsheets.phase_factsheets(request.app.state.platform, slug, phase)
    return JSONResponse({"challenge": slug, "phase": phase, "factsheets": rows},
                        headers={"Content-Disposition": f'attachment; filename="{slug}-{phase}-factsheets.json"'})


@router.get("/organiser/challenges/{slug}/phases/{phase}/report.json")
def organiser_report(slug: str, phase: str, request: Request):
    need_organiser(request)
    data = reports.report_data(request.app.state.platform.db, slug, phase)
    return Response(json.dumps(data, ensure_ascii=False), media_type="application/json",
                    headers={"Content-Disposition": f'attachment; filename="{slug}-{phase}-report.json"'})
