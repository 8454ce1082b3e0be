"""``mai serve``: the server (uvicorn) plus N in-process workers on loopback HTTP.

The in-process workers are ``mai worker --backend litert-cpu`` in threads: runtime jobs go
through the same :class:`~maikit.worker.device.DeviceRunner` (drift control against a
baseline calibrated on this machine at the first start, the repeat on drift or noise, one
runtime job at a time on the CPU, the device fingerprint, the per-op profile and the op
findings), and undelivered results wait in ``DATA_DIR/outbox`` across restarts. With
``drift_control`` off they measure as a worker without a backend does (``maikit.eval`` in
the worker sandbox, once, without the reference timings).
"""

from __future__ import annotations

import hashlib
import logging
import threading
from pathlib import Path
from typing import Callable

from maikit.server.core.config import Settings

DEVICE = "litert-cpu"  # the device tag (and backend) of the in-process workers

log = logging.getLogger("maikit.server")


def device_runner(settings: Settings):
    """An in-process worker's runner (one each: a runner holds the running job's child); None
    when drift control is off."""
    from maikit.runtime.drift import DriftPolicy
    from maikit.worker.device import DeviceRunner

    if not settings.drift_control:
        return None
    return DeviceRunner(DEVICE, device=DEVICE, state_dir=Path(settings.data_dir) / "devices",
                        policy=DriftPolicy(reference=settings.drift_reference))


def ensure_calibration(settings: Settings, announce: Callable[[str], None] = print) -> dict | None:
    """The baseline the in-process workers' drift control compares with: calibrated now (the
    reference timed ``drift_calibration_runs`` times) unless one for the same reference file
    exists. None when drift control is off or the calibration failed (logged: the workers then
    measure without it and their results say so)."""
    from maikit.errors import first_line
    from maikit.runtime.devices.reference import reference_model
    from maikit.runtime.drift import calibrate, load_baseline

    runner = device_runner(settings)
    if runner is None:
        return None
    path, ref = runner.baseline_path, settings.drift_reference
    try:
        sha = hashlib.sha256(reference_model(ref).read_bytes()).hexdigest()
        if path.is_file():
            b = load_baseline(path)
            if b.get("reference") == ref and b.get("reference_sha256") == sha:
                return b
        announce(f"calibrating drift control: the reference {ref} timed {settings.drift_calibration_runs} times "
                 f"on this machine (once; stored in {path})")
        b = calibrate(runner.backend, n=settings.drift_calibration_runs, reference=ref, store=path, device_name=DEVICE)
    except Exception as e:  # a broken reference or runtime: the workers still serve, and say so per job
        log.warning("drift control: no calibration (%s); runtime jobs are measured without it", first_line(e))
        return None
    if not b["stable"]:
        announce(f"warning: the reference's times spread {b['spread']:.0%} while calibrating: the machine was busy; "
                 f"delete {path} and restart on an idle machine")
    return b


def in_process_worker(settings: Settings, url: str, token: str, name: str, stop: threading.Event, wait_s: float = 10.0):
    from maikit.worker.loop import Worker

    # the device is this machine's CPU: checked once an hour, not every minute like a remote board
    return Worker(url, token, name=name, roles=("fidelity", "runtime"), device_tag=DEVICE, wait_s=wait_s, stop=stop,
                  device_runner=device_runner(settings), health_every_s=3600.0,
                  outbox=Path(settings.data_dir) / "outbox")


def serve(settings: Settings, *, host: str = "127.0.0.1", port: int = 8000, workers: int = 1, demo: bool = False,
          announce: Callable[[str], None] = print, demo_from: Path | None = Path("demo_out"),
          demo_training: Callable | None = None) -> None:
    import uvicorn

    from maikit.server.app import create_app
    from maikit.server.db.session import shown_url
    from maikit.server.services.users import has_organiser

    app = create_app(settings, migrate_empty=demo)  # the demo makes its own schema in an empty database
    platform = app.state.platform
    url = f"http://{'127.0.0.1' if host in ('0.0.0.0', '::') else host}:{port}"
    sign_in = None
    if demo:
        from maikit.server.demo import setup_demo

        tokens = setup_demo(platform, demo_from=demo_from, announce=announce, training=demo_training)
        sign_in = (f"demo sign-in: {url}/signin as organiser, password {tokens['passwords']['organiser']} "
                   f"(alice and bob: passwords and API tokens in {settings.data_dir / 'demo-tokens.json'})")
    elif not has_organiser(platform):
        where = f"--db {shown_url(settings.db_url)}" if settings.db_url else f"--data-dir {settings.data_dir}"
        sign_in = (f"no organiser account yet: create one with `mai server create-user NAME --organiser {where}` "
                   f"(it prints the password and an API token), then sign in at {url}/signin")
    # proxy headers are the app's to believe (the trusted_proxies setting), not uvicorn's
    # (which by default believes any client on 127.0.0.1)
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False, proxy_headers=False)
    server = uvicorn.Server(config)
    stop = threading.Event()
    threads = []
    if workers > 0:
        from maikit.server.services.users import add_worker_token

        token = add_worker_token(platform, "*", "in-process")
        for i in range(workers):
            w = in_process_worker(settings, url, token, f"local-{i}", stop)
            threads.append(threading.Thread(target=w.run, name=f"worker-{i}", daemon=True))

    def start_workers() -> None:
        while not server.started and not stop.is_set():
            stop.wait(0.05)
        if platform.zygote is not None:  # now, not at the first upload (else started there)
            platform.zygote.start()
        if threads:
            ensure_calibration(settings, announce)  # the API answers meanwhile; jobs wait in the queue
        for t in threads:
            t.start()
        n = len(threads)
        announce(f"maikit platform on http://{host}:{port}  ({platform.db.dialect}, {n} in-process worker{'s' if n != 1 else ''})")
        if sign_in:
            announce(sign_in)
        if demo and not stop.is_set():
            from maikit.server.demo import seed_demo

            try:
                seeded = seed_demo(platform, url)
                if seeded:
                    announce(f"demo: submitted the trained baselines (FP32 and INT8, both tasks) as submissions "
                             f"{', '.join(map(str, seeded))}")
            except Exception:  # the demo still serves; its leaderboard just starts empty
                logging.getLogger("maikit.server").exception("demo: seeding the leaderboard failed")

    threading.Thread(target=start_workers, daemon=True).start()
    logging.basicConfig(level=logging.WARNING)
    try:
        server.run()
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=15)
