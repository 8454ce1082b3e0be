"""The testing phase's parts beside the model: the starting kit (signed-in participants), the
factsheet (its owner; all of a phase's for organisers), a submission's whole bundle and the
report's data (organisers)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import FileResponse, Response
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool

from maikit.server.api.deps import organiser, state, user
from maikit.server.api.params import RowId
from maikit.server.db.models import User
from maikit.server.errors import TooLarge
from maikit.server.factsheet import FACTSHEET_MAX_BYTES
from maikit.server.services import factsheets, kit, reports, submissions

router = APIRouter(prefix="/api", tags=["kit and bundles"])


@router.get("/challenges/{slug}/kit")
def kit_listing(slug: str, phase: str | None = None, _: User = Depends(user), st=Depends(state)) -> dict:
    """The starting kit's downloads (of one phase with ``?phase=``): name, title, kind, size, sha256."""
    return {"challenge": slug, "phase": phase, "files": [e.to_dict() for e in kit.listing(st, slug, phase)]}


@router.get("/challenges/{slug}/kit/{name:path}")
def kit_download(slug: str, name: str, _: User = Depends(user), st=Depends(state)):
    """One download of the starting kit, by the name its listing gives (the ``X-Sha256`` header: its sha256)."""
    what, entry = kit.kit_download(st, slug, name)
    headers = {"X-Sha256": entry.sha256}
    filename = name.rsplit("/", 1)[-1]
    if isinstance(what, bytes):
        return Response(what, media_type="text/markdown; charset=utf-8",
                        headers=headers | {"Content-Disposition": f'attachment; filename="{filename}"'})
    return FileResponse(what, media_type="application/octet-stream", filename=filename, headers=headers)


@router.get("/challenges/{slug}/phases/{phase}/factsheet")
def read_factsheet(slug: str, phase: str, u: User = Depends(user), st=Depends(state)) -> dict:
    """Your (or your team's) factsheet for the phase; ``factsheet`` is null until one is saved."""
    return factsheets.read_own(st, slug, phase, u).to_dict()


@router.put("/challenges/{slug}/phases/{phase}/factsheet",
            openapi_extra={"requestBody": {"content": {"application/json": {"schema": {"type": "object"}},
                                                       "application/yaml": {"schema": {"type": "string"}}}}})
async def save_factsheet(slug: str, phase: str, request: Request, u: User = Depends(user), st=Depends(state)) -> dict:
    """Save your (or your team's) factsheet (JSON, or YAML with ``application/yaml``) until the phase ends."""
    raw = b""
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > FACTSHEET_MAX_BYTES:
            raise TooLarge(f"a factsheet is at most {FACTSHEET_MAX_BYTES // 1000} KB")
    sheet = factsheets.from_file(raw)
    return (await run_in_threadpool(factsheets.save_own, st, slug, phase, u, sheet)).to_dict()


@router.get("/challenges/{slug}/phases/{phase}/factsheets")
def phase_factsheets(slug: str, phase: str, _: User = Depends(organiser), st=Depends(state)) -> dict:
    """Every factsheet of the phase (organisers)."""
    return {"challenge": slug, "phase": phase, "factsheets": factsheets.phase_factsheets(st, slug, phase)}


@router.get("/challenges/{slug}/phases/{phase}/report")
def report(slug: str, phase: str, _: User = Depends(organiser), st=Depends(state)) -> dict:
    """What ``mai challenge report`` writes the results section from (organisers, hidden phases too)."""
    return reports.report_data(st.db, slug, phase)


@router.get("/challenges/{slug}/report")
def report_default_phase(slug: str, _: User = Depends(organiser), st=Depends(state)) -> dict:
    """The report data of the challenge's last test phase (else its last phase)."""
    return reports.report_data(st.db, slug)


@router.get("/submissions/{sub_id}/bundle", response_class=FileResponse)
def download_bundle(sub_id: RowId, _: User = Depends(organiser), st=Depends(state)):
    """A submission's bundle as one zip: model file(s), code archive, factsheet.json (organisers)."""
    path, name = submissions.bundle_archive(st, sub_id)
    return FileResponse(path, media_type="application/zip", filename=name,
                        background=BackgroundTask(path.unlink, missing_ok=True))
