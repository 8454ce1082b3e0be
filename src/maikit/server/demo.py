"""``mai serve --demo``: two small challenges on synthetic data, open now, with accounts and
trained baselines.

Creates (once; a second start reuses them) under ``DATA_DIR/demo/``: the baselines, ISP and
depth reference splits, the challenges ``demo-isp`` and ``demo-depth`` (Validation and Testing
phases open from yesterday for 30 days, a short runtime protocol), an organiser, ``alice`` and
``bob`` with random passwords (``mai serve --demo`` prints the organiser's sign-in), and
``DATA_DIR/demo-tokens.json`` (mode 0600) with their passwords, API tokens and a worker token.

The baselines are trained models, never random weights: the FP32 and INT8 exports of the
newest finished ``mai demo`` output (``--demo-from``, default ``demo_out``), copied to
``demo/models/{isp,depth}_{fp32,int8}`` with that demo's held-out split as the validation
phase's data; without one, a short training run first (:data:`maikit.demo.SHORT_TRAINING`).
Where they came from is in ``demo/models/baselines.json`` and on the challenge page. The
depth data is at the official 480x640, the size of the depth exports' fixed fidelity file.
Once the server answers, :func:`seed_demo` submits the exports through the normal upload
pipeline as two baseline teams (``carol``: FP32, ``dave``: INT8) to both challenges, so the
boards and scatters are not empty.
"""

from __future__ import annotations

import contextlib
import json
import os
from datetime import timedelta
from pathlib import Path
from typing import Callable, ContextManager

from sqlalchemy import select

from maikit.server.challenge import parse_challenge
from maikit.server.db.models import Challenge, User
from maikit.server.services.challenges import upsert_challenge
from maikit.server.core.security import hash_password
from maikit.server.services.users import create_user, issue_user_token, issue_worker_token, new_password

# short enough for instant feedback on a laptop; real challenges use the defaults
DEMO_PROTOCOL = {"device": "litert-cpu", "target": "cpu", "threads": 2, "warmup_runs": 1, "warmup_seconds": 0.0,
                 "min_runs": 5, "min_seconds": 0.0, "max_seconds": 30.0, "statistic": "avg"}


def _synth(root: Path, validation_from: dict[str, Path] | None = None) -> dict[str, dict[str, str]]:
    """The reference splits under ``root``: the validation splits copied from
    ``validation_from`` (task -> a split folder: the baselines' own held-out data) or
    synthesised, the test splits synthesised (hidden data of another seed). Depth at 480x640."""
    import shutil

    from maikit.data.synth_depth import synth_depth
    from maikit.data.synth_isp import synth_isp

    out: dict[str, dict[str, str]] = {"isp": {}, "depth": {}}
    for kind, seed in (("validation", 0), ("test", 1)):
        for task in ("isp", "depth"):
            folder = root / f"{task}-{kind}"
            if not (folder / "val").is_dir():
                source = (validation_from or {}).get(task) if kind == "validation" else None
                if source is not None:
                    shutil.copytree(source, folder / ".val.tmp", dirs_exist_ok=True)
                    (folder / ".val.tmp").rename(folder / "val")
                elif task == "isp":
                    # 176 px: room for the 5-scale MS-SSIM window; two held-out patches per split
                    synth_isp(folder, 6, seed=seed, val_fraction=0.34, patch=176)
                else:
                    # the official 480x640, the depth exports' fixed fidelity shape; two held-out scenes
                    synth_depth(folder, 4, seed=seed, val_fraction=0.5)
            out[task][kind] = str((folder / "val").resolve())
    return out


def demo_definitions(data: dict[str, dict[str, str]], now, baselines: dict | None = None) -> list[dict]:
    start, end = (now - timedelta(days=1)).isoformat(), (now + timedelta(days=30)).isoformat()
    defs = []
    for task, title in (("isp", "Learned smartphone ISP (demo)"), ("depth", "Monocular depth estimation (demo)")):
        about = baselines_text(baselines, task)
        defs.append({
            "slug": f"demo-{task}", "title": title, "task": task,
            "description": f"A demo of the {task} challenge on small synthetic data." + (f" {about}" if about else ""),
            "data": data[task], "protocol": DEMO_PROTOCOL, "upload_cap_mb": 50,
            "phases": [
                {"slug": "validation", "title": "Validation", "kind": "validation", "start": start, "end": end,
                 "max_submissions_per_day": 20, "max_failed_per_day": 50, "execution_time_limit_s": 300},
                {"slug": "testing", "title": "Testing", "kind": "test", "start": start, "end": end,
                 "max_submissions_per_day": 3, "max_failed_per_day": 20, "execution_time_limit_s": 300},
            ]})
    return defs


def export_demo_model(dest: Path) -> Path:
    """A random-weight isp/smallnet export (model.tflite + model_none.tflite): a file to time
    (the platform benchmark), never a demo baseline."""
    if not (dest / "model.tflite").is_file():
        from maikit.export import export_model
        from maikit.tasks import ISP

        export_model("isp/smallnet", dest, task=ISP)
    return dest


BASELINES = "baselines.json"  # demo/models/baselines.json: where the baselines came from


def baselines_text(info: dict | None, task: str) -> str:
    """One sentence for the challenge page: which trained models the baseline rows are."""
    if not info:
        return ""
    t = info["tasks"][task]
    how = ("by `mai demo`" if info["origin"] == "mai demo" else "by `mai serve --demo`'s short training run, "
           "for lack of a `mai demo` output")
    clock = " of CPU time" if t.get("clock") == "cpu" else ""
    return (f"The baseline rows (teams Baseline FP32 and Baseline INT8) are {t['model']} trained for "
            f"{t['minutes']:g} min{clock} {how} on synthetic data, exported FP32 and INT8: trained weights, not random ones.")


def ensure_baselines(root: Path, demo_from: Path | None, announce: Callable[[str], None] = print,
                     training: Callable[[], tuple[ContextManager, object]] | None = None) -> dict:
    """The demo's baselines in ``root/models`` (once): the exports of the newest finished demo
    under ``demo_from`` (or ``demo_from`` itself), else a short training run now. Returns the
    record written to ``root/models/baselines.json``. ``training`` gives (a context the short
    run goes in, the Rich console its progress goes to): the CLI keeps the converters' native
    log lines off the terminal that way."""
    import shutil

    from maikit.demo import PRECISIONS, SHORT_TRAINING, TASKS, DemoPlan, finished_demo, latest_demo, train_baselines

    models = root / "models"
    record = models / BASELINES
    if record.is_file():
        return json.loads(record.read_text())
    source = None
    if demo_from is not None:
        source = Path(demo_from) if finished_demo(Path(demo_from)) else latest_demo(demo_from)
    origin = "mai demo"
    if source is None:
        announce(f"demo: no finished `mai demo` output in {demo_from}: training the baselines now, {SHORT_TRAINING}")
        quiet, console = training() if training is not None else (contextlib.nullcontext(), None)
        with quiet:
            source = train_baselines(root / "baselines", DemoPlan.short(), console)
        origin = "short training"
    else:
        announce(f"demo: the baselines are the trained exports of {source}")
    summary = json.loads((source / "summary.json").read_text())
    staging = root / ".models.tmp"
    shutil.rmtree(staging, ignore_errors=True)
    for task in TASKS:
        for precision in PRECISIONS:
            shutil.copytree(source / "export" / f"{task}_{precision}", staging / f"{task}_{precision}")
    tasks = {}
    for task in TASKS:
        t = summary["tasks"][task]
        tasks[task] = {"model": t["model"], "minutes": round(float(t["train_minutes"]), 2),
                       "clock": t.get("train_clock", "wall"),
                       "validation": str((source / "data" / task / "val").resolve())}
    info = {"origin": origin, "source": str(Path(source).resolve()), "tasks": tasks}
    (staging / BASELINES).write_text(json.dumps(info, indent=2) + "\n")
    if models.exists():
        shutil.rmtree(models)
    staging.rename(models)
    return info


DEMO_ACCOUNTS = (("organiser", "organiser"), ("alice", "participant"), ("bob", "participant"))


def setup_demo(platform, *, export_model: bool = True, demo_from: Path | None = Path("demo_out"),
               announce: Callable[[str], None] = print,
               training: Callable[[], tuple[ContextManager, object]] | None = None) -> dict:
    """Create the demo once; returns the tokens and passwords (also in ``DATA_DIR/demo-tokens.json``,
    mode 0600). A demo made before its accounts had passwords gets them now. ``export_model``
    False: no baselines (the challenges and accounts only)."""
    data_dir = Path(platform.settings.data_dir)
    tokens_file = data_dir / "demo-tokens.json"
    root = data_dir / "demo"
    baselines = ensure_baselines(root, demo_from, announce, training) if export_model else None
    validation = {t: Path(b["validation"]) for t, b in baselines["tasks"].items()} if baselines else None
    data = _synth(root / "data", validation)
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
            for d in demo_definitions(data, now, baselines):
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


SEED_ACCOUNTS = (("carol", "Baseline FP32"), ("dave", "Baseline INT8"))
# (account, challenge, phase, export): per task the FP32 and INT8 exports on the validation
# board, and the FP32 one in the testing phase for the organiser to publish
SEED_UPLOADS = tuple((name, f"demo-{task}", phase, f"{task}_{precision}")
                     for task in ("isp", "depth")
                     for name, phase, precision in (("carol", "validation", "fp32"), ("dave", "validation", "int8"),
                                                    ("carol", "testing", "fp32")))


def seed_demo(platform, url: str) -> list[int]:
    """Submit the demo's trained exports over HTTP (preflight, quota, jobs: nothing skipped),
    once per data folder; the new submissions' ids (also in ``demo/seeded``, written last)."""
    import httpx

    data_dir = Path(platform.settings.data_dir)
    marker = data_dir / "demo" / "seeded"
    models = data_dir / "demo" / "models"
    if marker.exists() or not (models / BASELINES).is_file():
        return []
    info = json.loads((models / BASELINES).read_text())
    now = platform.now()
    tokens = {}
    with platform.db.write() as s, s.begin():
        for name, team in SEED_ACCOUNTS:
            u = s.execute(select(User).where(User.username == name)).scalar_one_or_none()
            u = u or create_user(s, username=name, role="participant", password=None, team=team, now=now)
            tokens[name] = issue_user_token(s, u, now, "demo seed")
    ids = []
    with httpx.Client(base_url=url, timeout=600) as http:
        for name, slug, phase, export in SEED_UPLOADS:
            folder = models / export
            task, precision = export.split("_")
            files = {"file": ("model.tflite", (folder / "model.tflite").read_bytes(), "application/octet-stream"),
                     "fidelity_file": ("model_none.tflite", (folder / "model_none.tflite").read_bytes(),
                                       "application/octet-stream")}
            t = info["tasks"][task]
            r = http.post(f"/api/challenges/{slug}/phases/{phase}/submissions", files=files,
                          data={"description": f"{t['model']} {precision.upper()}, trained {t['minutes']:g} min"
                                               f"{' of CPU time' if t.get('clock') == 'cpu' else ''} "
                                               f"({info['origin']}; demo baseline)"},
                          headers={"Authorization": f"Bearer {tokens[name]}"})
            r.raise_for_status()
            ids.append(r.json()["id"])
    tmp = marker.with_suffix(".tmp")
    tmp.write_text(" ".join(map(str, ids)) + "\n")
    tmp.rename(marker)
    return ids
