"""Quota: per UTC day and in total; failures never count toward it (model faults count toward
the failed cap); concurrent uploads of one participant cannot exceed it."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone

from platform_testing import challenge_def, submission_rows


def _set_now(live, when: datetime) -> None:
    from maikit.server.core.clock import utcnow

    live.platform.clock.offset = when - utcnow()


def test_daily_and_total_limits_cross_the_utc_day_boundary(live, tiny_models, isp_split):
    live.create_challenge(challenge_def("q1", isp_split, max_submissions_per_day=2, max_submissions=3))
    model = tiny_models["isp"] / "model.tflite"
    tomorrow = (datetime.now(timezone.utc) + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    _set_now(live, tomorrow + timedelta(hours=23, minutes=59, seconds=50))  # late on day D (UTC)
    assert live.upload("q1", model).status_code == 201
    assert live.upload("q1", model).status_code == 201
    r = live.upload("q1", model)
    assert r.status_code == 429
    next_midnight = (tomorrow + timedelta(days=1)).isoformat().replace("+00:00", "Z")
    assert "2 of 2 used today" in r.json()["detail"] and next_midnight in r.json()["detail"]
    assert live.upload("q1", model, who="bob").status_code == 201  # quota is per participant
    _set_now(live, tomorrow + timedelta(days=1))  # 00:00:00 of day D+1
    quota = live.get("/api/challenges/q1/phases/validation/quota", "alice").json()
    assert (quota["used_today"], quota["used_total"]) == (0, 2)
    assert live.upload("q1", model).status_code == 201
    r = live.upload("q1", model)
    assert r.status_code == 429 and "3 of 3 submissions used" in r.json()["detail"]


def test_failures_do_not_count_toward_quota(live, tiny_models, isp_split, tmp_path):
    # reference data missing on the worker: an infrastructure failure
    d = challenge_def("q2", tmp_path / "no-such-split", max_submissions_per_day=1, max_failed_per_day=2)
    live.create_challenge(d)
    model = tiny_models["isp"] / "model.tflite"
    w, thread = live.worker(name="w")
    first = live.upload("q2", model).json()
    done = live.wait_done(first["id"])
    assert done["status"] == "Failed" and done["fault"] == "infrastructure" and "reference data" in done["reason"]
    w.stop.set()  # the next upload stays queued: counted
    thread.join(timeout=120)
    assert live.upload("q2", model).status_code == 201  # the failed one left the one daily submission free
    r = live.upload("q2", model)
    assert r.status_code == 429 and "1 of 1 used today" in r.json()["detail"]
    junk = tmp_path / "junk.tflite"
    junk.write_bytes(b"\x00junk" * 100)
    for _ in range(2):  # model faults at preflight: the failed cap, not the quota
        r = live.upload("q2", junk)
        assert r.status_code == 422 and "not a TFLite model" in r.json()["detail"]
    r = live.upload("q2", junk)
    assert r.status_code == 429 and "failed-submission limit" in r.json()["detail"]
    quota = live.get("/api/challenges/q2/phases/validation/quota", "alice").json()
    assert (quota["used_today"], quota["failed_today"]) == (1, 2)  # the queued one; the two model faults


def test_concurrent_uploads_cannot_exceed_the_quota(live, tiny_models, isp_split):
    live.create_challenge(challenge_def("q3", isp_split, max_submissions_per_day=3))
    data = (tiny_models["isp"] / "model.tflite").read_bytes()
    codes: list[int] = []
    start = threading.Barrier(6)

    def upload():
        import httpx

        start.wait()
        r = httpx.post(f"{live.url}/api/challenges/q3/phases/validation/submissions", headers=live.auth("alice"),
                       files={"file": ("m.tflite", data)}, timeout=300)
        codes.append(r.status_code)

    threads = [threading.Thread(target=upload) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(codes) == [201, 201, 201, 429, 429, 429]
    assert sum(submission_rows(live, "q3").values()) == 3  # a refused upload leaves no row


def test_team_members_share_the_daily_limit(live, tiny_models, isp_split):
    from maikit.server.services.users import create_user, issue_user_token

    p = live.platform
    with p.db.write() as s, s.begin():
        for name in ("carol", "dave"):
            u = create_user(s, username=name, role="participant", password=None, team="red", now=p.now())
            live.tokens[name] = issue_user_token(s, u, p.now())
    live.create_challenge(challenge_def("q4", isp_split, max_submissions_per_day=2))
    model = tiny_models["isp"] / "model.tflite"
    assert live.upload("q4", model, who="carol").status_code == 201
    assert live.upload("q4", model, who="dave").status_code == 201
    for who in ("carol", "dave"):  # the team's two submissions are both members' limit
        r = live.upload("q4", model, who=who)
        assert r.status_code == 429 and "2 of 2 used today" in r.json()["detail"], (who, r.text)
        quota = live.get("/api/challenges/q4/phases/validation/quota", who).json()
        assert (quota["used_today"], quota["used_total"]) == (2, 2)
    assert live.upload("q4", model, who="alice").status_code == 201  # not in the team: her own limit
    assert sum(submission_rows(live, "q4").values()) == 3
