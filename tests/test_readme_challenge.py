"""The README's "Running a challenge" runs as written, from an empty folder to a published board.

The block is read from README.md, not copied here. Its lines run in order in one folder that
holds a copy of ``examples/`` (as a checkout does), with what the README asks the reader to do
by hand done here instead, and nothing else:

- the server (``mai serve ... &``) starts in the background on a free port (the block's 8000),
  and the next line waits until it answers and its in-process worker has registered (a
  reader's typing takes longer than that);
- ``export MAI_TOKEN=mai_u_...`` and ``MAI_TOKEN=mai_u_alice... mai ...`` take the tokens that
  the ``create-user`` lines printed;
- after the ``cp`` of the example, its edits: both phases open now, the data paths where
  step 1 wrote them, ``protocol.device: litert-cpu`` (the trial on one machine).
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
import pytest
import yaml
from _fixtures import free_port, stop_group

ROOT = Path(__file__).resolve().parents[1]
SMALLER = ((re.compile(r"(synth isp .*--count )\d+"), r"\g<1>12"),)

pytestmark = pytest.mark.slow


def block() -> list[str]:
    section = (ROOT / "README.md").read_text().split("## Running a challenge", 1)[1]
    text = re.search(r"```bash\n(.*?)```", section, re.S).group(1)
    return [re.split(r"\s{2,}#", line, maxsplit=1)[0].strip() for line in text.splitlines()
            if line.strip() and not line.startswith("#")]


def _edit(path: Path) -> None:
    """What the README's paragraph after the block asks for."""
    d = yaml.safe_load(path.read_text())
    now = datetime.now(timezone.utc)
    for ph in d["phases"]:
        ph["start"] = (now - timedelta(days=1)).isoformat()
        ph["end"] = (now + timedelta(days=7)).isoformat()
    d["data"] = {"validation": "reference/isp/val", "test": "reference/isp-test/val"}
    d["protocol"]["device"] = "litert-cpu"
    path.write_text(yaml.safe_dump(d, sort_keys=False))


def test_running_a_challenge_as_the_readme_says(tmp_path):
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    port = str(free_port())
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src") + os.pathsep + os.environ.get("PYTHONPATH", "")}
    env.pop("MAI_DEBUG", None)
    env.pop("MAI_TOKEN", None)
    tokens: dict[str, str] = {}
    server = None
    log = tmp_path / "serve.log"
    ran = []
    try:
        for line in block():
            line = line.replace("8000", port)
            for pattern, repl in SMALLER:
                line = pattern.sub(repl, line)
            words = shlex.split(line)
            call_env = dict(env)
            if words[0] == "export":  # export MAI_TOKEN=<the organiser's token>
                env["MAI_TOKEN"] = tokens["root"]
                _wait_for_worker(f"http://127.0.0.1:{port}", tokens["root"])
                continue
            if words[0].startswith("MAI_TOKEN="):  # MAI_TOKEN=mai_u_alice... mai ...
                call_env["MAI_TOKEN"] = tokens[words[0].split("mai_u_", 1)[1].rstrip(".")]
                words = words[1:]
            if words[0] == "cp":
                shutil.copy(tmp_path / words[1], tmp_path / words[2])
                _edit(tmp_path / words[2])
                continue
            assert words[0] == "mai", line
            if words[-1] == "&":
                server = subprocess.Popen([sys.executable, "-m", "maikit", *words[1:-1]], cwd=tmp_path, env=call_env,
                                          stdout=subprocess.DEVNULL, stderr=open(log, "wb"), start_new_session=True)
                _wait_up(f"http://127.0.0.1:{port}", server, log)
                continue
            r = subprocess.run([sys.executable, "-m", "maikit", *words[1:]], cwd=tmp_path, env=call_env,
                               capture_output=True, text=True, timeout=900)
            assert r.returncode == 0, f"`{line}` exited {r.returncode}:\n{r.stderr[-3000:]}"
            if words[1:3] == ["server", "create-user"]:
                tokens[words[3]] = re.search(r"API token for mai commands \(shown once\): (\S+)", r.stdout).group(1)
            if words[1:3] == ["challenge", "check"] and "--server" in words:
                assert r.stderr == ""  # the in-process workers serve litert-cpu: no warning
            ran.append(" ".join(words[1:3]))
        started = log.read_text()
        assert f"maikit platform on http://127.0.0.1:{port}  (sqlite, 1 in-process worker)" in started
        assert "no organiser account yet: create one with `mai server create-user NAME --organiser --data-dir srv`" in started
        url = f"http://127.0.0.1:{port}"
        board = httpx.get(f"{url}/api/challenges/mai21-isp/phases/testing/leaderboard", timeout=60).json()
        assert [r["team"] for r in board["rows"]] == ["Team A"]  # published: anyone sees it
        exported = (tmp_path / "testing.csv").read_text().splitlines()
        assert len(exported) == 2 and exported[0].startswith("id,user,status")
        report = (tmp_path / "report" / "results.md").read_text()  # the last step: the report's results section
        assert "| Team A † | alice | — |" in report and (tmp_path / "report" / "figure.pdf").is_file()
        assert {"challenge publish", "challenge export", "challenge create", "submit alice-model", "challenge report"} <= set(ran)
    finally:
        if server is not None:
            stop_group(server)


def _wait_up(url: str, server, log: Path, timeout: float = 300.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        assert server.poll() is None, log.read_text()[-3000:]
        try:
            if httpx.get(f"{url}/api/health", timeout=5).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise AssertionError(f"mai serve did not answer within {timeout:.0f} s")


def _wait_for_worker(url: str, token: str, timeout: float = 300.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if httpx.get(f"{url}/api/workers", headers={"Authorization": f"Bearer {token}"}, timeout=10).json():
            return
        time.sleep(0.3)
    raise AssertionError(f"no in-process worker registered within {timeout:.0f} s")
