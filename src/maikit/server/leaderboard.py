"""Leaderboards: one row per participant (or team) per phase, by the phase's ranking rule.

The database picks each owner's row with a window function over the
``ix_submissions_board`` index (best: highest score, ties to the earlier submission; last:
the newest; selected: the one the participant selected), so the work does not grow with
the number of submissions kept in Python. Rows carry the challenge's columns, the file
size, and a Pareto flag (no other row is at least as good in fidelity and runtime and
better in one).
"""

from __future__ import annotations

import csv
import io
import threading

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from maikit.server.challenge import ChallengeDef
from maikit.server.db.models import FINISHED, Phase, Submission, Team, User


def board_refusal(phase: Phase, cdef: ChallengeDef, user: User | None) -> str | None:
    """Why ``user`` (None: anonymous) may not see this phase's leaderboard, or None.

    ``private`` boards are for organisers; ``hidden-until-published`` ones until published."""
    if user is not None and user.is_organiser:
        return None
    vis = cdef.phase(phase.slug).visibility
    if vis == "private" or (vis == "hidden-until-published" and not phase.published):
        return (f"the leaderboard of {cdef.slug}/{phase.slug} is not public"
                + (" until an organiser publishes it" if vis != "private" else ""))
    return None


_CACHE: dict[tuple, tuple[tuple, list[dict]]] = {}
_CACHE_LOCK = threading.Lock()


def leaderboard_rows(s: Session, phase: Phase, cdef: ChallengeDef) -> list[dict]:
    """The ranked rows; rebuilt only when the phase's finished submissions changed.

    A cheap aggregate over the board index (count, id sum, newest finish) tells whether the
    rows this process built last time are still current, so several server processes on one
    database each stay correct.
    """
    pdef = cdef.phase(phase.slug)
    conds = [Submission.phase_id == phase.id, Submission.status == FINISHED, Submission.superseded.is_(False)]
    if pdef.ranking == "selected":
        conds.append(Submission.selected.is_(True))
    signature = tuple(s.execute(select(func.count(), func.sum(Submission.id), func.max(Submission.finished_at))
                                .where(*conds)).one())
    key = (phase.id, pdef.ranking, tuple(c.key for c in cdef.leaderboard), cdef.task)
    with _CACHE_LOCK:
        hit = _CACHE.get(key)
    if hit is not None and hit[0] == signature:
        return [dict(r) for r in hit[1]]
    rows = _build_rows(s, phase, cdef, conds)
    with _CACHE_LOCK:
        _CACHE[key] = (signature, rows)
    return [dict(r) for r in rows]


def _build_rows(s: Session, phase: Phase, cdef: ChallengeDef, conds: list) -> list[dict]:
    from maikit.tasks import get_task

    pdef = cdef.phase(phase.slug)
    if pdef.ranking == "last":
        order = (Submission.created_at.desc(), Submission.id.desc())
    else:
        order = (Submission.score.desc(), Submission.created_at.asc(), Submission.id.asc())
    rn = func.row_number().over(partition_by=Submission.owner_key, order_by=order).label("rn")
    inner = select(Submission.id.label("sid"), rn).where(*conds).subquery()
    q = (select(Submission.id, Submission.size_bytes, Submission.created_at, Submission.metrics, Submission.runtime_ms,
                Submission.score, User.username, Team.name)
         .join(inner, inner.c.sid == Submission.id)
         .join(User, User.id == Submission.user_id)
         .outerjoin(Team, Team.id == User.team_id)
         .where(inner.c.rn == 1)
         .order_by(Submission.score.desc(), Submission.created_at.asc(), Submission.id.asc()))
    spec = get_task(cdef.task)
    primary = spec.primary_metric
    higher = next(m.higher_is_better for m in spec.metrics if m.name == primary)
    rows, points = [], []
    for rank, (sid, size, created, metrics, runtime_ms, score, username, team) in enumerate(s.execute(q).all(), start=1):
        m = metrics or {}
        row = {"rank": rank, "team": team or username, "submission_id": sid, "size_kb": (size or 0) / 1000.0,
               "submitted_at": created.isoformat()}
        for col in cdef.leaderboard:
            row[col.key] = score if col.key == "score" else (runtime_ms if col.key == "runtime_ms" else m.get(col.key))
        rows.append(row)
        fid = m.get(primary)
        points.append(None if fid is None or runtime_ms is None else (fid if higher else -fid, runtime_ms))
    for row, on in zip(rows, pareto_front(points)):
        row["pareto"] = on
    return rows


def pareto_front(points: list[tuple[float, float] | None]) -> list[bool]:
    """For (fidelity, higher is better; runtime, lower is better) pairs: True where no other
    point is at least as good in both and better in one. None (unmeasured) is never on it."""
    best_at: dict[float, float] = {}  # runtime -> best fidelity at exactly that runtime
    for p in points:
        if p is not None:
            best_at[p[1]] = max(best_at.get(p[1], float("-inf")), p[0])
    best_before: dict[float, float] = {}  # runtime -> best fidelity among strictly faster points
    best = float("-inf")
    for rt in sorted(best_at):
        best_before[rt] = best
        best = max(best, best_at[rt])
    return [p is not None and best_before[p[1]] < p[0] and best_at[p[1]] <= p[0] for p in points]


def columns(cdef: ChallengeDef) -> list[dict]:
    return ([{"key": "rank", "title": "#"}, {"key": "team", "title": "Team"}, {"key": "size_kb", "title": "Size, KB", "precision": 1}]
            + [c.model_dump() for c in cdef.leaderboard] + [{"key": "pareto", "title": "Pareto"}])


def to_csv(rows: list[dict], cols: list[dict]) -> str:
    buf = io.StringIO()
    keys = [c["key"] for c in cols] + ["submission_id", "submitted_at"]
    w = csv.DictWriter(buf, fieldnames=keys, extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow(r)
    return buf.getvalue()
