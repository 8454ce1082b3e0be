"""The platform's acceptance check: ``mai serve --demo`` (its baselines the session's
``mai demo --quick`` exports), ``mai submit`` of the demo's exported smallnet, and the
validation result equals ``mai eval`` on the same file and split; the board's baseline rows
are trained ones, above what random weights give."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from _fixtures import stop_group
from platform_testing import free_port, wait_for

pytestmark = pytest.mark.slow


def _mai(*args, env=None, timeout=600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "maikit", *args], capture_output=True, text=True, env=env, timeout=timeout)


def _random_weights_psnr(split, tmp_path) -> float:
    """PSNR of a random-weight isp/smallnet export (what the demo's board showed before: 7.4)."""
    from maikit.eval.evaluate import run_fidelity
    from maikit.export import export_model
    from maikit.tasks import ISP

    export_model("isp/smallnet", tmp_path / "random", task=ISP)
    return run_fidelity(tmp_path / "random" / "model_none.tflite", ISP, split)["psnr"]


def test_demo_submit_equals_mai_eval(tmp_path, quick_demo):
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    data_dir = tmp_path / "srv"
    # --demo-from the parent of the session's demo folder: the newest finished demo there
    server = subprocess.Popen([sys.executable, "-m", "maikit", "serve", "--demo", "--data-dir", str(data_dir),
                               "--demo-from", quick_demo["parent"], "--port", str(port), "--workers", "1"],
                              stdout=subprocess.DEVNULL, stderr=open(tmp_path / "serve.log", "wb"), start_new_session=True)
    try:
        def up():
            try:
                return httpx.get(f"{url}/api/health", timeout=5).status_code == 200
            except httpx.HTTPError:
                assert server.poll() is None, (tmp_path / "serve.log").read_text()[-3000:]
                return False

        wait_for(up, 600, 0.5, "mai serve --demo")
        tokens = json.loads((data_dir / "demo-tokens.json").read_text())
        assert set(tokens) == {"organiser", "participants", "worker", "passwords"}
        assert set(tokens["participants"]) == {"alice", "bob"} and set(tokens["passwords"]) == {"organiser", "alice", "bob"}
        assert (data_dir / "demo-tokens.json").stat().st_mode & 0o077 == 0
        # the organiser's sign-in is printed at start, and works
        wait_for(lambda: "demo sign-in:" in (tmp_path / "serve.log").read_text(), 120, 0.2, "the demo's sign-in line")
        line = next(x for x in (tmp_path / "serve.log").read_text().splitlines() if x.startswith("demo sign-in:"))
        assert line == (f"demo sign-in: {url}/signin as organiser, password {tokens['passwords']['organiser']} (alice and "
                        f"bob: passwords and API tokens in {data_dir / 'demo-tokens.json'})")
        for name, password in tokens["passwords"].items():
            r = httpx.post(f"{url}/api/auth/token", json={"username": name, "password": password}, timeout=60)
            assert r.status_code == 200, (name, r.text)
        model = data_dir / "demo" / "models" / "isp_fp32"
        info = json.loads((data_dir / "demo" / "models" / "baselines.json").read_text())
        assert info["origin"] == "mai demo" and info["source"] == str(Path(quick_demo["folder"]).resolve())
        env = dict(os.environ, MAI_TOKEN=tokens["participants"]["alice"])
        sub = _mai("submit", str(model), "--server", url, "--challenge", "demo-isp", "--phase", "validation",
                   "--wait", "--json", env=env)
        assert sub.returncode == 0, sub.stderr
        result = json.loads(sub.stdout)
        assert result["status"] == "Finished" and result["reason"] is None
        ev = _mai("eval", str(model), "--task", "isp", "--data", str(data_dir / "demo" / "data" / "isp-validation" / "val"),
                  "--runs", "2", "--min-seconds", "0", "--json")
        assert ev.returncode == 0, ev.stderr
        local = json.loads(ev.stdout)
        for k in ("psnr", "ssim", "ms_ssim"):
            assert repr(result["metrics"][k]) == repr(local[k]), k
        split = data_dir / "demo" / "data" / "isp-validation" / "val"
        # the validation split is the demo's own held-out split, copied
        assert result["metrics"]["images"] == local["images"] == len(list((split / "fujifilm").glob("*.png")))
        assert local["images"] == quick_demo["tasks"]["isp"]["eval"]["fp32"]["images"]

        def board_rows():
            b = _mai("leaderboard", "--server", url, "--challenge", "demo-isp", "--phase", "validation", "--json")
            assert b.returncode == 0, b.stderr
            rows = json.loads(b.stdout)["rows"]
            return rows if len(rows) == 3 else None

        # alice's row next to the two baseline rows the demo submits at start
        rows = wait_for(board_rows, 600, 1.0, "the baselines' rows")
        assert ("alice", result["id"]) in [(r["team"], r["submission_id"]) for r in rows]
        baselines = [r for r in rows if r["team"] in ("Baseline FP32", "Baseline INT8")]
        assert len(baselines) == 2
        random_psnr = _random_weights_psnr(data_dir / "demo" / "data" / "isp-validation" / "val", tmp_path)
        assert all(r["psnr"] > random_psnr + 1.0 for r in baselines), (random_psnr, baselines)
        table = _mai("leaderboard", "--server", url, "--challenge", "demo-isp")
        assert f"{local['psnr']:.4f}" in table.stdout

        status = _mai("status", str(result["id"]), "--server", url, "--json", env=env)
        assert json.loads(status.stdout) == result
    finally:
        stop_group(server)


def test_demo_without_a_demo_output_says_it_trains_first(tmp_path):
    """No `mai demo` output to take the baselines from: `mai serve --demo` says it trains them
    first and for how long (never random weights); stopped once it has said so."""
    port = free_port()
    log = tmp_path / "serve.log"
    server = subprocess.Popen([sys.executable, "-m", "maikit", "serve", "--demo", "--data-dir", str(tmp_path / "srv"),
                               "--demo-from", str(tmp_path / "no-demo-here"), "--port", str(port), "--workers", "0"],
                              stdout=subprocess.DEVNULL, stderr=open(log, "wb"), start_new_session=True)
    try:
        def said():
            assert server.poll() is None, log.read_text()[-3000:]
            return "training the baselines now" in log.read_text()

        wait_for(said, 300, 0.2, "the training announcement")
        line = next(x for x in log.read_text().splitlines() if "training the baselines now" in x)
        assert line == (f"demo: no finished `mai demo` output in {tmp_path / 'no-demo-here'}: training the baselines "
                        "now, about 2 minutes (synthetic data, 30 CPU-seconds of training per task, FP32 and INT8 exports)")
    finally:
        stop_group(server)
