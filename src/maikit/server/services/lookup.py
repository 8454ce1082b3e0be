"""Find a challenge, or one of its phases, by slug (NotFound otherwise): where every service
that is addressed by slugs starts. It imports no other service and not the platform state,
so the leaderboard cache, which the platform state holds, can use it too."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from maikit.server.challenge import ChallengeDef
from maikit.server.db.models import Challenge, Phase
from maikit.server.errors import NotFound


def get_challenge(s: Session, slug: str) -> Challenge:
    c = s.execute(select(Challenge).where(Challenge.slug == slug)).scalar_one_or_none()
    if c is None:
        raise NotFound(f"no challenge {slug!r}")
    return c


def get_phase(s: Session, slug: str, phase: str) -> tuple[Challenge, Phase, ChallengeDef]:
    """The challenge, the phase and the challenge's definition."""
    c = get_challenge(s, slug)
    p = s.execute(select(Phase).where(Phase.challenge_id == c.id, Phase.slug == phase)).scalar_one_or_none()
    if p is None:
        raise no_phase(slug, phase, [ph.slug for ph in c.phases])
    return c, p, ChallengeDef.model_validate(c.definition)


def no_phase(slug: str, phase: str, names: list[str]) -> NotFound:
    """The one refusal of an unknown phase, naming the phases the challenge has."""
    return NotFound(f"challenge {slug!r} has no phase {phase!r} (its phases: {', '.join(names) or 'none yet'})")
