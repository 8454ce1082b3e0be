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


def leaderboard_rows(s: Session, phase: Phase, cdef: ChallengeDef) -> list[dict]:
    from maikit.tasks import get_task

    pdef = cdef.phase(phase.slug)
    if pdef.ranking == "last":
        order = (Submission.created_at.desc(), Submission.id.desc())
    else:
        order = (Submission.score.desc(), Submission.created_at.asc(), Submission.id.asc())
    conds = [Submission.phase_id == phase.id, Submission.status == FINISHED, Submission.superseded.is_(False)]
    if pdef.ranking == "selected":
        conds.append(Submission.selected.is_(True))
    rn = func.row_number().over(partition_by=Submission.owner_key, order_by=order).label("rn")
    inner = select(Submission.id.label("sid"), rn).where(*conds).subquery()
    q = (select(Submission, User.username, Team.name)
         .join(inner, inner.c.sid == Submission.id)
         .join(User, User.id == Submission.user_id)
         .outerjoin(Team, Team.id == User.team_id)
         .where(inner.c.rn == 1)
         .order_by(Submission.score.desc(), Submission.created_at.asc(), Submission.id.asc()))
    spec = get_task(cdef.task)
    primary = spec.primary_metric
    higher = next(m.higher_is_better for m in spec.metrics if m.name == primary)
    rows = []
    for rank, (sub, username, team) in enumerate(s.execute(q).all(), start=1):
        m = sub.metrics or {}
        row = {"rank": rank, "team": team or username, "submission_id": sub.id, "size_kb": (sub.size_bytes or 0) / 1000.0,
               "submitted_at": sub.created_at.isoformat()}
        for col in cdef.leaderboard:
            row[col.key] = sub.score if col.key == "score" else (sub.runtime_ms if col.key == "runtime_ms" else m.get(col.key))
        row["_fid"] = m.get(primary)
        row["_rt"] = sub.runtime_ms
        rows.append(row)
    for r in rows:
        r["pareto"] = not any(_dominates(o, r, higher) for o in rows if o is not r)
    for r in rows:
        del r["_fid"], r["_rt"]
    return rows


def _dominates(a: dict, b: dict, higher: bool) -> bool:
    if None in (a["_fid"], b["_fid"], a["_rt"], b["_rt"]):
        return False
    fa, fb = (a["_fid"], b["_fid"]) if higher else (-a["_fid"], -b["_fid"])
    return fa >= fb and a["_rt"] <= b["_rt"] and (fa > fb or a["_rt"] < b["_rt"])


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
