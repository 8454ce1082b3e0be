"""A submission end to end through the real server and the worker loop, on both databases."""

from __future__ import annotations

import pytest

from platform_testing import challenge_def
from maikit.tasks import ISP, MAI21


def test_submission_is_scored_like_mai_eval(live, tiny_models, isp_split):
    from maikit.eval import run_fidelity
    from maikit.scoring import score

    live.create_challenge(challenge_def("c1", isp_split))
    live.worker(name="w1")
    r = live.upload("c1", tiny_models["isp"] / "model.tflite", fidelity=tiny_models["isp"] / "model_none.tflite")
    assert r.status_code == 201, r.text
    sub = r.json()
    assert sub["status"] == "Queued" and sub["preflight"]["ok"] and sub["quota"]["used_today"] == 1
    done = live.wait_done(sub["id"])
    assert done["status"] == "Finished", done
    # the library's own evaluation of the same file and split (what `mai eval` runs)
    ref = run_fidelity(tiny_models["isp"] / "model_none.tflite", ISP, isp_split, MAI21, threads=1)
    for k in ("psnr", "ssim", "ms_ssim"):
        assert done["metrics"][k] == ref[k]
    assert done["score"] == pytest.approx(score(ISP, ref["psnr"], done["runtime_ms"]), rel=1e-12)

    board = live.get("/api/challenges/c1/phases/validation/leaderboard").json()
    assert [row["team"] for row in board["rows"]] == ["alice"]
    assert board["rows"][0]["psnr"] == ref["psnr"] and board["rows"][0]["pareto"] is True
    csv_text = live.get("/api/challenges/c1/phases/validation/leaderboard", params={"format": "csv"}).text
    assert csv_text.splitlines()[0].startswith("rank,team,size_kb,psnr")

    logs = live.get(f"/api/submissions/{sub['id']}/logs", "alice").json()["stages"]
    assert "done" in logs["fidelity"]["log"] and "done" in logs["runtime"]["log"]

    export = live.get("/api/challenges/c1/phases/validation/export", "organiser").json()["submissions"][0]
    assert len(export["runtime"]["samples_ms"]) == export["runtime"]["runs"] >= 3
    assert sum(export["runtime"]["samples_ms"]) / export["runtime"]["runs"] == pytest.approx(done["runtime_ms"])
    assert export["fingerprint"]["cpu"] and export["sha256"] == done["sha256"]
    assert export["fingerprint"]["runtime_version"]
