"""A re-run does not empty a board (issue 24 item 5), on SQLite and PostgreSQL: while re-runs
are queued the board keeps the last finished result of every entry, marked as being re-run;
once a re-run finishes its result replaces its parent's. Both a ``best`` phase re-run as a
whole and a single re-run in a published ``last`` phase."""

from __future__ import annotations

from platform_testing import challenge_def


def _board(live, slug: str, phase: str = "validation") -> list[dict]:
    r = live.get(f"/api/challenges/{slug}/phases/{phase}/leaderboard")
    assert r.status_code == 200, r.text
    return r.json()["rows"]


def _stop(live, worker) -> None:
    w, t = worker
    w.stop.set()
    t.join(timeout=120)
    assert not t.is_alive()


def _finish(live, slug: str, who_files: list[tuple[str, str]], tiny_models, phase: str = "validation") -> dict[str, int]:
    ids = {}
    for who, name in who_files:
        r = live.upload(slug, tiny_models["isp"] / name, who=who, phase=phase,
                        fidelity=tiny_models["isp"] / "model_none.tflite")
        assert r.status_code == 201, r.text
        ids[who] = r.json()["id"]
    for who, sid in ids.items():
        assert live.wait_done(sid, who)["status"] == "Finished"
    return ids


def test_best_board_during_a_phase_rerun(live, tiny_models, isp_split):
    live.create_challenge(challenge_def("rb", isp_split))
    worker = live.worker(name="w1")
    ids = _finish(live, "rb", [("alice", "model.tflite"), ("bob", "model.tflite")], tiny_models)
    before = _board(live, "rb")
    assert sorted(r["submission_id"] for r in before) == sorted(ids.values())
    _stop(live, worker)  # the re-runs stay queued while the board is read
    r = live.post("/api/challenges/rb/phases/validation/rerun", "organiser")
    assert r.status_code == 200 and r.json()["rerun"] == 2, r.text
    during = _board(live, "rb")
    assert [(r["submission_id"], r["score"]) for r in during] == [(r["submission_id"], r["score"]) for r in before]
    assert [r["rerun_in_progress"] for r in before] == [False, False]
    assert [r["rerun_in_progress"] for r in during] == [True, True]
    page = live.get("/challenges/rb/phases/validation/leaderboard").text
    assert "2 entries" in page and page.count("badge rerun-mark") == 2, page
    live.worker(name="w2")
    new_ids = r.json()["submissions"]
    for sid in new_ids:
        assert live.wait_done(sid, "organiser")["status"] == "Finished"
    after = _board(live, "rb")
    assert sorted(r["submission_id"] for r in after) == sorted(new_ids)
    assert [r["rerun_in_progress"] for r in after] == [False, False]


def test_last_board_during_a_single_rerun_of_a_published_phase(live, tiny_models, isp_split):
    d = challenge_def("rl", isp_split)
    d["phases"][1]["ranking"] = "last"
    live.create_challenge(d)
    worker = live.worker(name="w1")
    ids = _finish(live, "rl", [("alice", "model.tflite")], tiny_models, phase="testing")
    assert live.post("/api/challenges/rl/phases/testing/publish", "organiser").status_code == 200
    assert [r["submission_id"] for r in _board(live, "rl", "testing")] == [ids["alice"]]
    _stop(live, worker)
    r = live.post(f"/api/submissions/{ids['alice']}/rerun", "organiser")
    assert r.status_code == 201, r.text
    new = r.json()["id"]
    during = _board(live, "rl", "testing")
    assert [r["submission_id"] for r in during] == [ids["alice"]]  # not "0 entries"
    assert [r["rerun_in_progress"] for r in during] == [True]
    page = live.get("/challenges/rl/phases/testing/leaderboard").text
    assert "1 entry" in page and page.count("badge rerun-mark") == 1 and "0 entries" not in page
    live.worker(name="w2")
    assert live.wait_done(new, "organiser")["status"] == "Finished"
    assert [(r["submission_id"], r["rerun_in_progress"]) for r in _board(live, "rl", "testing")] == [(new, False)]
