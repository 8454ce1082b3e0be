"""Intervals, tie groups and flags on the leaderboard (issue 24 item 3), on SQLite and
PostgreSQL: results with known raw samples are answered through the worker API (as a worker
would), and the board's JSON, CSV and ``mai leaderboard`` are checked against an independent
calculation; the organiser re-measures the flagged result's runtime only, keeping its
fidelity result, in one action (``mai challenge rerun --runtime-only --flagged-only``)."""

from __future__ import annotations

import csv
import io
import math
import statistics

from bundle_testing import finish, register_worker
from typer.testing import CliRunner

from maikit.cli import app
from platform_testing import challenge_def

T_975_9 = 2.262157  # Student-t 0.975 quantile, 9 degrees of freedom (printed table)


def _isp(psnr: float, ms: float) -> float:
    t = min(max(ms / 1000, 0.03), 5)  # the ISP report's formula, written out again
    return psnr + (20 if t <= 0.2 else 0.5) * (0.2 - t)


def _samples(centre: float, spread: float) -> list[float]:
    return [centre + spread * (i - 4.5) / 4.5 for i in range(10)]


# (user, psnr, centre ms, spread ms, drift): alice and bob overlap, bob and carol overlap (one
# chained group), dave is far ahead, erin is far behind and flagged by drift control
ENTRIES = [("alice", 24.0, 60.0, 20.0, None), ("bob", 24.5, 75.0, 20.0, None), ("carol", 25.0, 90.0, 20.0, None),
           ("dave", 30.0, 50.0, 1.0, None),
           ("erin", 20.0, 100.0, 2.0, {"ok": False, "drift": 0.436, "attempts": [{"value_ms": 78.6}, {"value_ms": 245.6}]})]


def _expected(psnr: float, xs: list[float]) -> dict:
    half = T_975_9 * statistics.stdev(xs) / math.sqrt(len(xs))
    lo, hi = statistics.mean(xs) - half, statistics.mean(xs) + half
    return {"runtime_low_ms": lo, "runtime_high_ms": hi, "score_low": _isp(psnr, hi), "score_high": _isp(psnr, lo)}


def _groups(rows: list[dict]) -> list:
    """Tie groups by pairwise overlap, closed transitively, numbered in rank order."""
    n = len(rows)
    parent = list(range(n))

    def root(i):
        while parent[i] != i:
            i = parent[i]
        return i

    for i in range(n):
        for j in range(n):
            a, b = rows[i], rows[j]
            if a["score_low"] <= b["score_high"] and b["score_low"] <= a["score_high"]:
                parent[root(i)] = root(j)
    sizes = {}
    for i in range(n):
        sizes[root(i)] = sizes.get(root(i), 0) + 1
    numbers, out = {}, []
    for i in range(n):
        r = root(i)
        out.append(numbers.setdefault(r, len(numbers) + 1) if sizes[r] > 1 else None)
    return out


def _users(live) -> None:
    from maikit.server.services.users import create_user, issue_user_token

    p = live.platform
    with p.db.write() as s, s.begin():
        for name in ("carol", "dave", "erin"):
            u = create_user(s, username=name, role="participant", password=None, team=None, now=p.now())
            live.tokens[name] = issue_user_token(s, u, p.now())


def test_the_board_shows_intervals_ties_and_flags_and_remeasures_flagged_runtimes(live, tiny_models, isp_split):
    live.create_challenge(challenge_def("iv", isp_split))
    _users(live)
    worker = register_worker(live)
    results, ids = {}, {}
    for user, psnr, centre, spread, drift in ENTRIES:
        r = live.upload("iv", tiny_models["isp"] / "model.tflite", who=user)
        assert r.status_code == 201, r.text
        xs = _samples(centre, spread)
        run = {"avg_ms": statistics.mean(xs), "samples_ms": xs, "input_shape": [1, 16, 16, 4], "warnings": []}
        if drift:
            run["drift"] = drift
        ids[user] = r.json()["id"]
        results[ids[user]] = ({"psnr": psnr, "ssim": 0.9, "ms_ssim": 0.9, "images": 2}, run)
    finish(live, worker, results)

    board = live.get("/api/challenges/iv/phases/validation/leaderboard").json()
    rows = board["rows"]
    by_score = sorted(ENTRIES, key=lambda e: -_isp(e[1], statistics.mean(_samples(e[2], e[3]))))
    assert [r["team"] for r in rows] == [e[0] for e in by_score] == ["dave", "carol", "bob", "alice", "erin"]
    for row in rows:
        user, psnr, centre, spread, drift = next(e for e in ENTRIES if e[0] == row["team"])
        for key, want in _expected(psnr, _samples(centre, spread)).items():
            assert math.isclose(row[key], want, rel_tol=1e-6), (row["team"], key, row[key], want)
        assert row["interval"] == "Student-t interval of the mean"
        assert row["flagged"] is (drift is not None)
    assert [r["tie_group"] for r in rows] == _groups(rows) == [None, 1, 1, 1, None]
    erin = rows[-1]
    erin_flags = erin["flags"]
    assert erin["flags"] == ["drift control: no attempt of 2 was clean (reference drift 43.6%)"]
    assert math.isclose(erin["attempts_spread"], (245.6 - 78.6) / 78.6)

    text = live.get("/api/challenges/iv/phases/validation/leaderboard", params={"format": "csv"}).text
    table = list(csv.DictReader(io.StringIO(text)))
    for row, line in zip(rows, table):
        assert line["team"] == row["team"] and line["tie_group"] == ("" if row["tie_group"] is None else str(row["tie_group"]))
        assert math.isclose(float(line["runtime_low_ms"]), row["runtime_low_ms"], rel_tol=1e-9)
        assert math.isclose(float(line["score_high"]), row["score_high"], rel_tol=1e-9)
        assert line["flagged"] == str(row["flagged"]) and line["flags"] == "; ".join(row["flags"])

    r = CliRunner().invoke(app, ["leaderboard", "--server", live.url, "--challenge", "iv"], env={"COLUMNS": "250"})
    assert r.exit_code == 0, r.stdout
    lines = {name: next(ln for ln in r.stdout.splitlines() if f" {name} " in ln) for name, *_ in ENTRIES}
    assert "tie 1" in lines["bob"] and "tie" not in lines["dave"] and "flagged" in lines["erin"], r.stdout
    lo, hi = rows[0]["runtime_low_ms"], rows[0]["runtime_high_ms"]
    assert f"[{lo:.1f}, {hi:.1f}]" in lines["dave"], lines["dave"]

    # one action re-measures the flagged runtime only: no fidelity job is queued for it
    r = CliRunner().invoke(app, ["challenge", "rerun", "iv", "--phase", "validation", "--runtime-only", "--flagged-only",
                                 "--json", "--server", live.url, "--token", live.tokens["organiser"]])
    assert r.exit_code == 0, r.stdout + r.stderr
    import json

    out = json.loads(r.stdout)
    assert out["rerun"] == 1
    new = out["submissions"][0]
    during = live.get("/api/challenges/iv/phases/validation/leaderboard").json()["rows"]
    assert [(x["team"], x["submission_id"], x["rerun_in_progress"]) for x in during if x["team"] == "erin"] == \
        [("erin", ids["erin"], True)]
    clean = _samples(100.0, 2.0)
    job = live.http.post("/api/workers/claim", headers=live.auth("worker"), json={"worker_id": worker, "wait_s": 5}).json()
    assert (job["submission_id"], job["role"]) == (new, "runtime")
    done = live.http.post(f"/api/jobs/{job['job_id']}/result", headers={"Authorization": f"Bearer {job['lease_token']}"},
                          json={"ok": True, "result": {"avg_ms": statistics.mean(clean), "samples_ms": clean, "warnings": []}})
    assert done.status_code == 200, done.text
    again = live.get(f"/api/submissions/{new}", "organiser").json()
    assert again["status"] == "Finished" and again["parent_id"] == ids["erin"] and again["flags"] == []
    assert again["metrics"]["psnr"] == 20.0  # the fidelity result kept
    logs = live.get(f"/api/submissions/{new}/logs", "organiser").json()["stages"]
    assert f"kept from submission {ids['erin']}" in logs["fidelity"]["log"]
    erin = next(x for x in live.get("/api/challenges/iv/phases/validation/leaderboard").json()["rows"] if x["team"] == "erin")
    assert erin["submission_id"] == new and erin["flagged"] is False and erin["rerun_in_progress"] is False
    exported = {r["id"]: r for r in live.get("/api/challenges/iv/phases/validation/export", "organiser").json()["submissions"]}
    assert exported[new]["lineage_id"] == ids["erin"] and exported[new]["flags"] == []
    assert exported[ids["erin"]]["flags"] == erin_flags and exported[ids["erin"]]["runtime_interval"]["n"] == 10
    # a submission without a finished fidelity result cannot have its runtime alone measured again
    bad = live.upload("iv", tiny_models["isp"] / "model.tflite", who="alice")
    cancel = live.post(f"/api/submissions/{bad.json()['id']}/cancel", "organiser")
    assert cancel.status_code == 200
    r = live.post(f"/api/submissions/{bad.json()['id']}/rerun", "organiser", params={"runtime_only": "true"})
    assert r.status_code == 409 and "no finished fidelity result" in r.json()["detail"], r.text


def test_two_remeasures_at_once_make_one_rerun(live, tiny_models, isp_split):
    """Two organisers re-measure the same submission at the same moment, ten times over: one
    re-run each time (the second is refused: it reads the first under the submission's lock)."""
    import threading

    import httpx

    live.create_challenge(challenge_def("iv2", isp_split))
    worker = register_worker(live)
    sid = live.upload("iv2", tiny_models["isp"] / "model.tflite").json()["id"]
    xs = _samples(60.0, 5.0)
    finish(live, worker, {sid: ({"psnr": 24.0, "ssim": 0.9, "ms_ssim": 0.9, "images": 2},
                                {"avg_ms": statistics.mean(xs), "samples_ms": xs, "warnings": []})})
    current = sid
    for _ in range(10):
        go, answers = threading.Barrier(2), []

        def remeasure():
            with httpx.Client(base_url=live.url, timeout=120) as c:
                go.wait()
                answers.append(c.post(f"/api/submissions/{current}/rerun", params={"runtime_only": "true"},
                                      headers=live.auth("organiser")))

        threads = [threading.Thread(target=remeasure) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        codes = sorted(r.status_code for r in answers)
        assert codes == [201, 409], [r.text for r in answers]
        refused = next(r for r in answers if r.status_code == 409).json()["detail"]
        assert refused == f"submission {current} was re-run already: re-run its newest run"
        current = next(r for r in answers if r.status_code == 201).json()["id"]
    subs = live.get("/api/challenges/iv2/phases/validation/submissions", "organiser").json()
    assert len(subs) == 11 and sorted(s["parent_id"] or 0 for s in subs)[1:] == sorted(s["id"] for s in subs)[:-1]
