"""The API's leaderboard cache: served from memory while fresh, ETag and 304, a change made
through another server process on the same database shown once the freshness window has
passed (the second server's clock is moved, nothing sleeps), one made through the same
process shown at once, and a board that is not public never served to a participant."""

from __future__ import annotations

from datetime import timedelta

import pytest
from platform_testing import challenge_def, second_server, stop_live

from maikit.server.api.routes.leaderboard import etag_matches

WINDOW = 3600.0  # long enough that nothing but a moved clock ends it on a slow machine


def finish(db, live, slug: str, phase: str, who: str, psnr: float) -> int:
    """A Finished submission written straight into the database through ``db`` (as a worker's
    result would leave it); its id."""
    from sqlalchemy import select

    from maikit.server.db.models import Challenge, Phase, Submission, User
    from maikit.server.services.quota import owner_key

    now = live.platform.now()
    with db.write() as s, s.begin():
        p = s.execute(select(Phase).join(Challenge).where(Challenge.slug == slug, Phase.slug == phase)).scalar_one()
        u = s.execute(select(User).where(User.username == who)).scalar_one()
        sub = Submission(phase_id=p.id, user_id=u.id, owner_key=owner_key(u), status="Finished", counts_quota=True,
                         size_bytes=1000, metrics={"psnr": psnr, "ssim": 0.9, "ms_ssim": 0.95, "runtime_ms": 20.0},
                         runtime_ms=20.0, score=psnr, created_at=now - timedelta(seconds=5), finished_at=now)
        s.add(sub)
        s.flush()
        return sub.id


@pytest.fixture
def outside(live):
    """A third writer on the same database (a worker's result landing through another process)."""
    from maikit.server.db.session import Database

    db = Database(live.platform.settings.database_url)
    yield db
    db.dispose()


def get(server, path: str, who: str | None = None, etag: str | None = None, **kw):
    headers = server.auth(who) if who else {}
    if etag is not None:
        headers["If-None-Match"] = etag
    return server.http.get(path, headers=headers, **kw)


def ids(r) -> list[int]:
    assert r.status_code == 200, r.text
    return [row["submission_id"] for row in r.json()["rows"]]


def test_board_from_another_process_after_the_window_etag_and_304(live, outside, isp_split):
    live.create_challenge(challenge_def("bc", isp_split))
    board = "/api/challenges/bc/phases/validation/leaderboard"
    first = finish(outside, live, "bc", "validation", "alice", 20.0)
    other = second_server(live, leaderboard_fresh_s=WINDOW)
    try:
        r = other.get(board)
        assert ids(r) == [first]
        tag = r.headers["etag"]
        assert r.headers["content-type"].startswith("application/json") and r.headers["cache-control"] == "no-cache"
        assert get(other, board, etag=tag).status_code == 304

        second = finish(outside, live, "bc", "validation", "bob", 22.0)
        # within the window the other server answers from memory: the same body, still 304
        assert ids(other.get(board)) == [first]
        r304 = get(other, board, etag=tag)
        assert r304.status_code == 304 and r304.headers["etag"] == tag and r304.content == b""
        # the window over, the next request re-reads: bob's better score ranks first
        other.platform.clock.shift(WINDOW)
        r = other.get(board)
        assert ids(r) == [second, first]
        new_tag = r.headers["etag"]
        assert new_tag != tag
        assert get(other, board, etag=tag).status_code == 200
        for sent in (new_tag, f"W/{new_tag}", f'"nope", {new_tag}', "*"):
            assert get(other, board, etag=sent).status_code == 304, sent
        # the CSV has its own tag
        csv = other.get(board, params={"format": "csv"})
        assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
        assert csv.headers["etag"] not in (tag, new_tag)
        assert [line.split(",")[1] for line in csv.text.strip().splitlines()[1:]] == ["bob", "alice"]
        assert get(other, board, params={"format": "csv"}, etag=csv.headers["etag"]).status_code == 304

        # a write through a server's own process shows at once, however long its window
        live.platform.boards.fresh_s = WINDOW
        assert ids(live.get(board)) == [second, first]
        third = finish(live.platform.db, live, "bc", "validation", "organiser", 25.0)
        assert ids(live.get(board)) == [third, second, first]
        # ... and an unchanged board keeps its tag when it is re-read
        live.platform.clock.shift(WINDOW)
        r = live.get(board)
        tag3 = r.headers["etag"]
        live.platform.clock.shift(WINDOW)
        assert get(live, board, etag=tag3).status_code == 304
        # both servers agree once the window is over; unknown phases are still 404
        other.platform.clock.shift(WINDOW)
        assert other.get(board).content == live.get(board).content
        assert other.get("/api/challenges/bc/phases/nope/leaderboard").status_code == 404
        assert other.get("/api/challenges/nope/phases/validation/leaderboard").status_code == 404
    finally:
        stop_live(other)


def test_a_board_that_is_not_public_is_never_served_to_a_participant(live, outside, isp_split):
    d = challenge_def("hb", isp_split)
    live.create_challenge(d)
    hidden = "/api/challenges/hb/phases/testing/leaderboard"  # a test phase: hidden until published
    sid = finish(outside, live, "hb", "testing", "alice", 21.0)
    other = second_server(live, leaderboard_fresh_s=WINDOW)
    try:
        org = other.get(hidden, "organiser")  # the organiser's read fills the cache
        assert ids(org) == [sid] and org.headers["cache-control"] == "private, no-cache"
        tag = org.headers["etag"]
        for who in ("alice", None):
            assert other.get(hidden, who).status_code == 403
            assert get(other, hidden, who, etag=tag).status_code == 403
            assert other.get(hidden, who, params={"format": "csv"}).status_code == 403
        assert get(other, hidden, "organiser", etag=tag).status_code == 304
        assert other.http.get(hidden, headers={"Authorization": "Bearer nope"}).status_code == 401

        # published through the first server: the second shows it once its window is over
        assert live.post("/api/challenges/hb/phases/testing/publish", "organiser").status_code == 200
        assert live.get(hidden, "alice").status_code == 200  # the publishing process at once
        other.platform.clock.shift(WINDOW)
        assert ids(other.get(hidden, "alice")) == [sid]
        assert other.get(hidden).headers["cache-control"] == "no-cache"

        # made private through the first server (both had it cached as public): refused at once
        # there, and by the second after its window; organisers still see it
        board = "/api/challenges/hb/phases/validation/leaderboard"
        assert live.get(board).status_code == 200 and other.get(board, "alice").status_code == 200
        d["phases"][0]["visibility"] = "private"
        live.create_challenge(d)
        assert live.get(board, "alice").status_code == 403 and live.get(board).status_code == 403
        other.platform.clock.shift(WINDOW)
        assert other.get(board, "alice").status_code == 403 and other.get(board).status_code == 403
        assert other.get(board, "organiser").status_code == 200
    finally:
        stop_live(other)


def test_if_none_match_comparison():
    assert etag_matches('"a"', '"a"') and etag_matches('W/"a"', '"a"') and etag_matches('"b", "a"', '"a"')
    assert etag_matches("*", '"a"')
    assert not etag_matches('"b"', '"a"') and not etag_matches("", '"a"') and not etag_matches('"ab"', '"a"')


def test_only_commits_that_can_change_a_board_refresh_it(live, isp_split):
    """Uploads, job leases and quota counters commit all the time and change no board: they
    must not make this process re-read its boards; a submission that finishes, a rescore, an
    organiser's re-run (superseded), a user's new name and a phase's change must."""
    from sqlalchemy import select, update

    from maikit.server.db.models import FINISHED, Job, Phase, Submission, User

    live.create_challenge(challenge_def("bk", isp_split))
    db = live.platform.db
    board = "/api/challenges/bk/phases/validation/leaderboard"
    live.platform.boards.fresh_s = WINDOW
    sid = finish(db, live, "bk", "validation", "alice", 20.0)
    assert ids(live.get(board)) == [sid]

    def counts(change) -> bool:
        before = db.board_commits
        with db.write() as s, s.begin():
            change(s)
        return db.board_commits != before

    def queued(s):  # what an upload leaves: a new submission, not Finished, and its jobs
        u = s.execute(select(User).where(User.username == "bob")).scalar_one()
        sub = Submission(phase_id=s.get(Submission, sid).phase_id, user_id=u.id, owner_key=f"u{u.id}", status="Queued",
                         counts_quota=True, created_at=live.platform.now())
        s.add(sub)
        s.flush()
        s.add(Job(submission_id=sub.id, role="runtime", status="queued", attempt=0, created_at=live.platform.now()))

    assert not counts(queued)
    assert not counts(lambda s: s.execute(update(User).where(User.username == "bob").values(quota_lock=User.quota_lock + 1)))
    assert not counts(lambda s: setattr(s.execute(select(Submission).where(Submission.status == "Queued")).scalar_one(),
                                        "stage", "runtime"))
    assert ids(live.get(board)) == [sid]  # still the cached board (the window is an hour)

    def finished(s):
        sub = s.execute(select(Submission).where(Submission.status == "Queued")).scalar_one()
        sub.status, sub.score, sub.runtime_ms, sub.finished_at = FINISHED, 30.0, 10.0, live.platform.now()
        sub.metrics = {"psnr": 30.0, "ssim": 0.9, "ms_ssim": 0.95}
        return sub.id

    assert counts(finished)
    second = max(ids(live.get(board)))
    assert ids(live.get(board)) == [second, sid]  # shown at once
    assert counts(lambda s: setattr(s.get(Submission, second), "score", 10.0))  # a rescore
    assert ids(live.get(board)) == [sid, second]
    assert counts(lambda s: setattr(s.execute(select(User).where(User.username == "alice")).scalar_one(),
                                    "username", "alice2"))
    assert [r["team"] for r in live.get(board).json()["rows"]] == ["alice2", "bob"]
    def rerun_finished(s):  # an organiser's re-run of `second` that finished: it takes its parent's place
        old = s.get(Submission, second)
        old.superseded = True
        s.add(Submission(phase_id=old.phase_id, user_id=old.user_id, owner_key=old.owner_key, status=FINISHED, score=5.0,
                         runtime_ms=10.0, metrics=old.metrics, counts_quota=False, parent_id=second, lineage_id=second,
                         created_at=old.created_at, finished_at=live.platform.now()))

    assert counts(rerun_finished)
    assert ids(live.get(board)) == [sid, second + 1]  # (ids: submission ids, in board order)
    assert counts(lambda s: s.execute(update(Phase).values(published=True)))
