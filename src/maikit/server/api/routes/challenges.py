"""Challenges and phases: read, create or update from a definition, publish, re-run, export."""

from __future__ import annotations

import csv
import io
import json

from fastapi import APIRouter, Body, Depends, HTTPException, Request
from fastapi.responses import PlainTextResponse, Response
from sqlalchemy import select

from maikit.errors import MaikitError
from maikit.server.api.deps import Caller, caller, organiser, state
from maikit.server.api.schemas import ChallengePublic, PhasePublic
from maikit.server.challenge import ChallengeDef, parse_challenge
from maikit.server.db.models import FINISHED, Challenge, Phase, Submission, User

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
    from maikit.server.jobs.pipeline import rerun_submission

    with st.db.write() as s, s.begin():
        c, p, cdef = get_phase(s, slug, phase)
        subs = s.execute(select(Submission).where(Submission.phase_id == p.id, Submission.superseded.is_(False),
                                                  Submission.stage.is_distinct_from("preflight"))
                         .order_by(Submission.id)).scalars().all()
        new = [rerun_submission(s, sub, st.now(), st.settings.max_attempts).id for sub in subs]
    return {"rerun": len(new), "submissions": new}


@router.get("/{slug}/phases/{phase}/export")
def export_phase(slug: str, phase: str, format: str = "json", _: User = Depends(organiser), st=Depends(state)) -> Response:
    """Every submission of a phase with its metrics, runtime samples, fingerprint and files' sha256."""
    with st.db.read() as s:
        c, p, cdef = get_phase(s, slug, phase)
        subs = s.execute(select(Submission).where(Submission.phase_id == p.id).order_by(Submission.id)).scalars().all()
        rows = []
        for sub in subs:
            jobs = {j.role: j for j in sub.jobs}
            run = (jobs.get("runtime").result or {}) if jobs.get("runtime") else {}
            fid = (jobs.get("fidelity").result or {}) if jobs.get("fidelity") else {}
            rows.append({
                "id": sub.id, "user": sub.user.username, "owner": sub.owner_key, "status": sub.status, "stage": sub.stage,
                "reason": sub.reason, "fault": sub.fault, "parent_id": sub.parent_id, "superseded": sub.superseded,
                "created_at": sub.created_at.isoformat(), "finished_at": sub.finished_at.isoformat() if sub.finished_at else None,
                "sha256": sub.runtime_sha256, "fidelity_sha256": sub.fidelity_sha256, "size_bytes": sub.size_bytes,
                "score": sub.score, "runtime_ms": sub.runtime_ms, "metrics": sub.metrics,
                "runtime": {k: run.get(k) for k in ("avg_ms", "std_ms", "p50_ms", "p90_ms", "min_ms", "runs", "samples_ms",
                                                     "threads", "input_shape", "settings")},
                "fingerprint": run.get("fingerprint") or {k: run.get(k) for k in ("cpu", "machine", "runtime_version", "versions")},
                "versions": {"runtime": run.get("versions_worker"), "fidelity": fid.get("versions_worker")},
            })
    if format == "csv":
        buf = io.StringIO()
        keys = ["id", "user", "status", "reason", "score", "runtime_ms", "metrics", "size_bytes", "sha256", "created_at",
                "samples_ms", "cpu", "runtime_version"]
        w = csv.DictWriter(buf, fieldnames=keys, extrasaction="ignore", lineterminator="\n")
        w.writeheader()
        for r in rows:
            w.writerow({**r, "metrics": json.dumps(r["metrics"]) if r["metrics"] else "",
                        "samples_ms": " ".join(f"{v:.4f}" for v in (r["runtime"]["samples_ms"] or [])),
                        "cpu": (r["fingerprint"] or {}).get("cpu"), "runtime_version": (r["fingerprint"] or {}).get("runtime_version")})
        return PlainTextResponse(buf.getvalue(), media_type="text/csv")
    return Response(json.dumps({"challenge": slug, "phase": phase, "submissions": rows}), media_type="application/json")
