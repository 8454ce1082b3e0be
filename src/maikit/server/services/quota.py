"""Submission quota per participant (or team), per UTC day and in total.

What counts: submissions that are queued, running or finished (``counts_quota``; organiser
re-runs do not). Failed submissions never count toward these limits: a model fault counts
toward ``max_failed_per_day`` instead (preflight rejections included), an infrastructure
failure toward nothing; a cancelled one toward nothing. Days are UTC calendar days.

Race-proof: :func:`lock_owner` bumps the owner's row first in the upload's transaction
(a row lock on PostgreSQL, SQLite's write lock), so concurrent uploads of one owner count
one after the other. A failure at preflight is stored the same way (the lock, then the failed
count again), so simultaneous junk uploads stop at ``max_failed_per_day``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from maikit.server.challenge import ChallengeDef, PhaseDef
from maikit.server.core.clock import day_bounds
from maikit.server.db.models import CANCELLED, FAILED, FAULT_MODEL, Submission, Team, User
from maikit.server.services.lookup import get_challenge, get_phase
from maikit.server.state import Platform


def owner_key(user: User) -> str:
    return f"t{user.team_id}" if user.team_id is not None else f"u{user.id}"


def lock_owner(s: Session, user: User) -> None:
    if user.team_id is not None:
        s.execute(update(Team).where(Team.id == user.team_id).values(quota_lock=Team.quota_lock + 1))
    else:
        s.execute(update(User).where(User.id == user.id).values(quota_lock=User.quota_lock + 1))


@dataclass
class Usage:
    used_today: int
    used_total: int
    failed_today: int
    max_per_day: int | None
    max_total: int | None
    max_failed_per_day: int | None
    resets_at: str  # next UTC midnight, ISO 8601

    def to_dict(self) -> dict:
        return asdict(self)

    def refusal(self) -> str | None:
        """Why one more submission is refused now, or None."""
        if self.max_total is not None and self.used_total >= self.max_total:
            return f"submission quota exhausted: {self.used_total} of {self.max_total} submissions used in this phase"
        if self.max_per_day is not None and self.used_today >= self.max_per_day:
            return (f"daily submission quota exhausted: {self.used_today} of {self.max_per_day} used today (UTC); "
                    f"it resets at {self.resets_at}")
        return None

    def failed_refusal(self) -> str | None:
        if self.max_failed_per_day is not None and self.failed_today >= self.max_failed_per_day:
            return (f"failed-submission limit reached: {self.failed_today} of {self.max_failed_per_day} failed today "
                    f"(UTC); it resets at {self.resets_at}")
        return None


def usage(s: Session, *, phase_id: int, owner: str, pdef: PhaseDef, now: datetime) -> Usage:
    start, end = day_bounds(now)
    base = (Submission.phase_id == phase_id, Submission.owner_key == owner)
    counted = (Submission.counts_quota.is_(True), Submission.status.not_in((FAILED, CANCELLED)))
    total = s.scalar(select(func.count()).select_from(Submission).where(*base, *counted))
    today = s.scalar(select(func.count()).select_from(Submission).where(
        *base, *counted, Submission.created_at >= start, Submission.created_at < end))
    failed = s.scalar(select(func.count()).select_from(Submission).where(
        *base, Submission.status == FAILED, Submission.fault == FAULT_MODEL,
        Submission.created_at >= start, Submission.created_at < end))
    return Usage(int(today), int(total), int(failed), pdef.max_submissions_per_day, pdef.max_submissions,
                 pdef.max_failed_per_day, end.isoformat().replace("+00:00", "Z"))


def phase_usage(p: Platform, slug: str, phase: str, user: User) -> Usage:
    """``user``'s use of one phase's quota now."""
    with p.db.read() as s:
        _c, ph, cdef = get_phase(s, slug, phase)
        return usage(s, phase_id=ph.id, owner=owner_key(user), pdef=cdef.phase(ph.slug), now=p.now())


def challenge_usage(p: Platform, slug: str, user: User) -> dict[str, Usage]:
    """``user``'s use of every phase's quota of a challenge now, by phase slug."""
    now = p.now()
    with p.db.read() as s:
        c = get_challenge(s, slug)
        cdef = ChallengeDef.model_validate(c.definition)
        return {ph.slug: usage(s, phase_id=ph.id, owner=owner_key(user), pdef=cdef.phase(ph.slug), now=now)
                for ph in c.phases}
