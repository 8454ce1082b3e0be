"""Who is signed in (the session cookie) and the CSRF token of every form.

The cookie is Starlette's signed session (itsdangerous; HttpOnly, SameSite=Lax) holding
the user id and a random CSRF token; each form carries the token in a hidden field and a
POST whose field does not match is refused (403). The signing key is made once per data
folder (``DATA_DIR/web-secret``, mode 0600), so several server processes on one folder agree.
"""

from __future__ import annotations

import hmac
import os
import secrets
from pathlib import Path

from fastapi import Request
from starlette.datastructures import FormData

from maikit.server.db.models import User
from maikit.server.errors import Forbidden, Unauthorized
from maikit.server.services.users import get_user, require_organiser

SESSION_COOKIE = "mai_session"


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


def csrf_token(request: Request) -> str:
    tok = request.session.get("csrf")
    if not tok:
        tok = request.session["csrf"] = secrets.token_urlsafe(32)
    return tok


def check_csrf(request: Request, form: FormData) -> None:
    sent = form.get("csrf")
    want = request.session.get("csrf")
    if not want or not isinstance(sent, str) or not hmac.compare_digest(sent, want):
        raise Forbidden("the form expired or did not come from this site; reload the page and try again")


async def checked_form(request: Request) -> FormData:
    form = await request.form()
    check_csrf(request, form)
    return form


def current_user(request: Request) -> User | None:
    uid = request.session.get("uid")
    if uid is None:
        return None
    return get_user(request.app.state.platform, uid)


def sign_in(request: Request, user: User) -> None:
    request.session.clear()
    request.session["uid"] = user.id
    request.session["csrf"] = secrets.token_urlsafe(32)  # a new token: a token seen before sign-in is useless after


def sign_out(request: Request) -> None:
    request.session.clear()


def need_user(request: Request) -> User:
    u = current_user(request)
    if u is None:
        raise Unauthorized("sign in to see this page")
    return u


def need_organiser(request: Request) -> User:
    return require_organiser(need_user(request))
