"""What the report's results section is written from (:mod:`maikit.report`): a phase's ranked
rows, as its leaderboard ranks them, with each row's author, file size, every metric, the
Pareto flag and the team's factsheet. Organisers only (hidden phases included): through
``GET /api/challenges/{slug}/phases/{phase}/report``, or offline from the database
(``mai challenge report --db``), both by :func:`report_data`.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import joinedload

from maikit.server.challenge import ChallengeDef
from maikit.server.db.models import Factsheet, Submission
from maikit.server.errors import NotFound
from maikit.server.services.leaderboards import leaderboard_rows
from maikit.server.services.lookup import get_challenge, get_phase


def default_phase(cdef: ChallengeDef) -> str:
    """The phase a report is about when none is named: the last test phase, else the last one."""
    tests = [p.slug for p in cdef.phases if p.kind == "test"]
    return tests[-1] if tests else cdef.phases[-1].slug


def report_data(db, slug: str, phase: str | None = None) -> dict:
    """The report data of a phase (``phase`` None: :func:`default_phase`); ``db`` is a
    :class:`~maikit.server.db.session.Database` (the platform's, or one opened offline)."""
    with db.read() as s:
        if phase is None:
            phase = default_phase(ChallengeDef.model_validate(get_challenge(s, slug).definition))
        c, ph, cdef = get_phase(s, slug, phase)
        rows = leaderboard_rows(s, ph, cdef)
        ids = [r["submission_id"] for r in rows]
        subs = {sub.id: sub for sub in s.execute(select(Submission).options(joinedload(Submission.user))
                                                 .where(Submission.id.in_(ids))).scalars()} if ids else {}
        sheets = {f.owner_key: f.data for f in s.execute(select(Factsheet).where(Factsheet.phase_id == ph.id)).scalars()}
        pdef = cdef.phase(ph.slug)
        out_rows = []
        for r in rows:
            sub = subs.get(r["submission_id"])
            if sub is None:  # gone between the two reads: the next report has it right
                raise NotFound(f"submission {r['submission_id']} changed while the report was read; run it again")
            metrics = {k: v for k, v in (sub.metrics or {}).items() if k not in ("images", "runtime_ms")}
            out_rows.append({"rank": r["rank"], "team": r["team"], "author": sub.user.username,
                             "submission_id": sub.id, "size_bytes": sub.size_bytes, "metrics": metrics,
                             "runtime_ms": sub.runtime_ms, "score": sub.score, "pareto": bool(r.get("pareto")),
                             "code": sub.code_sha256 is not None and sub.code_size_bytes is not None,
                             "factsheet": sheets.get(sub.owner_key)})
        return {"challenge": {"slug": c.slug, "title": c.title, "task": c.task},
                "phase": {"slug": ph.slug, "title": pdef.title, "kind": ph.kind, "ranking": pdef.ranking,
                          "published": ph.published, "start": ph.start.isoformat(), "end": ph.end.isoformat()},
                "columns": [col.model_dump() for col in cdef.leaderboard], "rows": out_rows}
