"""The platform's acceptance check: ``mai serve --demo``, ``mai submit`` of the demo's exported
smallnet, and the validation result equals ``mai eval`` on the same file and split."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import httpx
import pytest

from _fixtures import stop_group
from platform_testing import free_port, wait_for

pytestmark = pytest.mark.slow


def _mai(*args, env=None, timeout=600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "maikit", *args], capture_output=True, text=True, env=env, timeout=timeout)


def test_demo_submit_equals_mai_eval(tmp_path):
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    data_dir = tmp_path / "srv"
    server = subprocess.Popen([sys.executable, "-m", "maikit", "serve", "--demo", "--data-dir", str(data_dir),
                               "--port", str(port), "--workers", "1"],
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
        model = data_dir / "demo" / "models" / "isp-smallnet"
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
        assert result["metrics"]["images"] == local["images"] == 2

        board = _mai("leaderboard", "--server", url, "--challenge", "demo-isp", "--phase", "validation", "--json")
        assert board.returncode == 0, board.stderr
        rows = json.loads(board.stdout)["rows"]
        # alice's row next to the baseline rows the demo submits at start
        assert ("alice", result["id"]) in [(r["team"], r["submission_id"]) for r in rows]
        table = _mai("leaderboard", "--server", url, "--challenge", "demo-isp")
        assert f"{local['psnr']:.4f}" in table.stdout

        status = _mai("status", str(result["id"]), "--server", url, "--json", env=env)
        assert json.loads(status.stdout) == result
    finally:
        stop_group(server)
