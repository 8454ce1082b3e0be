"""``mai serve --demo``: two small challenges on synthetic data, open now, with accounts.

Creates (once; a second start reuses them) under ``DATA_DIR/demo/``: ISP and depth
reference splits from :mod:`maikit.data`'s synthesis (validation and a separate hidden
test split), a random-weight ``isp/smallnet`` export to submit, the challenges
``demo-isp`` and ``demo-depth`` (Validation and Testing phases open from yesterday for 30
days, a short runtime protocol), an organiser, ``alice`` and ``bob`` with random passwords
(``mai serve --demo`` prints the organiser's sign-in), and ``DATA_DIR/demo-tokens.json``
(mode 0600) with their passwords, API tokens and a worker token. Once the server
answers, :func:`seed_demo` submits the exported smallnet through the normal upload pipeline
as two baseline teams (``carol``, ``dave``), so the demo's leaderboard and scatter are not
empty.
"""

from __future__ import annotations

import json
import os
from datetime import timedelta
from pathlib import Path

from sqlalchemy import select

from maikit.server.challenge import parse_challenge
from maikit.server.db.models import Challenge, User
from maikit.server.services.challenges import upsert_challenge
from maikit.server.core.security import hash_password
from maikit.server.services.users import create_user, issue_user_token, issue_worker_token, new_password

# short enough for instant feedback on a laptop; real challenges use the defaults
DEMO_PROTOCOL = {"device": "litert-cpu", "target": "cpu", "threads": 2, "warmup_runs": 1, "warmup_seconds": 0.0,
                 "min_runs": 5, "min_seconds": 0.0, "max_seconds": 30.0, "statistic": "avg"}


def _synth(root: Path) -> dict[str, dict[str, str]]:
    from maikit.data.synth_depth import SynthParams, synth_depth
    from maikit.data.synth_isp import synth_isp

    out: dict[str, dict[str, str]] = {"isp": {}, "depth": {}}
    for kind, seed in (("validation", 0), ("test", 1)):
        isp = root / f"isp-{kind}"
        if not (isp / "val").is_dir():
            # 176 px: room for the 5-scale MS-SSIM window; two held-out patches per split
            synth_isp(isp, 6, seed=seed, val_fraction=0.34, patch=176)
        out["isp"][kind] = str((isp / "val").resolve())
        depth = root / f"depth-{kind}"
        if not (depth / "val").is_dir():
            synth_depth(depth, 4, seed=seed, val_fraction=0.5, params=SynthParams(width=160, height=120))
        out["depth"][kind] = str((depth / "val").resolve())
    return out


def demo_definitions(data: dict[str, dict[str, str]], now) -> list[dict]:
    start, end = (now - timedelta(days=1)).isoformat(), (now + timedelta(days=30)).isoformat()
    defs = []
    for task, title in (("isp", "Learned smartphone ISP (demo)"), ("depth", "Monocular depth estimation (demo)")):
        defs.append({
            "slug": f"demo-{task}", "title": title, "task": task,
            "description": f"A demo of the {task} challenge on small synthetic data.",
            "data": data[task], "protocol": DEMO_PROTOCOL, "upload_cap_mb": 50,
            "phases": [
                {"slug": "validation", "title": "Validation", "kind": "validation", "start": start, "end": end,
                 "max_submissions_per_day": 20, "max_failed_per_day": 50, "execution_time_limit_s": 300},
                {"slug": "testing", "title": "Testing", "kind": "test", "start": start, "end": end,
                 "max_submissions_per_day": 3, "max_failed_per_day": 20, "execution_time_limit_s": 300},
            ]})
    return defs


def export_demo_model(dest: Path) -> Path:
    """A random-weight isp/smallnet export (model.tflite + model_none.tflite) to submit."""
    if not (dest / "model.tflite").is_file():
        from maikit.export import export_model
        from maikit.tasks import ISP

        export_model("isp/smallnet", dest, task=ISP)
    return dest


DEMO_ACCOUNTS = (("organiser", "organiser"), ("alice", "participant"), ("bob", "participant"))


def setup_demo(platform, *, export_model: bool = True) -> dict:
    """Create the demo once; returns the tokens and passwords (also in ``DATA_DIR/demo-tokens.json``,
    mode 0600). A demo made before its accounts had passwords gets them now."""
    data_dir = Path(platform.settings.data_dir)
    tokens_file = data_dir / "demo-tokens.json"
    root = data_dir / "demo"
    data = _synth(root / "data")
    if export_model:
        export_demo_model(root / "models" / "isp-smallnet")
    now = platform.now()
    with platform.db.read() as s:
        exists = s.execute(select(Challenge.id).where(Challenge.slug == "demo-isp")).first() is not None
    tokens = json.loads(tokens_file.read_text()) if exists and tokens_file.is_file() else None
    if tokens is not None and "passwords" in tokens:
        return tokens
    passwords = {name: new_password() for name, _role in DEMO_ACCOUNTS}
    hashes = {name: hash_password(pw) for name, pw in passwords.items()}  # argon2 outside any transaction
    with platform.db.write() as s, s.begin():
        if tokens is None:
            for d in demo_definitions(data, now):
                upsert_challenge(s, parse_challenge(d, "demo"), now)
            tokens = {"participants": {}}
        tokens["passwords"] = passwords
        for name, role in DEMO_ACCOUNTS:
            u = s.execute(select(User).where(User.username == name)).scalar_one_or_none()
            if u is None:
                u = create_user(s, username=name, role=role, password_hash=hashes[name], team=None, now=now)
                token = issue_user_token(s, u, now, "demo")
                if role == "organiser":
                    tokens["organiser"] = token
                else:
                    tokens["participants"][name] = token
            else:
                u.password_hash = hashes[name]
        if not tokens.get("worker"):
            tokens["worker"] = issue_worker_token(s, "*", now, "demo")
    fd = os.open(tokens_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(tokens, f, indent=2)
    return tokens


SEED_ACCOUNTS = (("carol", "Baseline A"), ("dave", "Baseline B"))
# (account, phase): two validation rows of the same file (same fidelity, their own runtimes)
# and one test-phase row for the organiser to publish
SEED_UPLOADS = (("carol", "validation"), ("dave", "validation"), ("carol", "testing"))


def seed_demo(platform, url: str) -> list[int]:
    """Submit the demo's smallnet export over HTTP (preflight, quota, jobs: nothing skipped),
    once per data folder; the new submissions' ids."""
    import httpx

    data_dir = Path(platform.settings.data_dir)
    marker = data_dir / "demo" / "seeded"
    model = data_dir / "demo" / "models" / "isp-smallnet"
    if marker.exists() or not (model / "model.tflite").is_file():
        return []
    now = platform.now()
    tokens = {}
    with platform.db.write() as s, s.begin():
        for name, team in SEED_ACCOUNTS:
            u = s.execute(select(User).where(User.username == name)).scalar_one_or_none()
            u = u or create_user(s, username=name, role="participant", password=None, team=team, now=now)
            tokens[name] = issue_user_token(s, u, now, "demo seed")
    files = {"file": ("model.tflite", (model / "model.tflite").read_bytes(), "application/octet-stream"),
             "fidelity_file": ("model_none.tflite", (model / "model_none.tflite").read_bytes(), "application/octet-stream")}
    ids = []
    with httpx.Client(base_url=url, timeout=600) as http:
        for name, phase in SEED_UPLOADS:
            r = http.post(f"/api/challenges/demo-isp/phases/{phase}/submissions", files=files,
                          data={"description": "isp/smallnet, random weights (demo baseline)"},
                          headers={"Authorization": f"Bearer {tokens[name]}"})
            r.raise_for_status()
            ids.append(r.json()["id"])
    marker.write_text(" ".join(map(str, ids)) + "\n")
    return ids
