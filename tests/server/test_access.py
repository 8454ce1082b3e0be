"""Access: participants see only their own submissions, logs and never files or reference data;
hidden test results stay hidden until published; organiser endpoints are for organisers; a
worker token cannot act as a user. Organiser actions: cancel, re-run (lineage), publish,
export."""

from __future__ import annotations

import json

from platform_testing import challenge_def


def test_participants_workers_and_organisers_see_what_they_may(live, tiny_models, isp_split):
    live.create_challenge(challenge_def("a1", isp_split))
    model, none = tiny_models["isp"] / "model.tflite", tiny_models["isp"] / "model_none.tflite"
    mine = live.upload("a1", model, fidelity=none).json()
    test_sub = live.upload("a1", model, fidelity=none, phase="testing").json()
    sid, tid = mine["id"], test_sub["id"]

    # another participant: nothing of alice's
    assert live.get(f"/api/submissions/{sid}", "bob").status_code == 404
    assert live.get(f"/api/submissions/{sid}/logs", "bob").status_code == 404
    assert live.get("/api/challenges/a1/phases/validation/submissions", "bob").json() == []
    for who in ("bob", "alice"):  # nobody but organisers downloads files, not even the owner
        assert live.get(f"/api/submissions/{sid}/files/runtime", who).status_code == 403
    assert live.get(f"/api/submissions/{sid}/files/runtime", "organiser").content == model.read_bytes()
    # reference data: no path in any answer, no endpoint
    text = live.get("/api/challenges/a1").text + live.get(f"/api/submissions/{sid}", "alice").text
    assert str(isp_split) not in text and "fujifilm" not in text
    paths = live.get("/openapi.json").json()["paths"]
    assert not [p for p in paths if "data" in p or "reference" in p]
    # organiser endpoints
    # (cancel is alice's own act too: tests/server/test_organiser_cli.py)
    for method, path in (("post", "/api/challenges/a1/phases/testing/publish"), ("post", f"/api/submissions/{sid}/rerun"),
                         ("get", "/api/challenges/a1/phases/validation/export"),
                         ("get", "/api/workers"), ("post", "/api/worker-tokens"), ("post", "/api/users")):
        r = getattr(live, method)(path, "alice", json={}) if method == "post" else live.get(path, "alice")
        assert r.status_code == 403, (path, r.status_code)
        assert live.http.request(method.upper(), path).status_code == 401
    # a worker token is not a user
    assert live.get(f"/api/submissions/{sid}", "worker").status_code == 403
    assert live.upload("a1", model, who="worker").status_code == 403
    # a user token is not a worker
    assert live.post("/api/workers/register", "alice", json={"name": "x"}).status_code == 403
    assert live.get("/api/me", "alice").json()["username"] == "alice"
    assert live.http.get("/api/me", headers={"Authorization": "Bearer nope"}).status_code == 401

    # test phase: hidden until published
    live.worker(name="w")
    assert live.wait_done(tid)["status"] == "Finished"
    hidden = live.get(f"/api/submissions/{tid}", "alice").json()
    assert hidden["score"] is None and hidden["metrics"] is None
    assert live.get("/api/challenges/a1/phases/testing/leaderboard", "alice").status_code == 403
    assert live.get("/api/challenges/a1/phases/testing/leaderboard").status_code == 403
    org_view = live.get("/api/challenges/a1/phases/testing/leaderboard", "organiser").json()["rows"]
    assert [r["submission_id"] for r in org_view] == [tid]
    assert live.post("/api/challenges/a1/phases/testing/publish", "organiser").json()["published"] is True
    shown = live.get(f"/api/submissions/{tid}", "alice").json()
    assert shown["score"] == org_view[0]["score"]
    assert [r["submission_id"] for r in live.get("/api/challenges/a1/phases/testing/leaderboard").json()["rows"]] == [tid]


def test_organiser_cancel_rerun_and_export(live, tiny_models, isp_split):
    live.create_challenge(challenge_def("o1", isp_split, max_submissions_per_day=1))
    model, none = tiny_models["isp"] / "model.tflite", tiny_models["isp"] / "model_none.tflite"
    first = live.upload("o1", model, fidelity=none).json()
    assert live.upload("o1", model, fidelity=none).status_code == 429
    cancelled = live.post(f"/api/submissions/{first['id']}/cancel", "organiser").json()
    assert cancelled["status"] == "Cancelled"
    second = live.upload("o1", model, fidelity=none)
    assert second.status_code == 201, second.text  # a cancelled run gives the quota back
    second = second.json()
    live.worker(name="w")
    assert live.wait_done(second["id"])["status"] == "Finished"
    rerun = live.post(f"/api/submissions/{second['id']}/rerun", "organiser").json()
    assert rerun["parent_id"] == second["id"] and rerun["counts_quota"] is False
    assert live.wait_done(rerun["id"])["status"] == "Finished"
    board = live.get("/api/challenges/o1/phases/validation/leaderboard").json()["rows"]
    assert [r["submission_id"] for r in board] == [rerun["id"]]  # the re-run supersedes its parent
    phase_rerun = live.post("/api/challenges/o1/phases/validation/rerun", "organiser").json()
    assert phase_rerun["rerun"] == 2  # the cancelled first one and the newest of the second's lineage
    for new_id in phase_rerun["submissions"]:
        assert live.wait_done(new_id)["status"] == "Finished"
    exported = live.get("/api/challenges/o1/phases/validation/export", "organiser").json()["submissions"]
    assert len(exported) == 5 and {s["status"] for s in exported} == {"Cancelled", "Finished"}
    lineage = {s["id"]: s["parent_id"] for s in exported}
    assert lineage[rerun["id"]] == second["id"]
    csv_text = live.get("/api/challenges/o1/phases/validation/export", "organiser", params={"format": "csv"}).text
    header, *rows = csv_text.strip().splitlines()
    assert header.startswith("id,user,status") and len(rows) == 5
    finished = [s for s in exported if s["status"] == "Finished"][0]
    assert json.dumps(round(finished["runtime"]["samples_ms"][0], 4))[:6] in csv_text
