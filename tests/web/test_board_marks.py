"""The leaderboard page marks what its JSON says (issue 24 items 3 and 5): each runtime and
score with its interval, the tie groups, a flagged result with why, an entry being re-run."""

from __future__ import annotations

import statistics

from _web import screenshot, server_fixtures


def _answer(live, worker_id: int, results: dict) -> None:
    """Claim the submissions' jobs and answer them as a worker would (known samples)."""
    todo = {(sid, role) for sid in results for role in ("fidelity", "runtime")}
    while todo:
        job = live.http.post("/api/workers/claim", headers=live.auth("worker"), json={"worker_id": worker_id, "wait_s": 5}).json()
        key = (job["submission_id"], job["role"])
        body = results[key[0]][0 if job["role"] == "fidelity" else 1]
        r = live.http.post(f"/api/jobs/{job['job_id']}/result", headers={"Authorization": f"Bearer {job['lease_token']}"},
                           json={"ok": True, "result": body})
        assert r.status_code == 200, r.text
        todo.discard(key)


def test_the_board_page_marks_intervals_ties_flags_and_reruns(new_page, tiny_models, isp_split, tmp_path):
    live = server_fixtures.start_live(tmp_path / "server", None)
    try:
        live.create_challenge(server_fixtures.challenge_def("marks", isp_split))
        worker = live.http.post("/api/workers/register", headers=live.auth("worker"),
                                json={"name": "test", "roles": ["fidelity", "runtime"], "device_tag": "litert-cpu"}).json()["worker_id"]
        results = {}
        # alice and bob: overlapping score intervals (one tie group); bob's result is flagged by drift control
        for who, psnr, centre, drift in (("alice", 24.0, 60.0, None),
                                         ("bob", 24.2, 64.0, {"ok": False, "drift": 0.4, "attempts": [{"value_ms": 60.0}]})):
            sid = live.upload("marks", tiny_models["isp"] / "model.tflite", who=who).json()["id"]
            xs = [centre + 10 * (i - 4.5) / 4.5 for i in range(10)]
            run = {"avg_ms": statistics.mean(xs), "samples_ms": xs, "warnings": [], **({"drift": drift} if drift else {})}
            results[sid] = ({"psnr": psnr, "ssim": 0.9, "ms_ssim": 0.9, "images": 2}, run)
        _answer(live, worker, results)
        rows = live.get("/api/challenges/marks/phases/validation/leaderboard").json()["rows"]
        assert [r["tie_group"] for r in rows] == [1, 1] and [r["flagged"] for r in rows] == [True, False]
        bob = rows[0]
        r = live.post(f"/api/submissions/{rows[1]['submission_id']}/rerun", "organiser", params={"runtime_only": "true"})
        assert r.status_code == 201, r.text  # alice's runtime measured again: queued, no worker answers it

        page = new_page()
        page.goto(f"{live.url}/challenges/marks/phases/validation/leaderboard")
        first, second = page.locator("#board tbody tr").all()
        assert first.locator(".flag-mark").inner_text() == "flagged"
        assert "drift control: no attempt of 1 was clean" in first.locator(".flag-mark").get_attribute("title")
        assert first.locator(".tie-mark").inner_text() == "tie 1" == second.locator(".tie-mark").inner_text()
        assert second.locator(".flag-mark").count() == 0 and second.locator(".rerun-mark").inner_text() == "re-run in progress"
        cis = first.locator(".ci").all_inner_texts()  # under the runtime (1 digit) and the score (2 digits)
        assert cis == [f"{bob['runtime_low_ms']:.1f}–{bob['runtime_high_ms']:.1f}", f"{bob['score_low']:.2f}–{bob['score_high']:.2f}"]
        assert page.locator("#marks").is_visible()
        screenshot(page, tmp_path, "leaderboard-marks")
    finally:
        server_fixtures.stop_live(live)
