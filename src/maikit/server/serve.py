"""``mai serve``: the server (uvicorn) plus N in-process workers on loopback HTTP."""

from __future__ import annotations

import logging
import threading
from typing import Callable

from maikit.server.core.config import Settings


def serve(settings: Settings, *, host: str = "127.0.0.1", port: int = 8000, workers: int = 1, demo: bool = False,
          announce: Callable[[str], None] = print) -> None:
    import uvicorn

    from maikit.server.app import create_app

    app = create_app(settings)
    platform = app.state.platform
    if demo:
        from maikit.server.demo import setup_demo

        setup_demo(platform)
        announce(f"demo tokens: {settings.data_dir / 'demo-tokens.json'}")
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False)
    server = uvicorn.Server(config)
    stop = threading.Event()
    threads = []
    url = f"http://{'127.0.0.1' if host in ('0.0.0.0', '::') else host}:{port}"
    if workers > 0:
        from maikit.server.api.routes.users import issue_worker_token
        from maikit.worker.loop import Worker

        with platform.db.write() as s, s.begin():
            token = issue_worker_token(s, "*", platform.now(), "in-process")
        for i in range(workers):
            w = Worker(url, token, name=f"local-{i}", roles=("fidelity", "runtime"), device_tag="litert-cpu",
                       wait_s=10.0, stop=stop)
            threads.append(threading.Thread(target=w.run, name=f"worker-{i}", daemon=True))

    def start_workers() -> None:
        while not server.started and not stop.is_set():
            stop.wait(0.05)
        for t in threads:
            t.start()
        announce(f"maikit platform on http://{host}:{port}  ({platform.db.dialect}, {len(threads)} in-process workers)")
        if demo and not stop.is_set():
            from maikit.server.demo import seed_demo

            try:
                seeded = seed_demo(platform, url)
                if seeded:
                    announce(f"demo: submitted the smallnet export as submissions {', '.join(map(str, seeded))}")
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
