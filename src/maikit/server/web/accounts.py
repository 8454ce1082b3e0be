"""Accounts: sign up, sign in and out, password change, API tokens (created and shown once,
revoked)."""

from __future__ import annotations

import re

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse
from starlette.concurrency import run_in_threadpool

from maikit.server.api.deps import client_address
from maikit.server.api.errors import headers_of
from maikit.server.api.errors import status_of
from maikit.server.api.params import RowId
from maikit.server.errors import Conflict, RateLimited, ServiceError
from maikit.server.services import users
from maikit.server.web.render import render
from maikit.server.web.session import checked_form, need_user, sign_in, sign_out

router = APIRouter(include_in_schema=False)
USERNAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
MIN_PASSWORD = users.MIN_PASSWORD


def _sentence(reason: str) -> str:
    return reason[0].upper() + reason[1:] + "."


def _safe_next(target: str | None) -> str:
    # only paths on this site (no //host, no scheme) so a link cannot send a user elsewhere
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/"


@router.get("/signup")
def signup_page(request: Request):
    return render(request, "signup.html", title="Sign up", errors=[], form={})


@router.post("/signup")
async def signup(request: Request):
    form = await checked_form(request)
    username = str(form.get("username", "")).strip()
    password = str(form.get("password", ""))
    team = str(form.get("team", "")).strip() or None
    errors = []
    if not USERNAME.match(username):
        errors.append("User name: 1 to 64 letters, digits, '.', '_' or '-'.")
    if len(password) < MIN_PASSWORD:
        errors.append(f"Password: at least {MIN_PASSWORD} characters.")
    if team is not None and len(team) > 100:
        errors.append("Team: at most 100 characters.")
    user, limited = None, None
    if not errors:
        try:
            user = await users.sign_up(request.app.state.platform, username=username, password=password, team=team,
                                       client=client_address(request))
        except Conflict as e:
            errors.append(e.reason)
        except RateLimited as e:
            errors.append(_sentence(e.reason))
            limited = e
    if errors:
        page = render(request, "signup.html", status=429 if limited else 422, title="Sign up", errors=errors,
                      form={"username": username, "team": team or ""})
        page.headers.update(headers_of(limited) if limited else {})
        return page
    await sign_in(request, user)
    return RedirectResponse("/account", status_code=303)


@router.get("/signin")
def signin_page(request: Request, next: str | None = None):
    return render(request, "signin.html", title="Sign in", error=None, next=_safe_next(next), form={})


@router.post("/signin")
async def signin(request: Request):
    form = await checked_form(request)
    username = str(form.get("username", "")).strip()
    try:
        u = await users.sign_in(request.app.state.platform, username, str(form.get("password", "")),
                                client_address(request))
    except RateLimited as e:
        page = render(request, "signin.html", status=429, title="Sign in", error=_sentence(e.reason),
                      next=_safe_next(form.get("next")), form={"username": username})
        page.headers.update(headers_of(e))
        return page
    if u is None:
        return render(request, "signin.html", status=401, title="Sign in", error="Wrong user name or password.",
                      next=_safe_next(form.get("next")), form={"username": username})
    await sign_in(request, u)
    return RedirectResponse(_safe_next(form.get("next")), status_code=303)


@router.post("/signout")
async def signout(request: Request):
    await checked_form(request)
    await sign_out(request)
    return RedirectResponse("/", status_code=303)


def _account_page(request: Request, u, status: int = 200, new_token: str | None = None, message: str | None = None,
                  password_error: str | None = None):
    tokens = users.user_tokens(request.app.state.platform, u.id)
    return render(request, "account.html", status=status, user=u, title="Your account", tokens=tokens,
                  new_token=new_token, message=message, password_error=password_error, min_password=MIN_PASSWORD)


PASSWORD_CHANGED = "Your password is changed; every other browser signed in as you is signed out."


@router.get("/account")
def account(request: Request, message: str = ""):
    return _account_page(request, need_user(request), message=PASSWORD_CHANGED if message == "password" else None)


@router.post("/account/password")
async def change_password(request: Request):
    """A new password, given the current one: every session of the user ends, this browser
    gets a new one."""
    u = await run_in_threadpool(need_user, request)
    form = await checked_form(request)
    try:
        await users.change_password(request.app.state.platform, u, str(form.get("current", "")),
                                    str(form.get("new", "")), client_address(request))
    except ServiceError as e:
        page = await run_in_threadpool(_account_page, request, u, status_of(e), None, None,
                                       _sentence(e.reason))
        page.headers.update(headers_of(e))
        return page
    await sign_in(request, u)
    return RedirectResponse("/account?message=password", status_code=303)


@router.post("/account/tokens")
async def create_token(request: Request):
    u = await run_in_threadpool(need_user, request)
    form = await checked_form(request)
    label = str(form.get("label", "")).strip()[:100]
    st = request.app.state.platform
    token = await run_in_threadpool(users.new_user_token, st, u.id, label or "web")
    # shown in this response only; the database keeps its hash
    return await run_in_threadpool(_account_page, request, u, 200, token)


@router.post("/account/tokens/{token_id}/revoke")
async def revoke_token(token_id: RowId, request: Request):
    u = await run_in_threadpool(need_user, request)
    await checked_form(request)
    await run_in_threadpool(users.revoke_user_token, request.app.state.platform, u.id, token_id)
    return RedirectResponse("/account", status_code=303)
