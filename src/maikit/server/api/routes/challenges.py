"""Challenges and phases: read, create or update from a definition, publish, re-run, export."""

from __future__ import annotations

import json

from fastapi import APIRouter, Body, Depends, HTTPException, Request
from fastapi.responses import PlainTextResponse, Response
from sqlalchemy import select

from maikit.errors import MaikitError
from maikit.server.api.deps import Caller, caller, organiser, state
from maikit.server.api.schemas import ChallengePublic, PhasePublic
from maikit.server.challenge import ChallengeDef, parse_challenge
from maikit.server.db.models import Challenge, Phase, User
from maikit.server.submissions import export_csv, export_rows

router = APIRouter(prefix="/api/challenges", tags=["challenges"])


def get_challenge(s, slug: str) -> Challenge:
    c = s.execute(select(Challenge).where(Challenge.slug == slug)).scalar_one_or_none()
    if c is None:
        raise HTTPException(404, f"no challenge {slug!r}")
    return c


def get_phase(s, slug: str, phase: str) -> tuple[Challenge, Phase, ChallengeDef]:
    c = get_challenge(s, slug)
    p = s.execute(select(Phase).where(Phase.challenge_id == c.id, Phase.slug == phase)).scalar_one_or_none()
    if p is None:
        raise HTTPException(404, f"challenge {slug!r} has no phase {phase!r}")
    return c, p, ChallengeDef.model_validate(c.definition)


def phase_public(p: Phase, cdef: ChallengeDef, now) -> PhasePublic:
    d = cdef.phase(p.slug)
    return PhasePublic(slug=p.slug, title=d.title, kind=p.kind, start=p.start.isoformat(), end=p.end.isoformat(),
                       open=p.start <= now < p.end, max_submissions_per_day=d.max_submissions_per_day,
                       max_submissions=d.max_submissions, max_failed_per_day=d.max_failed_per_day,
                       execution_time_limit_s=d.execution_time_limit_s, visibility=d.visibility, ranking=d.ranking,
                       published=p.published)


def challenge_public(c: Challenge, now) -> ChallengePublic:
    cdef = ChallengeDef.model_validate(c.definition)
    return ChallengePublic(slug=c.slug, title=c.title, task=c.task, description=cdef.description,
                           upload_cap_mb=cdef.upload_cap_mb, protocol=cdef.protocol.model_dump(),
                           leaderboard=[col.model_dump() for col in cdef.leaderboard],
                           phases=[phase_public(p, cdef, now) for p in c.phases])


def upsert_challenge(s, cdef: ChallengeDef, now) -> Challenge:
    """Create the challenge, or update its definition and phases (phases are never deleted)."""
    c = s.execute(select(Challenge).where(Challenge.slug == cdef.slug)).scalar_one_or_none()
    definition = json.loads(cdef.model_dump_json())
    if c is None:
        c = Challenge(slug=cdef.slug, title=cdef.title, task=cdef.task, definition=definition, created_at=now)
        s.add(c)
        s.flush()
    else:
        if c.task != cdef.task:
            raise HTTPException(409, f"challenge {cdef.slug!r} is for task {c.task!r}; its task cannot change")
        c.title, c.definition = cdef.title, definition
    existing = {p.slug: p for p in c.phases}
    for pd in cdef.phases:
        p = existing.get(pd.slug)
        if p is None:
            s.add(Phase(challenge_id=c.id, slug=pd.slug, kind=pd.kind, start=pd.start, end=pd.end, published=False))
        else:
            p.kind, p.start, p.end = pd.kind, pd.start, pd.end
    s.flush()
    s.refresh(c)
    return c


@router.get("", response_model=list[ChallengePublic])
def list_challenges(st=Depends(state)) -> list[ChallengePublic]:
    with st.db.read() as s:
        return [challenge_public(c, st.now()) for c in s.execute(select(Challenge).order_by(Challenge.id)).scalars()]


@router.get("/{slug}", response_model=ChallengePublic)
def read_challenge(slug: str, st=Depends(state)) -> ChallengePublic:
    with st.db.read() as s:
        return challenge_public(get_challenge(s, slug), st.now())


@router.post("", response_model=ChallengePublic, status_code=201,
             openapi_extra={"requestBody": {"content": {"application/json": {"schema": {"type": "object"}},
                                                        "application/yaml": {"schema": {"type": "string"}}}}})
async def create_challenge(request: Request, _: User = Depends(organiser), st=Depends(state)) -> ChallengePublic:
    """Create or update a challenge from its definition (JSON, or YAML with ``application/yaml``)."""
    raw = await request.body()
    try:
        if "yaml" in request.headers.get("content-type", ""):
            import yaml

            obj = yaml.safe_load(raw)
        else:
            obj = json.loads(raw)
    except Exception as e:
        raise HTTPException(422, f"not a readable definition ({str(e).splitlines()[0] if str(e) else type(e).__name__})")
    try:
        cdef = parse_challenge(obj, "challenge")
    except MaikitError as e:
        raise HTTPException(422, str(e))
    with st.db.write() as s, s.begin():
        return challenge_public(upsert_challenge(s, cdef, st.now()), st.now())


@router.post("/{slug}/phases/{phase}/publish", response_model=PhasePublic)
def publish(slug: str, phase: str, _: User = Depends(organiser), st=Depends(state)) -> PhasePublic:
    """Make a phase's results visible (test phases are hidden until then)."""
    with st.db.write() as s, s.begin():
        c, p, cdef = get_phase(s, slug, phase)
        p.published = True
        return phase_public(p, cdef, st.now())


@router.post("/{slug}/phases/{phase}/rerun")
def rerun_phase(slug: str, phase: str, _: User = Depends(organiser), st=Depends(state)) -> dict:
    """Re-run the newest submission of every lineage in the phase (e.g. after a device change)."""
    from maikit.server.jobs.pipeline import rerun_phase as rerun_all

    with st.db.write() as s, s.begin():
        c, p, cdef = get_phase(s, slug, phase)
        new = rerun_all(s, p, st.now(), st.settings.max_attempts)
    return {"rerun": len(new), "submissions": new}


@router.get("/{slug}/phases/{phase}/export")
def export_phase(slug: str, phase: str, format: str = "json", _: User = Depends(organiser), st=Depends(state)) -> Response:
    """Every submission of a phase with its metrics, runtime samples, fingerprint and files' sha256."""
    with st.db.read() as s:
        c, p, cdef = get_phase(s, slug, phase)
        rows = export_rows(s, p.id)
    if format == "csv":
        return PlainTextResponse(export_csv(rows), media_type="text/csv")
    return Response(json.dumps({"challenge": slug, "phase": phase, "submissions": rows}), media_type="application/json")
