"""Web pages for participants and organisers, served by the same FastAPI app as the API.

Server-rendered Jinja2 templates with a little progressive JavaScript (local times, live
status); every rule (quota, ranking, visibility, status changes) comes from the services the
API calls (:mod:`maikit.server.services`), and a refusal gets the API's status on the error
page (the handler is ``app.py``'s). ``mount(app)`` adds the pages, the static files and the
session cookie (signed, HttpOnly, SameSite=Lax) with a CSRF token checked on every form.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from starlette.middleware.sessions import SessionMiddleware

from maikit.server.web import accounts, organiser, pages
from maikit.server.web.session import SESSION_COOKIE, secret_key


def mount(app: FastAPI) -> None:
    platform = app.state.platform
    app.add_middleware(SessionMiddleware, secret_key=secret_key(platform.settings.data_dir), session_cookie=SESSION_COOKIE,
                       same_site="lax", https_only=False, max_age=14 * 24 * 3600)
    app.mount("/static", StaticFiles(directory=Path(__file__).parent / "static"), name="static")
    for mod in (accounts, pages, organiser):
        app.include_router(mod.router)
