"""Who is signed in (the session cookie) and the CSRF token of every form.

The session cookie (``mai_session``) carries only a random token; the session itself (the
user, its expiry) is kept on the server (:mod:`maikit.server.services.sessions`), so
signing out, a password change or a role change ends it for every copy of the cookie. The
cookie is HttpOnly, SameSite=Lax, and Secure when the page was served over HTTPS (directly,
or through a proxy the ``trusted_proxies`` setting believes).

Every form carries a CSRF token in a hidden field and a POST whose field does not match is
refused (403). The token is an HMAC, under the data folder's key (``DATA_DIR/web-secret``,
mode 0600, made once, so several server processes on one folder agree), of the session's
token for a signed-in browser, so it changes at sign-in; of a random value in a second
cookie (``mai_csrf``) for a visitor who is not signed in (the sign-in and sign-up forms).

:class:`SessionCookies` is the ASGI layer that adds the ``Set-Cookie`` headers the request
asked for (:func:`sign_in`, :func:`sign_out`, a visitor's first form) to whatever response
the route sends.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from http.cookies import SimpleCookie
from pathlib import Path

from fastapi import Request
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData

from maikit.server.db.models import User
from maikit.server.errors import Forbidden, Unauthorized
from maikit.server.services.sessions import end_session, session_user, start_session
from maikit.server.services.users import require_organiser

SESSION_COOKIE = "mai_session"
CSRF_COOKIE = "mai_csrf"
_STATE = "maikit.web"  # this request's session state in the ASGI scope


def secret_key(data_dir: str | os.PathLike) -> str:
    path = Path(data_dir) / "web-secret"
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        pass
    key = secrets.token_urlsafe(48)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process made it first
        return path.read_text().strip()
    with os.fdopen(fd, "w") as f:
        f.write(key)
    return key


def _state(request: Request) -> dict:
    return request.scope.setdefault(_STATE, {"cookies": []})


def _cookie(request: Request, name: str, value: str, max_age: int) -> None:
    """Queue a Set-Cookie for the response (max_age 0: delete it)."""
    c = SimpleCookie()
    c[name] = value
    c[name].update({"path": "/", "httponly": True, "samesite": "lax", "max-age": max_age})
    if request.url.scheme == "https":
        c[name]["secure"] = True
    _state(request)["cookies"].append(c.output(header="").strip())


def _hmac(request: Request, seed: str) -> str:
    key = request.app.state.web_secret.encode()
    return hmac.new(key, seed.encode(), hashlib.sha256).hexdigest()


def _session_token(request: Request) -> str | None:
    st = _state(request)
    return st["token"] if "token" in st else request.cookies.get(SESSION_COOKIE)


def current_user(request: Request) -> User | None:
    """The user of the browser's live session (looked up once per request), else None."""
    st = _state(request)
    if "user" not in st:
        token = _session_token(request)
        st["user"] = session_user(request.app.state.platform, token) if token else None
        if token and st["user"] is None:  # ended or expired: the browser may forget it
            st["token"] = None
            _cookie(request, SESSION_COOKIE, "", 0)
    return st["user"]


def _expected_csrf(request: Request, create: bool) -> str | None:
    if current_user(request) is not None:
        return _hmac(request, "session:" + _session_token(request))
    st = _state(request)
    seed = st.get("visitor") or request.cookies.get(CSRF_COOKIE)
    if not seed or len(seed) > 64:
        if not create:
            return None
        seed = st["visitor"] = secrets.token_urlsafe(32)  # the same token for the rest of this request
        _cookie(request, CSRF_COOKIE, seed, 14 * 24 * 3600)
    return _hmac(request, "visitor:" + seed)


def csrf_token(request: Request) -> str:
    return _expected_csrf(request, create=True)


def check_csrf(request: Request, form: FormData) -> None:
    sent = form.get("csrf")
    want = _expected_csrf(request, create=False)
    if not want or not isinstance(sent, str) or not hmac.compare_digest(sent, want):
        raise Forbidden("the form expired or did not come from this site; reload the page and try again")


async def checked_form(request: Request) -> FormData:
    form = await request.form()
    check_csrf(request, form)
    return form


async def sign_in(request: Request, user: User) -> None:
    """A new session for this browser (the one it had, if any, ends: a token seen before
    sign-in is useless after)."""
    platform = request.app.state.platform
    token = await run_in_threadpool(start_session, platform, user.id, _session_token(request))
    st = _state(request)
    st["token"], st["user"] = token, user
    _cookie(request, SESSION_COOKIE, token, int(platform.settings.session_max_age_s))


async def sign_out(request: Request) -> None:
    """End this browser's session on the server and drop its cookie."""
    token = _session_token(request)
    if token:
        await run_in_threadpool(end_session, request.app.state.platform, token)
    st = _state(request)
    st["token"], st["user"] = None, None
    _cookie(request, SESSION_COOKIE, "", 0)


def need_user(request: Request) -> User:
    u = current_user(request)
    if u is None:
        raise Unauthorized("sign in to see this page")
    return u


def need_organiser(request: Request) -> User:
    return require_organiser(need_user(request))


class SessionCookies:
    """Adds the Set-Cookie headers a request queued to its response (pure ASGI: the body
    streams through untouched)."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def send_with_cookies(message):
            if message["type"] == "http.response.start":
                cookies = scope.get(_STATE, {}).get("cookies")
                if cookies:
                    message = {**message, "headers": [*message.get("headers", []),
                                                      *((b"set-cookie", c.encode("latin-1")) for c in cookies)]}
            await send(message)

        await self.app(scope, receive, send_with_cookies)
