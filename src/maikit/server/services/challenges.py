"""Challenges and phases: look up, create or update from a definition, publish, re-run a
phase, and their public view (what anyone may read of them)."""

from __future__ import annotations

import json

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session

from maikit.errors import MaikitError
from maikit.server.challenge import ChallengeDef, parse_challenge
from maikit.server.db.models import Challenge, Phase
from maikit.server.errors import Conflict, Invalid
from maikit.server.jobs.pipeline import rerun_phase as rerun_all
from maikit.server.services.lookup import get_challenge, get_phase
from maikit.server.state import Platform


class PhasePublic(BaseModel):
    slug: str
    title: str | None
    kind: str
    start: str
    end: str
    open: bool
    max_submissions_per_day: int | None
    max_submissions: int | None
    max_failed_per_day: int | None
    execution_time_limit_s: float
    visibility: str
    ranking: str
    published: bool


class ChallengePublic(BaseModel):
    slug: str
    title: str
    task: str
    description: str
    upload_cap_mb: float
    protocol: dict
    leaderboard: list[dict]
    phases: list[PhasePublic]

    def phase(self, slug: str) -> PhasePublic:
        return next(p for p in self.phases if p.slug == slug)


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


def list_challenges(p: Platform) -> list[ChallengePublic]:
    with p.db.read() as s:
        return [challenge_public(c, p.now()) for c in s.execute(select(Challenge).order_by(Challenge.id)).scalars()]


def read_challenge(p: Platform, slug: str) -> ChallengePublic:
    with p.db.read() as s:
        return challenge_public(get_challenge(s, slug), p.now())


def definition(p: Platform, slug: str, phase: str) -> ChallengeDef:
    """The definition of the challenge that has this phase (NotFound for an unknown phase)."""
    with p.db.read() as s:
        return get_phase(s, slug, phase)[2]


def read_definition(raw: bytes, *, yaml: bool) -> ChallengeDef:
    """A challenge definition sent as JSON (or YAML), validated (Invalid: the first bad field)."""
    try:
        if yaml:
            import yaml as pyyaml

            obj = pyyaml.safe_load(raw)
        else:
            obj = json.loads(raw)
    except Exception as e:
        raise Invalid(f"not a readable definition ({str(e).splitlines()[0] if str(e) else type(e).__name__})")
    try:
        return parse_challenge(obj, "challenge")
    except MaikitError as e:
        raise Invalid(str(e))


def upsert_challenge(s: Session, cdef: ChallengeDef, now) -> Challenge:
    """Create the challenge, or update its definition and phases (phases are never deleted)."""
    c = s.execute(select(Challenge).where(Challenge.slug == cdef.slug)).scalar_one_or_none()
    definition = json.loads(cdef.model_dump_json())
    if c is None:
        c = Challenge(slug=cdef.slug, title=cdef.title, task=cdef.task, definition=definition, created_at=now)
        s.add(c)
        s.flush()
    else:
        if c.task != cdef.task:
            raise Conflict(f"challenge {cdef.slug!r} is for task {c.task!r}; its task cannot change")
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


def save_challenge(p: Platform, cdef: ChallengeDef) -> ChallengePublic:
    with p.db.write() as s, s.begin():
        return challenge_public(upsert_challenge(s, cdef, p.now()), p.now())


def publish_phase(p: Platform, slug: str, phase: str) -> PhasePublic:
    """Make a phase's results visible (test phases are hidden until then)."""
    with p.db.write() as s, s.begin():
        _c, ph, cdef = get_phase(s, slug, phase)
        ph.published = True
        return phase_public(ph, cdef, p.now())


def rerun_phase(p: Platform, slug: str, phase: str) -> list[int]:
    """Re-run the newest submission of every lineage in the phase; the new submissions' ids."""
    with p.db.write() as s, s.begin():
        return rerun_all(s, get_phase(s, slug, phase)[1], p.now(), p.settings.max_attempts)
