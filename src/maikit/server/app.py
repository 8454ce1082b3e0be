"""The FastAPI application: ``create_app(settings)`` wires the database, the file store,
the clock, the routers and the lease reaper (which starts after every lease got one lease
from the server's start, :func:`resume_leases`)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import threading
from dataclasses import dataclass, field

import anyio
import anyio.to_thread
from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool

from maikit import __version__
from maikit.server.core.clock import Clock
from maikit.server.core.config import Settings
from maikit.server.db.session import Database, migrate
from maikit.server.leaderboard import BoardCache
from maikit.server.store import FileStore

log = logging.getLogger("maikit.server")


@dataclass
class Platform:
    """What every request needs; ``app.state.platform``."""

    settings: Settings
    db: Database
    store: FileStore
    clock: Clock = field(default_factory=Clock)
    preflight_slots: threading.BoundedSemaphore = field(init=False)
    upload_threads: anyio.CapacityLimiter = field(init=False)
    boards: BoardCache = field(init=False)
    # preflight children forked from one warm process (None: each a fresh interpreter)
    zygote: object | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        n = self.settings.preflight_concurrency or (os.cpu_count() or 1)
        self.preflight_slots = threading.BoundedSemaphore(n)
        self.upload_threads = anyio.CapacityLimiter(n)
        self.boards = BoardCache(self.db, self.clock, self.settings.leaderboard_fresh_s)
        if self.settings.preflight_zygote:
            from maikit.worker.zygote import Zygote

            self.zygote = Zygote()

    def sandbox(self, func: str, kwargs: dict, limits):
        """Run a sandboxed stage (the preflight) in a child forked from the zygote, else in a
        fresh one (:mod:`maikit.worker.zygote`)."""
        from maikit.worker.sandbox import run_sandboxed

        return (self.zygote.run if self.zygote is not None else run_sandboxed)(func, kwargs, limits)

    def now(self):
        return self.clock.now()

    async def run_upload(self, fn, *args):
        """``fn(*args)`` (an upload's preflight and bookkeeping) in a thread of its own pool,
        as many at once as there are preflight slots: uploads waiting their turn wait in the
        event loop, not in threads of the shared pool that every other request needs."""
        return await anyio.to_thread.run_sync(fn, *args, limiter=self.upload_threads)


def reap_once(p: Platform) -> int:
    from maikit.server.jobs.pipeline import reap

    with p.db.write() as s, s.begin():
        return reap(s, p.now())


def resume_leases(p: Platform) -> int:
    """The server starts: leases that were current when it stopped run one lease from now."""
    from maikit.server.jobs.queue import resume

    with p.db.write() as s, s.begin():
        n = resume(s, now=p.now(), lease_s=p.settings.lease_s)
    if n:
        log.info("server start: %d leased job(s) get %g s for their workers to come back", n, p.settings.lease_s)
    return n


def create_app(settings: Settings | None = None, *, run_migrations: bool | None = None) -> FastAPI:
    """The app; SQLite databases are migrated on start (PostgreSQL: ``mai server migrate``)."""
    settings = settings or Settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    db = Database(settings.database_url)
    if run_migrations or (run_migrations is None and db.dialect == "sqlite"):
        migrate(settings.database_url, db.engine)
    platform = Platform(settings, db, FileStore(settings.files_dir))

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        async def reaper():
            while True:
                await asyncio.sleep(settings.reap_every_s)
                try:
                    await run_in_threadpool(reap_once, platform)
                except Exception:  # the database may be briefly unavailable; try again next round
                    log.exception("lease reaper")

        try:
            await run_in_threadpool(resume_leases, platform)  # before the reaper's first round
        except Exception:  # the database may be briefly unavailable; the reaper will tell
            log.exception("resuming leases on start")
        task = asyncio.create_task(reaper())
        try:
            yield
        finally:
            task.cancel()
            if platform.zygote is not None:
                platform.zygote.close()
            db.dispose()

    app = FastAPI(title="maikit challenge platform", version=__version__, lifespan=lifespan,
                  description="Challenges, phases, submissions, the job queue of the workers, leaderboards.")
    app.state.platform = platform
    from maikit.server.api.routes import challenges, health, jobs, leaderboard, submissions, users, workers

    for mod in (health, users, challenges, submissions, leaderboard, workers, jobs):
        app.include_router(mod.router)
    from maikit.server.web import mount

    mount(app)
    return app
