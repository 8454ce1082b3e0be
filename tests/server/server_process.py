"""A platform server in a process of its own, for tests that measure the server from outside
(its memory from /proc, its folders, its process limits): ``python server_process.py DATA_DIR
PORT OUT.json SETTINGS_JSON`` (a PostgreSQL ``db_url`` among the settings gets a new schema)
makes the accounts of ``platform_testing`` (organiser, alice,
bob, a worker token) and a web session of alice's, writes their tokens to OUT.json, then
serves on 127.0.0.1:PORT until it is terminated. :func:`start` and :func:`stop` run it."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass
class ServerProcess:
    proc: subprocess.Popen
    url: str
    port: int
    tokens: dict
    data_dir: Path

    def auth(self, who: str) -> dict:
        return {"Authorization": f"Bearer {self.tokens[who]}"}


def start(data_dir: Path, port: int, settings: dict | None = None, env: dict | None = None,
          rlimits: dict | None = None, log: Path | None = None) -> ServerProcess:
    """The server process, ready; ``rlimits``: {resource.RLIMIT_*: bytes} set on it at once
    (prlimit), before it serves."""
    import httpx

    out = Path(data_dir).parent / f"tokens-{port}.json"
    proc = subprocess.Popen([sys.executable, __file__, str(data_dir), str(port), str(out), json.dumps(settings or {})],
                            env={**os.environ, **(env or {})},
                            stdout=subprocess.DEVNULL, stderr=open(log, "ab") if log else subprocess.DEVNULL)
    for which, n in (rlimits or {}).items():
        resource.prlimit(proc.pid, which, (n, n))
    url = f"http://127.0.0.1:{port}"
    end = time.monotonic() + 120
    while True:
        if proc.poll() is not None:
            raise AssertionError(f"the server process exited with {proc.returncode}")
        if out.exists():
            try:
                if httpx.get(f"{url}/api/health", timeout=5).status_code == 200:
                    break
            except httpx.TransportError:
                pass
        if time.monotonic() > end:
            proc.kill()
            raise AssertionError("the server process did not start")
        time.sleep(0.1)
    return ServerProcess(proc, url, port, json.loads(out.read_text()), Path(data_dir))


def stop(server: ServerProcess) -> None:
    server.proc.terminate()
    try:
        server.proc.wait(30)
    except subprocess.TimeoutExpired:
        server.proc.kill()
        server.proc.wait()


def main(data_dir: str, port: int, out: str, settings: str) -> None:
    import uvicorn

    from maikit.server.app import create_app
    from maikit.server.core.config import Settings
    from maikit.server.services.sessions import start_session
    from maikit.server.services.users import create_user, issue_user_token, issue_worker_token

    opts = {"preflight_zygote": False, **json.loads(settings)}
    url = opts.get("db_url") or ""
    if url.startswith("postgresql"):  # a new schema, as platform_testing.start_live makes one
        from sqlalchemy import create_engine, text

        from maikit.server.db.session import Database, migrate

        eng = create_engine(url)
        with eng.begin() as c:
            c.execute(text("DROP SCHEMA public CASCADE"))
            c.execute(text("CREATE SCHEMA public"))
        eng.dispose()
        db = Database(url)
        migrate(url, db.engine)
        db.dispose()
    app = create_app(Settings(data_dir=Path(data_dir), **opts))
    p = app.state.platform
    tokens = {}
    with p.db.write() as s, s.begin():
        org = create_user(s, username="organiser", role="organiser", password="org-pass", team=None, now=p.now())
        tokens["organiser"] = issue_user_token(s, org, p.now())
        ids = {}
        for name in ("alice", "bob"):
            u = create_user(s, username=name, role="participant", password=None, team=None, now=p.now())
            tokens[name] = issue_user_token(s, u, p.now())
            s.flush()
            ids[name] = u.id
        tokens["worker"] = issue_worker_token(s, "*", p.now())
    tokens["alice_cookie"] = start_session(p, ids["alice"])
    Path(out).write_text(json.dumps(tokens))
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4])
