"""Web pages for participants and organisers, served by the same FastAPI app as the API.

Server-rendered Jinja2 templates with a little progressive JavaScript (local times, live
status); every rule (quota, ranking, visibility, status changes) comes from the services the
API calls (:mod:`maikit.server.services`), and a refusal gets the API's status on the error
page (the handler is ``app.py``'s). ``mount(app)`` adds the pages, the static files and the
session cookie (an opaque token of a session kept on the server; HttpOnly, SameSite=Lax,
Secure over HTTPS) with a CSRF token checked on every form (:mod:`~maikit.server.web.session`).
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from maikit.server.web import accounts, bundles, organiser, pages
from maikit.server.web.session import SessionCookies, secret_key


def mount(app: FastAPI) -> None:
    app.state.web_secret = secret_key(app.state.platform.settings.data_dir)
    app.add_middleware(SessionCookies)
    app.mount("/static", StaticFiles(directory=Path(__file__).parent / "static"), name="static")
    for mod in (accounts, pages, bundles, organiser):
        app.include_router(mod.router)
