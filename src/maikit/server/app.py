"""The FastAPI application: ``create_app(settings)`` wires the database, the file store,
the clock, the routers, the pages, the one error handler (the platform's refusals and HTTP
errors: JSON under ``/api``, the error page elsewhere) and the lease reaper (which starts after
every lease got one lease from the server's start, :func:`~maikit.server.services.jobs.resume_leases`;
it also repairs submissions whose status contradicts their jobs and fails those whose job no
worker could take within the phase's ``worker_wait_limit_s``, every ``repair_every_s``)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler, request_validation_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from maikit import __version__
from maikit.errors import first_line
from maikit.server.api.bodies import BodyLimits, route_limits
from maikit.server.api.credentials import CredentialsFirst
from maikit.server.api.errors import database_error, headers_of, status_of
from maikit.server.api.routes import bundles, challenges, health, jobs, leaderboard, submissions, users, workers
from maikit.server.core.config import Settings
from maikit.server.db.faults import DATABASE_ERRORS, database_away
from maikit.server.db.session import open_database
from maikit.server.errors import ServiceError
from maikit.server.services.jobs import fail_unserved, reap_once, repair_once, resume_leases
from maikit.server.state import Platform
from maikit.server.store import FileStore
from maikit.server.web import mount
from maikit.server.web.render import error_page

log = logging.getLogger("maikit.server")


def _for_pages(request: Request) -> bool:
    path = request.url.path
    return not (path.startswith("/api") or path.startswith("/static"))


async def _refused(request: Request, exc: ServiceError):
    """A service's refusal: its status from :data:`maikit.server.api.errors.STATUS`."""
    if _for_pages(request):
        return error_page(request, status_of(exc), exc.reason)
    return JSONResponse({"detail": exc.reason}, status_code=status_of(exc), headers=headers_of(exc))


async def _database_error(request: Request, exc: Exception):
    """A database error: the database away (503, Retry-After) or a value it cannot hold (422),
    answered as the platform's refusals are (:func:`maikit.server.api.errors.database_error`);
    anything else is the bug it is (500, logged with its traceback)."""
    refusal = database_error(exc, request.app.state.platform)
    if refusal is None:
        log.error("%s %s", request.method, request.url.path, exc_info=exc)
        if _for_pages(request):
            return error_page(request, 500, "Internal server error")
        return JSONResponse({"detail": "Internal Server Error"}, status_code=500)
    return await _refused(request, refusal)


async def _http_error(request: Request, exc: HTTPException):
    """FastAPI's own (no such route, method not allowed): the API keeps its JSON errors,
    pages get the error page with the same status."""
    if _for_pages(request):
        return error_page(request, exc.status_code, str(exc.detail))
    return await http_exception_handler(request, exc)


async def _invalid_request(request: Request, exc: RequestValidationError):
    """A request FastAPI could not read (a path id past the database's, a field too long):
    the API keeps FastAPI's 422 (each field and why); a page gets the error page with the first
    field and its reason."""
    if _for_pages(request):
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(x) for x in first.get("loc", ())[1:]) or "request"
        return error_page(request, 422, f"{where}: {first.get('msg', 'invalid')}")
    return await request_validation_exception_handler(request, exc)


def create_app(settings: Settings | None = None, *, run_migrations: bool | None = None, migrate_empty: bool = False) -> FastAPI:
    """The app on a database of this code's schema
    (:func:`~maikit.server.db.session.open_database`: SQLite is migrated on start)."""
    settings = settings or Settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    db = open_database(settings.database_url, run_migrations=run_migrations, migrate_empty=migrate_empty)
    platform = Platform(settings, db, FileStore(settings.files_dir))

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        async def reaper():
            repaired_at = None  # the first round repairs too
            while True:
                await asyncio.sleep(settings.reap_every_s)
                try:
                    await run_in_threadpool(reap_once, platform)
                    if repaired_at is None or time.monotonic() - repaired_at >= settings.repair_every_s:
                        await run_in_threadpool(repair_once, platform)
                        await run_in_threadpool(fail_unserved, platform)
                        repaired_at = time.monotonic()
                except Exception as e:  # the database may be away: try again next round
                    if not database_away(e):
                        log.exception("lease reaper")
                    elif platform.database_down():  # one line per outage, not a traceback a round
                        log.warning("database unreachable (%s); leases are kept until it has been back for "
                                    "one lease (%g s)", first_line(getattr(e, 'orig', None) or e), settings.lease_s)

        from maikit.scoring.intervals import warm_up

        threading.Thread(target=warm_up, name="warm-up scipy", daemon=True).start()  # (scoring imports it otherwise)
        try:
            await run_in_threadpool(resume_leases, platform)  # before the reaper's first round
        except Exception as e:  # the database may be away: the reaper resumes the leases once it is back
            if not database_away(e):
                log.exception("resuming leases on start")
            platform.database_down()
        task = asyncio.create_task(reaper())
        try:
            yield
        finally:
            task.cancel()
            platform.close()

    app = FastAPI(title="maikit challenge platform", version=__version__, lifespan=lifespan,
                  description="Challenges, phases, submissions, the job queue of the workers, leaderboards.")
    app.state.platform = platform
    routers = [mod.router for mod in (health, users, challenges, submissions, leaderboard, workers, jobs, bundles)]
    for router in routers:
        app.include_router(router)
    mount(app)
    app.add_middleware(BodyLimits, routes=route_limits(settings), default=settings.body_kb * 1000)
    app.add_middleware(CredentialsFirst, routers=routers)  # outside the limits: a junk token is 401, not 413
    if settings.trusted_proxies:  # outermost: every layer below sees the client's address and scheme
        app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=settings.trusted_proxies)
    app.add_exception_handler(ServiceError, _refused)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _invalid_request)
    for cls in DATABASE_ERRORS:
        app.add_exception_handler(cls, _database_error)
    return app
