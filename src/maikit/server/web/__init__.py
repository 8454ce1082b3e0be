"""Web pages for participants and organisers, served by the same FastAPI app as the API.

Server-rendered Jinja2 templates with a little progressive JavaScript (local times, live
status); every rule (quota, ranking, visibility, status changes) comes from the same
functions the API calls. ``mount(app)`` adds the pages, the static files and the session
cookie (signed, HttpOnly, SameSite=Lax) with a CSRF token checked on every form.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

HERE = Path(__file__).parent


def mount(app: FastAPI) -> None:
    from fastapi.exceptions import HTTPException as FastAPIHTTPException
    from fastapi.staticfiles import StaticFiles
    from starlette.exceptions import HTTPException
    from starlette.middleware.sessions import SessionMiddleware

    from maikit.server.web import accounts, organiser, pages
    from maikit.server.web.render import error_page
    from maikit.server.web.session import SESSION_COOKIE, secret_key

    platform = app.state.platform
    app.add_middleware(SessionMiddleware, secret_key=secret_key(platform.settings.data_dir), session_cookie=SESSION_COOKIE,
                       same_site="lax", https_only=False, max_age=14 * 24 * 3600)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    for mod in (accounts, pages, organiser):
        app.include_router(mod.router)

    from fastapi.exception_handlers import http_exception_handler

    async def handler(request, exc):
        # the API keeps its JSON errors; pages get an HTML page with the same status
        if request.url.path.startswith("/api") or request.url.path.startswith("/static"):
            return await http_exception_handler(request, exc)
        return error_page(request, exc.status_code, str(exc.detail))

    app.add_exception_handler(HTTPException, handler)
    app.add_exception_handler(FastAPIHTTPException, handler)
