"""Fixtures for the platform: a real uvicorn server on a free loopback port, on SQLite and on
the real PostgreSQL (``MAI_TEST_POSTGRES``, default postgres@127.0.0.1:5432/test; each test
session makes its own database and drops it; a missing PostgreSQL fails the tests), tiny
reference data and tiny exported models."""

from __future__ import annotations

import os
import socket
import threading
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
import numpy as np
import pytest
from _fixtures import build_once, free_port  # noqa: F401  (tests import free_port from here too)
from maikit.tasks import DEPTH, ISP

PG_URL = os.environ.get("MAI_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
# the tiny ISP models' runtime shape: the tests' phases time them there (the default is the task's
# official 1x544x960x4, which a 16x16 file is refused at)
TINY_ISP_SHAPE = [1, 16, 16, 4]
FAST = {"device": "litert-cpu", "target": "cpu", "threads": 1, "warmup_runs": 0, "warmup_seconds": 0.0,
        "min_runs": 3, "min_seconds": 0.0, "max_seconds": 30.0, "input_shape": TINY_ISP_SHAPE}


def wait_for(cond, timeout: float = 120.0, every: float = 0.1, what: str = "condition"):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = cond()
        if v:
            return v
        time.sleep(every)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture(scope="session")
def pg_database():
    """A fresh PostgreSQL database for this test session (dropped at the end)."""
    import psycopg

    base = PG_URL.replace("postgresql+psycopg://", "postgresql://")
    name = f"mai_test_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = PG_URL.rsplit("/", 1)[0] + "/" + name
    yield url
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def engine_name(request):
    return request.param


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory):
    """Exported tiny ISP and depth models (model.tflite at 16x16, model_none.tflite dynamic)."""
    import torch
    import torch.nn as nn

    from maikit.export import export_model

    class TinyIsp(nn.Module):
        def __init__(self):
            super().__init__()
            torch.manual_seed(0)
            self.c1 = nn.Conv2d(4, 12, 3, padding=1)
            self.shuffle = nn.PixelShuffle(2)

        def forward(self, x):
            return torch.sigmoid(self.shuffle(self.c1(x)))

    class TinyDepth(nn.Module):
        def __init__(self):
            super().__init__()
            torch.manual_seed(1)
            self.c1 = nn.Conv2d(3, 1, 3, padding=1)

        def forward(self, x):
            return 0.5 + 5.0 * torch.sigmoid(self.c1(x) / 255.0)

    def build(root: Path) -> None:
        export_model(TinyIsp().eval(), root / "isp", task=ISP, input_hw=(16, 16))
        export_model(TinyDepth().eval(), root / "depth", task=DEPTH, input_hw=(16, 16))

    root = build_once(tmp_path_factory, "tiny-models", build)  # once per run, not once per xdist worker
    return {"isp": root / "isp", "depth": root / "depth"}


@pytest.fixture(scope="session")
def isp_split(tmp_path_factory):
    """Two random 176x176 RAW/RGB pairs (176 px: room for MS-SSIM's five scales)."""
    from maikit.io import write_png

    split = tmp_path_factory.mktemp("isp_data") / "val"
    rng = np.random.default_rng(0)
    for i in range(2):
        write_png(split / "mediatek_raw" / f"{i}.png", rng.integers(0, 1024, (176, 176), dtype=np.uint16))
        write_png(split / "fujifilm" / f"{i}.png", rng.integers(0, 256, (176, 176, 3), dtype=np.uint8))
    return split


def challenge_def(slug: str, split: Path | str, **phase_overrides) -> dict:
    now = datetime.now(timezone.utc)
    start, end = (now - timedelta(days=2)).isoformat(), (now + timedelta(days=30)).isoformat()
    phase = {"slug": "validation", "kind": "validation", "start": start, "end": end, "max_submissions_per_day": 50,
             "max_failed_per_day": 50, "execution_time_limit_s": 120, "memory_limit_mb": 2048}
    test_phase = dict(phase, slug="testing", kind="test")
    phase.update(phase_overrides)
    return {"slug": slug, "title": slug, "task": "isp", "data": {"validation": str(split), "test": str(split)},
            "protocol": dict(FAST), "upload_cap_mb": 1, "phases": [phase, test_phase]}


class Live:
    """A running server (uvicorn in a thread) and helpers to call it."""

    def __init__(self, app, url: str, server, thread):
        self.app, self.url, self.server, self.thread = app, url, server, thread
        self.platform = app.state.platform
        self.tokens: dict[str, str] = {}
        self.http = httpx.Client(base_url=url, timeout=120)

    def auth(self, who: str) -> dict:
        return {"Authorization": f"Bearer {self.tokens[who]}"}

    def get(self, path: str, who: str | None = None, **kw):
        return self.http.get(path, headers=self.auth(who) if who else {}, **kw)

    def post(self, path: str, who: str | None = None, **kw):
        return self.http.post(path, headers=self.auth(who) if who else {}, **kw)

    def create_challenge(self, d: dict) -> dict:
        r = self.post("/api/challenges", "organiser", json=d)
        assert r.status_code == 201, r.text
        return r.json()

    def upload(self, slug: str, file: Path, who: str = "alice", phase: str = "validation", fidelity: Path | None = None):
        files = {"file": ("model.tflite", Path(file).read_bytes(), "application/octet-stream")}
        if fidelity is not None:
            files["fidelity_file"] = ("model_none.tflite", Path(fidelity).read_bytes(), "application/octet-stream")
        return self.post(f"/api/challenges/{slug}/phases/{phase}/submissions", who, files=files)

    def wait_done(self, sub_id: int, who: str = "alice", timeout: float = 180.0) -> dict:
        def done():
            sub = self.get(f"/api/submissions/{sub_id}", who).json()
            return sub if sub["status"] in ("Finished", "Failed", "Cancelled") else None

        return wait_for(done, timeout, 0.2, f"submission {sub_id} to finish")

    def worker(self, **kw):
        """An in-thread worker (the same loop as ``mai worker``); returns (worker, thread)."""
        from maikit.worker.loop import Worker

        w = Worker(self.url, self.tokens["worker"], wait_s=2.0, **kw)
        t = threading.Thread(target=w.run, daemon=True)
        t.start()
        self._workers.append((w, t))
        return w, t

    _workers: list


def start_live(tmp: Path, db_url: str | None, **settings) -> Live:
    from maikit.server.app import create_app
    from maikit.server.core.config import Settings
    from maikit.server.db.session import Database, migrate

    if db_url and db_url.startswith("postgresql"):
        _reset_postgres(db_url)
        db = Database(db_url)
        migrate(db_url, db.engine)
        db.dispose()
    # a lease long enough that no heartbeat comes too late on a loaded machine (a lost lease
    # requeues the job): tests of expiry set a short one (the `lease_s` marker of `live`); the
    # reference data folder is pytest's base folder (MAI_SERVER_REFERENCE_ROOT, tests/conftest.py)
    opts = dict(lease_s=30.0, reap_every_s=0.3, claim_wait_s=2.0, preflight_timeout_s=120.0)
    opts.update(settings)
    live = _serve(create_app(Settings(data_dir=tmp, db_url=db_url, **opts)))
    _accounts(live)
    return live


def _serve(app) -> Live:
    import uvicorn

    # the socket is bound here and handed over, so no other test process (pytest-xdist's other
    # worker, another run) can take the port between choosing it and listening on it
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", proxy_headers=False))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    wait_for(lambda: server.started, 60, what="server start")
    live = Live(app, f"http://127.0.0.1:{port}", server, thread)
    live._workers = []
    return live


def second_server(live: Live, **settings) -> Live:
    """Another server (its own app, caches and clock: a second process as far as the platform
    can tell) on ``live``'s database and data folder, with the same accounts; stop it with
    :func:`stop_live`."""
    from maikit.server.app import create_app

    opts = live.platform.settings.model_dump()
    opts.update(settings)
    other = _serve(create_app(type(live.platform.settings)(**opts), run_migrations=False))
    other.tokens = dict(live.tokens)
    return other


def web_sign_in(http: httpx.Client, username: str, password: str, next: str = "/") -> httpx.Response:
    """Sign in through the form as a browser does (``http`` keeps the cookies): the answer."""
    import re

    form = http.get("/signin")
    csrf = re.search(r'name="csrf" value="([^"]+)"', form.text).group(1)
    return http.post("/signin", data={"csrf": csrf, "username": username, "password": password, "next": next})


def _reset_postgres(url: str) -> None:
    """Empty the session database (each Live server starts from a new schema)."""
    from sqlalchemy import create_engine, text

    eng = create_engine(url)
    with eng.begin() as c:
        c.execute(text("DROP SCHEMA public CASCADE"))
        c.execute(text("CREATE SCHEMA public"))
    eng.dispose()


def _accounts(live: Live) -> None:
    from maikit.server.services.users import create_user, issue_user_token, issue_worker_token

    p = live.platform
    with p.db.write() as s, s.begin():
        org = create_user(s, username="organiser", role="organiser", password="org-pass", team=None, now=p.now())
        live.tokens["organiser"] = issue_user_token(s, org, p.now())
        for name in ("alice", "bob"):
            u = create_user(s, username=name, role="participant", password=None, team=None, now=p.now())
            live.tokens[name] = issue_user_token(s, u, p.now())
        live.tokens["worker"] = issue_worker_token(s, "*", p.now())


def stop_live(live: Live) -> None:
    for w, _t in live._workers:
        w.stop.set()
    for _w, t in live._workers:
        t.join(timeout=60)
    live.server.should_exit = True
    live.thread.join(timeout=30)
    live.http.close()


@pytest.fixture
def live(engine_name, tmp_path, request):
    url = request.getfixturevalue("pg_database") if engine_name == "postgresql" else None
    mark = request.node.get_closest_marker("lease_s")
    lv = start_live(tmp_path, url, **({"lease_s": float(mark.args[0])} if mark else {}))
    yield lv
    stop_live(lv)


@pytest.fixture(scope="session")
def hostile_models(tmp_path_factory):
    """Dynamic-shape ISP files that are valid but hostile at the latency shape (1x544x960x4):
    ``slow`` (~80 GMAC per run) and ``hungry`` (two 256-channel float tensors, ~1 GB)."""
    import torch
    import torch.nn as nn

    from maikit.export import export_model

    class Net(nn.Module):
        def __init__(self, width: int, depth: int):
            super().__init__()
            torch.manual_seed(0)
            layers = [nn.Conv2d(4, width, 3, padding=1)] + [nn.Conv2d(width, width, 3, padding=1) for _ in range(depth)]
            self.body = nn.Sequential(*layers)
            self.head = nn.Conv2d(width, 12, 3, padding=1)
            self.shuffle = nn.PixelShuffle(2)

        def forward(self, x):
            return torch.sigmoid(self.shuffle(self.head(self.body(x))))

    def build(root: Path) -> None:
        export_model(Net(64, 4).eval(), root / "slow", task=ISP, input_hw=(16, 16))
        export_model(Net(256, 1).eval(), root / "hungry", task=ISP, input_hw=(16, 16))

    root = build_once(tmp_path_factory, "hostile-models", build)  # once per run, not once per xdist worker
    return {"slow": root / "slow" / "model_none.tflite", "hungry": root / "hungry" / "model_none.tflite"}


def submission_rows(live: Live, slug: str, phase: str = "validation") -> dict[str, int]:
    """How many submission rows the phase holds, by status: every row, with none of the quota's
    own rules about what counts (so a test of the quota does not check it against itself)."""
    from sqlalchemy import func, select

    from maikit.server.db.models import Challenge, Phase, Submission

    with live.platform.db.read() as s:
        rows = s.execute(select(Submission.status, func.count()).join(Phase).join(Challenge).where(
            Challenge.slug == slug, Phase.slug == phase).group_by(Submission.status)).all()
    return {status: n for status, n in rows}


def queued_submissions(live, slug: str, n: int, max_attempts: int = 3) -> list[int]:
    """``n`` accepted submissions of alice in ``slug``'s validation phase, written straight into
    the database with their jobs queued (for tests whose subject is the results, not the uploads)."""
    from sqlalchemy import select

    from maikit.server.challenge import ChallengeDef
    from maikit.server.db.models import Challenge, Phase, Submission, User
    from maikit.server.jobs.pipeline import create_jobs

    p = live.platform
    with p.db.write() as s, s.begin():
        c = s.execute(select(Challenge).where(Challenge.slug == slug)).scalar_one()
        ph = s.execute(select(Phase).where(Phase.challenge_id == c.id, Phase.slug == "validation")).scalar_one()
        alice = s.execute(select(User).where(User.username == "alice")).scalar_one()
        ids = []
        for _ in range(n):
            sub = Submission(phase_id=ph.id, user_id=alice.id, owner_key=f"u{alice.id}", status="Submitted",
                             counts_quota=True, runtime_sha256="0" * 64, fidelity_sha256="0" * 64, created_at=p.now())
            s.add(sub)
            s.flush()
            create_jobs(s, sub, ChallengeDef.model_validate(c.definition), now=p.now(), max_attempts=max_attempts)
            ids.append(sub.id)
    return ids


def running_on(live, name: str):
    """The id of a job worker ``name`` holds and whose child it has started (its attempt line is
    logged), or None."""
    from sqlalchemy import select

    from maikit.server.db.models import Job, JobLog, Worker

    with live.platform.db.read() as s:
        for job, in s.execute(select(Job).join(Worker, Job.worker_id == Worker.id)
                              .where(Job.status == "leased", Worker.name == name)):
            texts = s.execute(select(JobLog.text).where(JobLog.job_id == job.id, JobLog.attempt == job.attempt)).scalars()
            if any(f"worker {name} attempt {job.attempt}" in t for t in texts):
                return job.id
    return None
