"""A phase scored on CPU time (``protocol.statistic_basis: cpu``, issue 24 item 4): the
challenge check takes it (and refuses it off the CPU), the score reads the CPU figure while
the wall time is stored and shown beside it, the board (JSON, CSV, page, `mai leaderboard`)
says which was scored, and a device without CPU time fails the submission as an
infrastructure failure. Known results posted through the worker API, on SQLite and
PostgreSQL (the ``live`` fixture); one real measurement on the in-process worker."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import yaml
from typer.testing import CliRunner

from maikit.cli import app
from platform_testing import challenge_def, queued_submissions

FIDELITY = {"psnr": 22.0, "ssim": 0.8, "ms_ssim": 0.9, "images": 2}
# the ISP formula of the report (maikit.scoring): PSNR + 20 * (0.2 - t) for t <= 0.2 s
WALL_SCORE = 22.0 + 20 * (0.2 - 0.100)  # 100 ms of wall time: 24.0
CPU_SCORE = 22.0 + 20 * (0.2 - 0.050)  # 50 ms of CPU time: 25.0


def _cpu_challenge(slug, split, basis="cpu"):
    d = challenge_def(slug, split)
    d["protocol"]["statistic_basis"] = basis
    return d


def test_the_check_takes_the_basis_and_refuses_cpu_time_off_the_cpu(tmp_path, isp_split):
    ok = tmp_path / "ok.yaml"
    ok.write_text(yaml.safe_dump(_cpu_challenge("cpu-ok", isp_split)))
    r = CliRunner().invoke(app, ["challenge", "check", str(ok)])
    assert r.exit_code == 0, r.output
    gpu = _cpu_challenge("cpu-gpu", isp_split)
    gpu["protocol"]["target"] = "gpu"
    bad = tmp_path / "gpu.yaml"
    bad.write_text(yaml.safe_dump(gpu))
    r = CliRunner().invoke(app, ["challenge", "check", str(bad)])
    assert r.exit_code == 1
    assert r.output.strip().splitlines()[0].startswith(f"{bad}: protocol: Value error, statistic_basis cpu needs target cpu")
    odd = _cpu_challenge("cpu-odd", isp_split, basis="instructions")
    (tmp_path / "odd.yaml").write_text(yaml.safe_dump(odd))
    r = CliRunner().invoke(app, ["challenge", "check", str(tmp_path / "odd.yaml")])
    assert r.exit_code == 1 and "protocol.statistic_basis: Input should be 'wall' or 'cpu'" in r.output


def _post_results(live, runtime_results: list[dict]) -> None:
    """Claim every queued job through the API and post the fidelity result and the next runtime result."""
    r = live.post("/api/workers/register", "worker", json={"name": "poster", "roles": ["fidelity", "runtime"],
                                                            "device_tag": "litert-cpu"})
    assert r.status_code == 201, r.text
    wid = r.json()["worker_id"]
    by_sub: dict[int, dict] = {}
    for _ in range(2 * len(runtime_results)):
        r = live.post("/api/workers/claim", "worker", json={"worker_id": wid, "wait_s": 5})
        assert r.status_code == 200, (r.status_code, r.text)
        by_sub.setdefault(r.json()["submission_id"], {})[r.json()["role"]] = r.json()
    for (sub_id, jobs), runtime in zip(sorted(by_sub.items()), runtime_results):
        for role, body in (("fidelity", FIDELITY), ("runtime", runtime)):
            job = jobs[role]
            r = live.http.post(f"/api/jobs/{job['job_id']}/result", json={"ok": True, "result": body},
                          headers={"Authorization": f"Bearer {job['lease_token']}"})
            assert r.status_code == 200, r.text


def test_cpu_basis_scores_the_cpu_time_and_keeps_the_wall_time(live, isp_split):
    live.create_challenge(_cpu_challenge("cpub", isp_split))
    live.create_challenge(_cpu_challenge("wallb", isp_split, basis="wall"))
    both = {"avg_ms": 100.0, "cpu_avg_ms": 50.0, "runs": 3}
    cpu_subs = queued_submissions(live, "cpub", 2, max_attempts=1)
    _post_results(live, [both, {"avg_ms": 100.0, "runs": 3}])  # the second: a device without CPU time
    wall_subs = queued_submissions(live, "wallb", 1, max_attempts=1)
    _post_results(live, [both])

    done = live.wait_done(cpu_subs[0])
    assert done["status"] == "Finished", done
    assert done["score"] == pytest.approx(CPU_SCORE, abs=1e-9) and done["runtime_ms"] == 100.0
    assert done["metrics"]["runtime_ms"] == 100.0 and done["metrics"]["cpu_ms"] == 50.0
    assert done["metrics"]["runtime_basis"] == "cpu"
    failed = live.wait_done(cpu_subs[1])
    assert failed["status"] == "Failed" and failed["fault"] == "infrastructure"
    assert "reported no CPU time" in failed["reason"] and "statistic_basis: cpu" in failed["reason"]
    wall = live.wait_done(wall_subs[0])  # the same figures in a phase scored on wall time
    assert wall["score"] == pytest.approx(WALL_SCORE, abs=1e-9)
    assert wall["metrics"]["cpu_ms"] == 50.0 and wall["metrics"]["runtime_basis"] == "wall"

    board = live.get("/api/challenges/cpub/phases/validation/leaderboard").json()
    assert board["runtime_basis"] == "cpu"
    assert [c["key"] for c in board["columns"]] == ["rank", "team", "size_kb", "psnr", "ssim", "ms_ssim", "runtime_ms",
                                                    "cpu_ms", "score", "pareto"]
    assert next(c for c in board["columns"] if c["key"] == "score")["title"] == "Score (from CPU time)"
    row = board["rows"][0]
    assert (row["runtime_ms"], row["cpu_ms"], row["score"]) == (100.0, 50.0, pytest.approx(CPU_SCORE))
    csv_lines = live.get("/api/challenges/cpub/phases/validation/leaderboard", params={"format": "csv"}).text.splitlines()
    assert csv_lines[0].startswith("rank,team,size_kb,psnr,ssim,ms_ssim,runtime_ms,cpu_ms,score")
    page = live.get("/challenges/cpub/phases/validation/leaderboard").text
    assert 'id="runtime-basis"' in page and "scored on CPU time per inference" in page and "CPU time, ms" in page
    assert live.get("/api/challenges/wallb/phases/validation/leaderboard").json()["runtime_basis"] == "wall"
    assert 'id="runtime-basis"' not in live.get("/challenges/wallb/phases/validation/leaderboard").text
    cli = subprocess.run([sys.executable, "-m", "maikit", "leaderboard", "--challenge", "cpub", "--server", live.url],
                         capture_output=True, text=True, timeout=300, env={**os.environ, "COLUMNS": "200"})
    assert cli.returncode == 0, cli.stderr
    assert "scored on CPU time" in cli.stdout and "CPU time, ms" in cli.stdout
    status = subprocess.run([sys.executable, "-m", "maikit", "status", str(cpu_subs[0]), "--server", live.url],
                            capture_output=True, text=True, timeout=300,
                            env={**os.environ, "COLUMNS": "200", "MAI_TOKEN": live.tokens["alice"]})
    assert status.returncode == 0, status.stderr
    assert "runtime 100.0 ms, CPU time 50.0 ms (scored), score 25.00" in status.stdout, status.stdout


@pytest.mark.parametrize("engine_name", ["sqlite"], indirect=True)
def test_a_real_measurement_carries_both_figures(live, tiny_models, isp_split):
    live.create_challenge(_cpu_challenge("cpur", isp_split))
    live.worker(name="w1")
    r = live.upload("cpur", tiny_models["isp"] / "model.tflite", fidelity=tiny_models["isp"] / "model_none.tflite")
    assert r.status_code == 201, r.text
    done = live.wait_done(r.json()["id"])
    assert done["status"] == "Finished", done
    run = live.get("/api/challenges/cpur/phases/validation/export", "organiser").json()["submissions"][0]["runtime"]
    assert len(run["cpu_samples_ms"]) == len(run["samples_ms"]) == run["runs"] >= 3
    assert done["metrics"]["runtime_ms"] == pytest.approx(sum(run["samples_ms"]) / run["runs"])
    assert done["metrics"]["cpu_ms"] == pytest.approx(sum(run["cpu_samples_ms"]) / run["runs"])
    assert 0 < done["metrics"]["cpu_ms"] <= done["metrics"]["runtime_ms"] + 0.5
