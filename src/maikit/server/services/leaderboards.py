"""Leaderboards: one row per participant (or team) per phase, by the phase's ranking rule.

The database picks each owner's row with a window function over the
``ix_submissions_board`` index (best: highest score, ties to the earlier submission; last:
the newest; selected: the one the participant selected), so the work does not grow with
the number of submissions kept in Python. Rows carry the challenge's columns, the file
size, and a Pareto flag (no other row is at least as good in fidelity and runtime and
better in one).

The API and the web pages serve boards from one :class:`BoardCache` per server process
(``Platform.boards``; no other copy of the rows is kept anywhere): rows built and bodies
encoded once per change, with ETags, answered from memory for up to ``leaderboard_fresh_s``
(a setting, 1 s by default) after the last database read confirmed them; see its docstring
for the staleness bound and the one invalidation rule. The HTTP answer (200 or 304) is the
route's; :meth:`Board.body` gives it what to send.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from dataclasses import dataclass, replace

import anyio.to_thread
from sqlalchemy import func, select
from sqlalchemy.orm import Session, aliased

from maikit.csvsafe import csv_text
from maikit.scoring.intervals import tie_groups
from maikit.server.challenge import ChallengeDef
from maikit.server.db.faults import database_away
from maikit.server.db.models import ACTIVE_STATUSES, FINISHED, Phase, Submission, Team, User
from maikit.server.errors import Forbidden
from maikit.server.services.lookup import get_phase


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


def lineage_of(sub=Submission):
    """A submission's lineage: the first submission of its chain of re-runs (its own id when it
    is not a re-run)."""
    return func.coalesce(sub.lineage_id, sub.id)


def _conditions(phase: Phase, cdef: ChallengeDef) -> list:
    """Which submissions compete on the board (before one per owner is picked): the newest
    Finished submission of each lineage. A re-run replaces its parent on the board only once it
    has finished: until then (and for good when it fails or is cancelled) the parent's last
    finished result stays."""
    newer = aliased(Submission)
    replaced = (select(newer.id).where(newer.phase_id == phase.id, newer.status == FINISHED,
                                       lineage_of(newer) == lineage_of(Submission), newer.id > Submission.id)
                .exists())
    conds = [Submission.phase_id == phase.id, Submission.status == FINISHED, ~replaced]
    if cdef.phase(phase.slug).ranking == "selected":
        conds.append(Submission.selected.is_(True))
    return conds


def _rerunning(phase: Phase) -> list:
    """Re-runs of the phase that have not finished yet (queued, running, scoring)."""
    return [Submission.phase_id == phase.id, Submission.parent_id.is_not(None), Submission.status.in_(ACTIVE_STATUSES)]


def board_signature(s: Session, phase: Phase, cdef: ChallengeDef) -> tuple:
    """A cheap aggregate over the board index (count, id sum, newest finish, score sum) that
    changes whenever the competing submissions do, a rescore in place included, and over the
    re-runs in progress (their rows are marked); what it cannot see (a user renamed in the
    database by another process) shows once that process's next board change does."""
    board = tuple(s.execute(select(func.count(), func.sum(Submission.id), func.max(Submission.finished_at),
                                   func.sum(Submission.score))
                            .where(*_conditions(phase, cdef))).one())
    return board + tuple(s.execute(select(func.count(), func.sum(Submission.id)).where(*_rerunning(phase))).one())


def leaderboard_rows(s: Session, phase: Phase, cdef: ChallengeDef) -> list[dict]:
    """The ranked rows, read from the database now (the API and the pages serve them from
    :class:`BoardCache`, which calls this only when the board's stamp changed)."""
    return _build_rows(s, phase, cdef, _conditions(phase, cdef))


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
                Submission.score, User.username, Team.name, lineage_of(), Submission.runtime_interval, Submission.flags)
         .join(inner, inner.c.sid == Submission.id)
         .join(User, User.id == Submission.user_id)
         .outerjoin(Team, Team.id == User.team_id)
         .where(inner.c.rn == 1)
         .order_by(Submission.score.desc(), Submission.created_at.asc(), Submission.id.asc()))
    spec = get_task(cdef.task)
    primary = spec.primary_metric
    higher = next(m.higher_is_better for m in spec.metrics if m.name == primary)
    rerunning = {lineage for (lineage,) in s.execute(select(lineage_of()).where(*_rerunning(phase))).all()}
    interval_of = "cpu_ms" if cdef.protocol.statistic_basis == "cpu" else "runtime_ms"  # the figure the score reads
    rows, points, spans = [], [], []
    for rank, (sid, size, created, metrics, runtime_ms, score, username, team, lineage, interval, flags) \
            in enumerate(s.execute(q).all(), start=1):
        m, ci = metrics or {}, interval or {}
        row = {"rank": rank, "team": team or username, "submission_id": sid, "size_kb": (size or 0) / 1000.0,
               "submitted_at": created.isoformat(), "rerun_in_progress": lineage in rerunning,
               "runtime_low_ms": ci.get("low_ms"), "runtime_high_ms": ci.get("high_ms"), "score_low": ci.get("score_low"),
               "score_high": ci.get("score_high"), "interval": ci.get("method"), "interval_of": interval_of,
               "attempts_spread": (ci.get("attempts") or {}).get("spread"), "flagged": bool(flags), "flags": list(flags or [])}
        for col in cdef.leaderboard:
            row[col.key] = score if col.key == "score" else (runtime_ms if col.key == "runtime_ms" else m.get(col.key))
        rows.append(row)
        spans.append((row["score_low"], row["score_high"]) if row["score_low"] is not None else (score, score))
        fid = m.get(primary)
        rt = m.get("cpu_ms") if cdef.protocol.statistic_basis == "cpu" else runtime_ms  # the figure the score read
        points.append(None if fid is None or rt is None else (fid if higher else -fid, rt))
    for row, on in zip(rows, pareto_front(points)):
        row["pareto"] = on
    for row, group in zip(rows, tie_groups(spans)):
        row["tie_group"] = group
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


# what each row carries beside the columns: the intervals, the marks (docs/ranking.md)
EXTRA_KEYS = ["runtime_low_ms", "runtime_high_ms", "score_low", "score_high", "interval", "interval_of", "attempts_spread",
              "tie_group", "flagged", "flags", "rerun_in_progress"]


def to_csv(rows: list[dict], cols: list[dict]) -> str:
    """The board as CSV: the columns, the intervals and marks, then the submission's id and time
    (spreadsheet-safe cells; a row's flags joined by "; ")."""
    return csv_text(({**r, "flags": "; ".join(r.get("flags") or [])} for r in rows),
                    [c["key"] for c in cols] + EXTRA_KEYS + ["submission_id", "submitted_at"])


# --------------------------------------------------------------------------------------
# The board the API and the pages serve: bodies encoded once, served from memory while fresh


@dataclass(frozen=True)
class Board:
    """A phase's leaderboard as the API and the pages serve it: the rows (read-only: copy a
    row before changing it), the JSON and CSV bodies already encoded, their ETags, and the
    refusal for everyone but organisers (None: the board is public)."""

    refusal: str | None
    rows: tuple
    json: bytes
    csv: bytes
    json_etag: str
    csv_etag: str
    task: str
    columns: tuple  # of dicts, :func:`columns`
    stamp: tuple  # what the bodies were made from (phase, signature, published, definition)
    checked: float  # Clock.monotonic() when the database read that confirmed them began
    commits: int  # Database.board_commits then

    def refusal_for(self, user: User | None) -> str | None:
        return None if user is not None and user.is_organiser else self.refusal

    def body(self, fmt: str) -> tuple[bytes, str, str]:
        """(body, ETag, media type): CSV for ``fmt == "csv"``, else JSON."""
        if fmt == "csv":
            return self.csv, self.csv_etag, "text/csv"
        return self.json, self.json_etag, "application/json"


def _etag(body: bytes) -> str:
    return '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


def load_board(db, slug: str, phase: str, prev: Board | None, checked: float, commits: int) -> Board:
    """Read the phase and the board signature; rebuild and encode the bodies only when what
    they are made from changed since ``prev``, or this process committed a change to some
    board since (``commits``, :attr:`Database.board_commits`) (NotFound for an unknown phase)."""
    with db.read() as s:
        c, p, cdef = get_phase(s, slug, phase)
        signature = board_signature(s, p, cdef)
        stamp = (p.id, signature, p.published, c.definition)
        if prev is not None and prev.stamp == stamp and prev.commits == commits:
            return replace(prev, checked=checked)  # this process changed no board since: as it was
        refusal = board_refusal(p, cdef, None)
        rows = leaderboard_rows(s, p, cdef)
    cols = columns(cdef)
    body = json.dumps({"challenge": slug, "phase": phase, "task": cdef.task, "ranking": cdef.phase(p.slug).ranking,
                       "runtime_basis": cdef.protocol.statistic_basis, "columns": cols, "rows": rows},
                      ensure_ascii=False, allow_nan=False, indent=None, separators=(",", ":")).encode()
    text = to_csv(rows, cols).encode()
    return Board(refusal, tuple(rows), body, text, _etag(body), _etag(text), cdef.task, tuple(cols), stamp, checked,
                 commits)


class BoardCache:
    """The leaderboards, per phase, in this process, for the event loop to serve without a
    thread or a database query while they are fresh: the API's and the pages' alike.

    A board is fresh for ``fresh_s`` seconds (``Clock.monotonic``) from the start of the
    database read that confirmed it, and only while this process has committed nothing since
    (``Database.board_commits``: commits that may change a board, not every upload or
    heartbeat): a change made through this server shows at once, one made by
    another server process on the same database within ``fresh_s`` (plus the time of one
    request). Visibility (private, hidden until published) is part of what is cached and has
    the same bound. The first request after that re-reads the phase and the board signature in
    a worker thread (requests arriving meanwhile wait for the same read); the bodies are
    rebuilt only when the signature, the definition or the published flag changed. While the
    database is away, a board read before is served as it was (a phase never read since the
    server started is a 503).
    """

    def __init__(self, db, clock, fresh_s: float):
        self.db, self.clock, self.fresh_s = db, clock, fresh_s
        self._boards: dict[tuple[str, str], Board] = {}
        self._loading: dict[tuple[str, str], tuple[int, asyncio.Future]] = {}

    def fresh(self, board: Board) -> bool:
        age = self.clock.monotonic() - board.checked
        return board.commits == self.db.board_commits and 0.0 <= age < self.fresh_s

    async def get(self, slug: str, phase: str) -> Board:
        key = (slug, phase)
        board = self._boards.get(key)
        if board is not None and self.fresh(board):
            return board
        commits = self.db.board_commits
        loading = self._loading.get(key)
        if loading is None or loading[0] != commits:  # none, or one that began before a commit here
            task = asyncio.ensure_future(self._load(key, board, commits))
            self._loading[key] = (commits, task)
            task.add_done_callback(lambda t: self._done(key, t))
        else:
            task = loading[1]
        return await asyncio.shield(task)  # a client that goes away does not cancel it for the others

    async def visible(self, slug: str, phase: str, user: User | None) -> Board:
        """The board if ``user`` (None: anonymous) may see it: the one visibility rule of the
        API and the pages (Forbidden otherwise; NotFound for an unknown phase)."""
        board = await self.get(slug, phase)
        refusal = board.refusal_for(user)
        if refusal:
            raise Forbidden(refusal)
        return board

    async def _load(self, key: tuple[str, str], prev: Board | None, commits: int) -> Board:
        checked = self.clock.monotonic()
        try:
            board = await anyio.to_thread.run_sync(load_board, self.db, key[0], key[1], prev, checked, commits)
        except Exception as e:
            if prev is None or not database_away(e):
                raise
            # the database is away: the board this process last read is served as it was (for
            # ``fresh_s`` at a time, then the database is tried again), not a 503
            board = replace(prev, checked=checked)
        now = self._boards.get(key)
        if now is None or (board.commits, board.checked) >= (now.commits, now.checked):
            self._boards[key] = board
        return board

    def _done(self, key: tuple[str, str], task: asyncio.Future) -> None:
        if self._loading.get(key, (None, None))[1] is task:
            del self._loading[key]
        if not task.cancelled():
            task.exception()  # retrieved here, so one nobody awaited any more is not reported as lost
