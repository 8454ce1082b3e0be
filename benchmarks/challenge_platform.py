"""Challenge platform benchmarks, on loopback, against SQLite and PostgreSQL.

1. feedback: an upload of ``isp/smallnet`` (random weights, the demo's export) until Finished,
   split into preflight (the upload request), queue wait, fidelity, runtime and scoring (from
   the jobs' timestamps); "overhead" is everything but the two sandboxed evaluations; the
   worker is ``mai serve``'s in-process one (runtime with drift control; set
   MAI_SERVER_DRIFT_CONTROL=false for the sandboxed ``maikit.eval`` runtime without it);
2. load: C concurrent clients for S seconds (leaderboard reads, status reads, uploads in the
   proportion 80/15/5) with N finished submissions in the database: errors, requests/s,
   p50/p99 per endpoint;
3. queue (PostgreSQL): W workers claiming no-op jobs through the API of two server processes
   on one database: claims per second and double claims;
4. cost (not run unless named): the server process's own CPU time per request, R requests one
   at a time (leaderboard, leaderboard with If-None-Match, status) with N submissions in the
   database; unlike latency it hardly moves with other jobs on the machine.

Usage: python benchmarks/challenge_platform.py [--engines sqlite,postgresql] [--parts feedback,load,queue]
       [--clients 50] [--seconds 60] [--submissions 10000] [--queue-jobs 400] [--workers 8]
       [--preflight-concurrency N]   (the load part's server; default: the server's own default)
       [--cost-requests 300]
PostgreSQL from MAI_TEST_POSTGRES (default postgresql+psycopg://postgres@127.0.0.1:5432/test);
each run makes its own database and drops it.
"""

from __future__ import annotations

import sys
from pathlib import Path

import argparse
import asyncio
import gc
import json
import os
import random
import signal
import socket
import subprocess
import tempfile
import threading
import time
import uuid
from datetime import timedelta

import httpx
import numpy as np

PG = os.environ.get("MAI_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
PROTOCOL = {"device": "litert-cpu", "target": "cpu", "threads": 2, "warmup_runs": 1, "warmup_seconds": 0.0,
            "min_runs": 10, "min_seconds": 0.0, "max_seconds": 60.0}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PgDatabase:
    def __enter__(self) -> str:
        import psycopg

        self.base = PG.replace("postgresql+psycopg://", "postgresql://")
        self.name = f"mai_bench_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(self.base, autocommit=True) as c:
            c.execute(f'CREATE DATABASE "{self.name}"')
        return PG.rsplit("/", 1)[0] + "/" + self.name

    def __exit__(self, *exc) -> None:
        import psycopg

        with psycopg.connect(self.base, autocommit=True) as c:
            c.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')


def start_server(data_dir: Path, db_url: str | None):
    """uvicorn in a thread of this process; (url, platform, server)."""
    import uvicorn

    from maikit.server.app import create_app
    from maikit.server.core.config import Settings

    app = create_app(Settings(data_dir=data_dir, db_url=db_url), run_migrations=True)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False))
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    return f"http://127.0.0.1:{port}", app.state.platform, server


def accounts(platform, n_users: int = 2) -> dict:
    from maikit.server.services.users import create_user, issue_user_token, issue_worker_token

    tokens = {"users": []}
    with platform.db.write() as s, s.begin():
        org = create_user(s, username="organiser", role="organiser", password=None, team=None, now=platform.now())
        tokens["organiser"] = issue_user_token(s, org, platform.now())
        for i in range(n_users):
            u = create_user(s, username=f"user{i:04d}", role="participant", password=None, team=None, now=platform.now())
            tokens["users"].append((u.id, issue_user_token(s, u, platform.now())))
        tokens["worker"] = issue_worker_token(s, "*", platform.now())
    return tokens


def challenge(url: str, token: str, slug: str, split: str, per_day: int = 1000) -> None:
    from maikit.server.core.clock import utcnow

    now = utcnow()
    d = {"slug": slug, "title": slug, "task": "isp", "data": {"validation": split, "test": split}, "protocol": PROTOCOL,
         "phases": [{"slug": "validation", "kind": "validation", "start": (now - timedelta(days=1)).isoformat(),
                     "end": (now + timedelta(days=30)).isoformat(), "max_submissions_per_day": per_day,
                     "max_failed_per_day": per_day}]}
    r = httpx.post(f"{url}/api/challenges", json=d, headers={"Authorization": f"Bearer {token}"}, timeout=60)
    r.raise_for_status()


def demo_assets(root: Path) -> tuple[Path, Path]:
    """(smallnet export folder, validation split) made once under ``root``."""
    from maikit.data.synth_isp import synth_isp
    from maikit.server.demo import export_demo_model

    model = export_demo_model(root / "smallnet")
    if not (root / "isp" / "val").is_dir():
        synth_isp(root / "isp", 6, seed=0, val_fraction=0.34, patch=176)
    return model, root / "isp" / "val"


# --------------------------------------------------------------------------------------
def bench_feedback(engine: str, db_url: str | None, assets: Path, repeats: int = 3) -> dict:
    from sqlalchemy import select

    from maikit.server.db.models import Job, Submission
    from maikit.server.serve import ensure_calibration, in_process_worker

    model, split = demo_assets(assets)
    with tempfile.TemporaryDirectory() as tmp:
        url, platform, server = start_server(Path(tmp), db_url)
        tokens = accounts(platform)
        challenge(url, tokens["organiser"], "fb", str(split))
        stop = threading.Event()
        # the worker `mai serve` runs in-process (drift control unless MAI_SERVER_DRIFT_CONTROL=false);
        # its one-time calibration is not part of any submission's feedback
        ensure_calibration(platform.settings, announce=lambda m: print(m, file=sys.stderr))
        w = in_process_worker(platform.settings, url, tokens["worker"], "bench", stop)
        threading.Thread(target=w.run, daemon=True).start()
        auth = {"Authorization": f"Bearer {tokens['users'][0][1]}"}
        rows = []
        for _ in range(repeats):
            files = {"file": ("m", (model / "model.tflite").read_bytes()), "fidelity_file": ("f", (model / "model_none.tflite").read_bytes())}
            t0 = time.perf_counter()
            r = httpx.post(f"{url}/api/challenges/fb/phases/validation/submissions", files=files, headers=auth, timeout=300)
            t_pre = time.perf_counter() - t0
            sid = r.json()["id"]
            while httpx.get(f"{url}/api/submissions/{sid}", headers=auth, timeout=60).json()["status"] not in ("Finished", "Failed"):
                time.sleep(0.05)
            total = time.perf_counter() - t0
            with platform.db.read() as s:
                sub = s.get(Submission, sid)
                jobs = {j.role: j for j in s.execute(select(Job).where(Job.submission_id == sid)).scalars()}
                first_start = min(j.started_at for j in jobs.values())
                last_end = max(j.finished_at for j in jobs.values())
                fid = (jobs["fidelity"].finished_at - jobs["fidelity"].started_at).total_seconds()
                run = (jobs["runtime"].finished_at - jobs["runtime"].started_at).total_seconds()
                rows.append({"status": sub.status, "preflight_s": t_pre,
                             "queue_wait_s": (first_start - min(j.created_at for j in jobs.values())).total_seconds(),
                             "fidelity_job_s": fid, "runtime_job_s": run,
                             "scoring_s": (sub.finished_at - last_end).total_seconds(),
                             "runtime_ms": sub.runtime_ms, "client_total_s": total,
                             "drift_attempts": len(((jobs["runtime"].result or {}).get("drift") or {}).get("attempts") or []),
                             "between_jobs_s": max(0.0, (last_end - first_start).total_seconds() - fid - run)})
        stop.set()
        server.should_exit = True
    med = {k: float(np.median([r[k] for r in rows])) for k in rows[0] if k != "status"}
    med["overhead_s"] = med["client_total_s"] - med["fidelity_job_s"] - med["runtime_job_s"] - med["preflight_s"]
    return {"engine": engine, "repeats": repeats, "statuses": [r["status"] for r in rows], "median": med,
            "rows": [{k: (round(v, 3) if isinstance(v, float) else v) for k, v in r.items()} for r in rows]}


# --------------------------------------------------------------------------------------
def seed(platform, phase_id: int, user_ids: list[int], n: int) -> None:
    from sqlalchemy import insert

    from maikit.server.db.models import Submission

    rng = random.Random(0)
    now = platform.now()
    rows = []
    for i in range(n):
        uid = user_ids[i % len(user_ids)]
        psnr = rng.uniform(18, 25)
        rt = rng.uniform(10, 200)
        rows.append(dict(phase_id=phase_id, user_id=uid, owner_key=f"u{uid}", status="Finished", counts_quota=True,
                         superseded=False, selected=False, size_bytes=25000, runtime_sha256="0" * 64, fidelity_sha256="0" * 64,
                         metrics={"psnr": psnr, "ssim": 0.9, "ms_ssim": 0.95, "runtime_ms": rt}, runtime_ms=rt,
                         score=2 ** (2 * psnr) / (0.1 * rt) / 1e12, created_at=now - timedelta(seconds=n - i), finished_at=now))
    with platform.db.write() as s, s.begin():
        for k in range(0, n, 2000):
            s.execute(insert(Submission), rows[k:k + 2000])


async def _client(http: httpx.AsyncClient, tokens: list, sub_ids: list[int], model_bytes: bytes, stop_at: float, stats: dict,
                  rng: random.Random):
    try:
        while time.perf_counter() < stop_at:
            uid, tok = rng.choice(tokens)
            x = rng.random()
            t0 = time.perf_counter()
            if x < 0.80:
                kind = "leaderboard"
                r = await http.get("/api/challenges/ld/phases/validation/leaderboard")
                ok = r.status_code == 200
            elif x < 0.95:
                kind = "status"
                r = await http.get(f"/api/submissions/{rng.choice(sub_ids[uid])}", headers={"Authorization": f"Bearer {tok}"})
                ok = r.status_code == 200
            else:
                kind = "upload"
                r = await http.post("/api/challenges/ld/phases/validation/submissions", headers={"Authorization": f"Bearer {tok}"},
                                    files={"file": ("m", model_bytes)})
                ok = r.status_code == 201
            stats.setdefault(kind, []).append((time.perf_counter() - t0, ok))
    finally:
        await http.aclose()


def serve_process(data_dir: str, db_url: str | None, preflight_concurrency: int | None = None) -> tuple[subprocess.Popen, str]:
    """``mai serve --workers 0`` in its own process (the load generator must not share its GIL)."""
    port = free_port()
    cmd = [sys.executable, "-m", "maikit", "serve", "--data-dir", data_dir, "--port", str(port), "--workers", "0"]
    if db_url:
        cmd += ["--db", db_url]
    # every simulated participant connects from 127.0.0.1: lift the per-address share of the
    # uploads (docs/security.md) so that the load is many participants, not one address; each
    # account still uploads one file at a time
    env = {**os.environ, "MAI_SERVER_UPLOADS_PER_ADDRESS": os.environ.get("MAI_SERVER_UPLOADS_PER_ADDRESS", "1000")}
    if preflight_concurrency:
        env["MAI_SERVER_PREFLIGHT_CONCURRENCY"] = str(preflight_concurrency)
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True, env=env)
    url = f"http://127.0.0.1:{port}"
    while True:
        try:
            if httpx.get(f"{url}/api/health", timeout=5).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            if proc.poll() is not None:
                raise RuntimeError("mai serve exited")
            time.sleep(0.2)


def bench_load(engine: str, db_url: str | None, assets: Path, clients: int, seconds: float, n_subs: int,
               preflight_concurrency: int | None = None) -> dict:
    from sqlalchemy import select

    from maikit.server.db.models import Phase, Submission

    model, split = demo_assets(assets)
    with tempfile.TemporaryDirectory() as tmp:
        url0, platform, server0 = start_server(Path(tmp), db_url)  # set-up only
        tokens = accounts(platform, n_users=200)
        challenge(url0, tokens["organiser"], "ld", str(split), per_day=100000)
        with platform.db.read() as s:
            phase_id = s.execute(select(Phase.id)).scalar_one()
        uids = [u for u, _ in tokens["users"]]
        seed(platform, phase_id, uids, n_subs)
        sub_ids: dict[int, list[int]] = {}
        with platform.db.read() as s:
            for sid, uid in s.execute(select(Submission.id, Submission.user_id)):
                sub_ids.setdefault(uid, []).append(sid)
        server0.should_exit = True
        proc, url = serve_process(tmp, db_url, preflight_concurrency)
        stats: dict = {}
        model_bytes = (model / "model.tflite").read_bytes()

        async def main():
            # the clients (each with its TLS context) and their connections are made before the
            # clock starts: made in the measured time, they would delay the first wave of
            # requests by a second or more and that would be counted as the server's latency
            https = [httpx.AsyncClient(base_url=url, timeout=120) for _ in range(clients)]
            await asyncio.gather(*[h.get("/api/health") for h in https])
            start = time.perf_counter()
            await asyncio.gather(*[_client(h, tokens["users"], sub_ids, model_bytes, start + seconds, stats, random.Random(i))
                                   for i, h in enumerate(https)])
            return start

        # the set-up left this process with PyTorch's and the set-up's many long-lived objects;
        # a full collection over them would pause all 50 clients at once, and the pause would
        # be counted as the server's latency: they are kept out of collection
        gc.collect()
        gc.freeze()

        try:
            t0 = asyncio.run(main())
            wall = time.perf_counter() - t0
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait()
    out = {"engine": engine, "clients": clients, "seconds": round(wall, 1), "submissions_in_db": n_subs,
           "preflight_concurrency": preflight_concurrency or "default", "load_average": os.getloadavg(), "endpoints": {}}
    for kind, xs in stats.items():
        lat = np.array([t for t, _ in xs]) * 1000
        out["endpoints"][kind] = {"requests": len(xs), "errors": sum(1 for _, ok in xs if not ok),
                                  "per_s": round(len(xs) / wall, 1), "p50_ms": round(float(np.percentile(lat, 50)), 1),
                                  "p99_ms": round(float(np.percentile(lat, 99)), 1)}
    return out


# --------------------------------------------------------------------------------------
def _cpu_s(pid: int) -> float:
    """A process's user + system CPU seconds so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def bench_cost(engine: str, db_url: str | None, n_requests: int, n_subs: int) -> dict:
    """The server's own CPU time per request, one request at a time (robust to other jobs on
    the machine, unlike latency): leaderboard, leaderboard with If-None-Match, status."""
    from sqlalchemy import select

    from maikit.server.db.models import Phase, Submission

    with tempfile.TemporaryDirectory() as tmp:
        split = Path(tmp) / "split"  # the phase's data is never read here
        split.mkdir()
        url0, platform, server0 = start_server(Path(tmp), db_url)  # set-up only
        tokens = accounts(platform, n_users=200)
        challenge(url0, tokens["organiser"], "ld", str(split), per_day=100000)
        with platform.db.read() as s:
            phase_id = s.execute(select(Phase.id)).scalar_one()
        seed(platform, phase_id, [u for u, _ in tokens["users"]], n_subs)
        with platform.db.read() as s:
            subs = list(s.execute(select(Submission.id, Submission.user_id)))
        server0.should_exit = True
        by_user = dict(tokens["users"])
        proc, url = serve_process(tmp, db_url)
        board = "/api/challenges/ld/phases/validation/leaderboard"
        rng = random.Random(0)
        out = {"engine": engine, "part": "cost", "requests": n_requests, "submissions_in_db": n_subs, "endpoints": {}}
        try:
            with httpx.Client(base_url=url, timeout=60) as http:
                for _ in range(20):
                    etag = http.get(board).headers.get("etag") or '"none"'
                for kind in ("leaderboard", "leaderboard_if_none_match", "status"):
                    c0, t0 = _cpu_s(proc.pid), time.perf_counter()
                    for _ in range(n_requests):
                        if kind == "leaderboard":
                            r = http.get(board)
                        elif kind == "leaderboard_if_none_match":
                            r = http.get(board, headers={"If-None-Match": etag})
                        else:
                            sid, uid = rng.choice(subs)
                            r = http.get(f"/api/submissions/{sid}", headers={"Authorization": f"Bearer {by_user[uid]}"})
                        if r.status_code not in (200, 304):
                            raise RuntimeError(f"{kind}: HTTP {r.status_code}")
                    c1, t1 = _cpu_s(proc.pid), time.perf_counter()
                    out["endpoints"][kind] = {"server_cpu_ms": round(1000 * (c1 - c0) / n_requests, 2),
                                              "wall_ms": round(1000 * (t1 - t0) / n_requests, 2),
                                              "http_status": r.status_code, "bytes": len(r.content)}
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait()
    out["load_average"] = os.getloadavg()
    return out


# --------------------------------------------------------------------------------------
def bench_queue(db_url: str, assets: Path, n_jobs: int, n_workers: int) -> dict:
    from sqlalchemy import insert, select

    from maikit.server.db.models import Job, Phase, Submission

    model, split = demo_assets(assets)
    with tempfile.TemporaryDirectory() as tmp:
        # accounts and the challenge through an in-process app, then two `mai serve` processes
        url0, platform, server0 = start_server(Path(tmp), db_url)
        tokens = accounts(platform)
        challenge(url0, tokens["organiser"], "qu", str(split))
        with platform.db.write() as s, s.begin():
            phase_id = s.execute(select(Phase.id)).scalar_one()
            now = platform.now()
            sub = Submission(phase_id=phase_id, user_id=tokens["users"][0][0], owner_key="u1", status="Queued", created_at=now)
            s.add(sub)
            s.flush()
            s.execute(insert(Job), [dict(submission_id=sub.id, role="noop", status="queued", attempt=0, max_attempts=3,
                                         created_at=now) for _ in range(n_jobs)])
        server0.should_exit = True
        procs, urls = [], []
        for _ in range(2):
            port = free_port()
            procs.append(subprocess.Popen([sys.executable, "-m", "maikit", "serve", "--data-dir", tmp, "--db", db_url,
                                           "--port", str(port), "--workers", "0"], stdout=subprocess.DEVNULL,
                                          stderr=subprocess.DEVNULL, start_new_session=True))
            urls.append(f"http://127.0.0.1:{port}")
        for u in urls:
            while True:
                try:
                    if httpx.get(f"{u}/api/health", timeout=5).status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.2)
        claimed: list[int] = []
        lock = threading.Lock()
        auth = {"Authorization": f"Bearer {tokens['worker']}"}

        def worker(i: int) -> None:
            with httpx.Client(base_url=urls[i % 2], timeout=60) as http:
                wid = http.post("/api/workers/register", headers=auth, json={"name": f"q{i}", "roles": ["noop"],
                                                                           "device_tag": "litert-cpu"}).json()["worker_id"]
                while True:
                    r = http.post("/api/workers/claim", headers=auth, json={"worker_id": wid, "wait_s": 0})
                    if r.status_code == 204:
                        return
                    job = r.json()
                    http.post(f"/api/jobs/{job['job_id']}/result", headers={"Authorization": f"Bearer {job['lease_token']}"},
                              json={"ok": True, "result": {"noop": True}}).raise_for_status()
                    with lock:
                        claimed.append(job["job_id"])

        threads = [threading.Thread(target=worker, args=(i,)) for i in range(n_workers)]
        t0 = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.perf_counter() - t0
        for p in procs:
            os.killpg(p.pid, signal.SIGTERM)
            p.wait()
    return {"engine": "postgresql", "servers": 2, "workers": n_workers, "jobs": n_jobs, "claimed": len(claimed),
            "double_claims": len(claimed) - len(set(claimed)), "claims_per_s": round(len(claimed) / wall, 1),
            "seconds": round(wall, 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--engines", default="sqlite,postgresql")
    ap.add_argument("--parts", default="feedback,load,queue")
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--submissions", type=int, default=10000)
    ap.add_argument("--queue-jobs", type=int, default=400)
    ap.add_argument("--workers", type=int, default=8)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--preflight-concurrency", type=int, default=None)
    ap.add_argument("--cost-requests", type=int, default=300)
    args = ap.parse_args()
    if args.preflight_concurrency is not None and args.preflight_concurrency <= 0:
        ap.error("--preflight-concurrency must be positive")
    for v, name in ((args.clients, "--clients"), (args.seconds, "--seconds"), (args.workers, "--workers"),
                    (args.cost_requests, "--cost-requests"),
                    (args.queue_jobs, "--queue-jobs"), (args.repeats, "--repeats")):
        if v <= 0:
            ap.error(f"{name} must be positive")
    engines = [e for e in args.engines.split(",") if e]
    parts = [p for p in args.parts.split(",") if p]
    if set(engines) - {"sqlite", "postgresql"} or set(parts) - {"feedback", "load", "queue", "cost"}:
        ap.error("engines: sqlite,postgresql; parts: feedback,load,queue,cost")
    assets = Path(tempfile.mkdtemp(prefix="mai-bench-assets-"))
    results = []
    for engine in engines:
        for part in parts:
            if part == "queue" and engine != "postgresql":
                continue
            with (PgDatabase() if engine == "postgresql" else _Null()) as db_url:
                if part == "feedback":
                    res = bench_feedback(engine, db_url, assets, args.repeats)
                elif part == "cost":
                    res = bench_cost(engine, db_url, args.cost_requests, args.submissions)
                elif part == "load":
                    res = bench_load(engine, db_url, assets, args.clients, args.seconds, args.submissions,
                                     args.preflight_concurrency)
                else:
                    res = bench_queue(db_url, assets, args.queue_jobs, args.workers)
            res["part"] = part
            print(json.dumps(res), flush=True)
            results.append(res)


class _Null:
    def __enter__(self):
        return None

    def __exit__(self, *exc):
        return None


if __name__ == "__main__":
    main()
