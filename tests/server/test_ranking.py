"""Leaderboard ranking rule ``selected``: the board shows the submission each participant
selected, not their best one."""

from __future__ import annotations

from platform_testing import challenge_def


def test_selected_ranking_shows_the_selected_submission(live, tiny_models, isp_split):
    live.create_challenge(challenge_def("r1", isp_split, ranking="selected"))
    live.worker(name="w")
    subs = []
    for _ in range(2):
        r = live.upload("r1", tiny_models["isp"] / "model.tflite", fidelity=tiny_models["isp"] / "model_none.tflite")
        assert r.status_code == 201, r.text
        subs.append(live.wait_done(r.json()["id"]))
    assert [s["status"] for s in subs] == ["Finished", "Finished"], subs
    board = "/api/challenges/r1/phases/validation/leaderboard"
    assert live.get(board).json()["rows"] == []  # nothing selected yet: no row
    # the one "best" would not show: the lower score (on a tie, the later submission)
    first, second = subs
    pick = second if first["score"] >= second["score"] else first
    other = first if pick is second else second
    r = live.post(f"/api/submissions/{pick['id']}/select", "alice")
    assert r.status_code == 200 and r.json()["selected"] is True, r.text
    rows = live.get(board).json()["rows"]
    assert [(row["team"], row["submission_id"], row["score"]) for row in rows] == [("alice", pick["id"], pick["score"])]
    # selecting again moves the row; only one selected per participant
    assert live.post(f"/api/submissions/{other['id']}/select", "alice").status_code == 200
    rows = live.get(board).json()["rows"]
    assert [row["submission_id"] for row in rows] == [other["id"]]
    assert live.get(f"/api/submissions/{pick['id']}", "alice").json()["selected"] is False
    # another participant cannot select alice's submission
    assert live.post(f"/api/submissions/{pick['id']}/select", "bob").status_code in (403, 404)
