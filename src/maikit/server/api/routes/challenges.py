"""Challenges and phases: read, create or update from a definition, publish, re-run, export."""

from __future__ import annotations

import json

from fastapi import APIRouter, Depends, Request
from fastapi.responses import PlainTextResponse, Response
from starlette.concurrency import run_in_threadpool

from maikit.server.api.deps import organiser, state
from maikit.server.api.schemas import ChallengePublic, PhasePublic
from maikit.server.db.models import User
from maikit.server.services import challenges, submissions

router = APIRouter(prefix="/api/challenges", tags=["challenges"])


@router.get("", response_model=list[ChallengePublic])
def list_challenges(st=Depends(state)) -> list[ChallengePublic]:
    return challenges.list_challenges(st)


@router.get("/{slug}", response_model=ChallengePublic)
def read_challenge(slug: str, st=Depends(state)) -> ChallengePublic:
    return challenges.read_challenge(st, slug)


@router.post("", response_model=ChallengePublic, status_code=201,
             openapi_extra={"requestBody": {"content": {"application/json": {"schema": {"type": "object"}},
                                                        "application/yaml": {"schema": {"type": "string"}}}}})
async def create_challenge(request: Request, _: User = Depends(organiser), st=Depends(state)) -> ChallengePublic:
    """Create or update a challenge from its definition (JSON, or YAML with ``application/yaml``)."""
    cdef = challenges.read_definition(await request.body(), yaml="yaml" in request.headers.get("content-type", ""))
    return await run_in_threadpool(challenges.save_challenge, st, cdef)


@router.post("/check", openapi_extra={"requestBody": {"content": {"application/json": {"schema": {"type": "object"}},
                                                                 "application/yaml": {"schema": {"type": "string"}}}}})
async def check_challenge(request: Request, _: User = Depends(organiser), st=Depends(state)) -> dict:
    """What creating this definition would refuse (``problems``) and what would not work yet
    (``warnings``: a device tag no registered worker serves), checked on this server; nothing is saved."""
    raw = await request.body()
    return await run_in_threadpool(challenges.check_definition, st, raw,
                                   yaml="yaml" in request.headers.get("content-type", ""))


@router.post("/{slug}/phases/{phase}/publish", response_model=PhasePublic)
def publish(slug: str, phase: str, _: User = Depends(organiser), st=Depends(state)) -> PhasePublic:
    """Make a phase's results visible (test phases are hidden until then)."""
    return challenges.publish_phase(st, slug, phase)


@router.post("/{slug}/phases/{phase}/rerun")
def rerun_phase(slug: str, phase: str, runtime_only: bool = False, flagged_only: bool = False,
                _: User = Depends(organiser), st=Depends(state)) -> dict:
    """Re-run the newest submission of every lineage in the phase (e.g. after a device change);
    ``flagged_only``: only those whose runtime is flagged; ``runtime_only``: re-measure the
    runtime and keep the fidelity result."""
    new = challenges.rerun_phase(st, slug, phase, runtime_only, flagged_only)
    return {"rerun": len(new), "submissions": new}


@router.get("/{slug}/phases/{phase}/export")
def export_phase(slug: str, phase: str, format: str = "json", _: User = Depends(organiser), st=Depends(state)) -> Response:
    """Every submission of a phase with its metrics, runtime samples, fingerprint and files' sha256."""
    rows = submissions.export_phase(st, slug, phase)
    if format == "csv":
        return PlainTextResponse(submissions.export_csv(rows), media_type="text/csv")
    return Response(json.dumps({"challenge": slug, "phase": phase, "submissions": rows}), media_type="application/json")
