"""Accounts: sign up, sign in and out, API tokens (created and shown once, revoked)."""

from __future__ import annotations

import re

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import RedirectResponse
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from maikit.server.api.routes.users import create_user, issue_user_token
from maikit.server.core.security import verify_password
from maikit.server.db.models import ApiToken, Team, User
from maikit.server.web.render import render
from maikit.server.web.session import checked_form, need_user, sign_in, sign_out

router = APIRouter(include_in_schema=False)
USERNAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
MIN_PASSWORD = 8


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
    st = request.app.state.platform
    user = None
    if not errors:
        user = await run_in_threadpool(_create_participant, st, username, password, team, errors)
    if errors:
        return render(request, "signup.html", status=422, title="Sign up", errors=errors,
                      form={"username": username, "team": team or ""})
    sign_in(request, user)
    return RedirectResponse("/account", status_code=303)


def _create_participant(st, username: str, password: str, team: str | None, errors: list[str]) -> User | None:
    """The new participant (a thread's work: the database and argon2), or None with ``errors`` added."""
    with st.db.write() as s, s.begin():
        if s.execute(select(User).where(User.username == username)).scalar_one_or_none():
            errors.append(f"User name {username!r} is taken.")
            return None
        if team and s.execute(select(Team).where(Team.name == team)).scalar_one_or_none():
            # joining an existing team would show its submissions: an organiser adds members
            errors.append("That team exists already; ask an organiser to add you to it.")
            return None
        return create_user(s, username=username, role="participant", password=password, team=team, now=st.now())


@router.get("/signin")
def signin_page(request: Request, next: str | None = None):
    return render(request, "signin.html", title="Sign in", error=None, next=_safe_next(next), form={})


@router.post("/signin")
async def signin(request: Request):
    form = await checked_form(request)
    username = str(form.get("username", "")).strip()
    u = await run_in_threadpool(_check_password, request.app.state.platform, username, str(form.get("password", "")))
    if u is None:
        return render(request, "signin.html", status=401, title="Sign in", error="Wrong user name or password.",
                      next=_safe_next(form.get("next")), form={"username": username})
    sign_in(request, u)
    return RedirectResponse(_safe_next(form.get("next")), status_code=303)


def _check_password(st, username: str, password: str) -> User | None:
    """The user if the password is theirs (a thread's work: the database and argon2)."""
    with st.db.read() as s:
        u = s.execute(select(User).where(User.username == username)).scalar_one_or_none()
    return u if u is not None and verify_password(u.password_hash, password) else None


@router.post("/signout")
async def signout(request: Request):
    await checked_form(request)
    sign_out(request)
    return RedirectResponse("/", status_code=303)


def _tokens(st, user_id: int) -> list[ApiToken]:
    with st.db.read() as s:
        return list(s.execute(select(ApiToken).where(ApiToken.user_id == user_id, ApiToken.kind == "user")
                              .order_by(ApiToken.id.desc())).scalars())


@router.get("/account")
def account(request: Request):
    u = need_user(request)
    st = request.app.state.platform
    return render(request, "account.html", user=u, title="Your account", tokens=_tokens(st, u.id), new_token=None)


@router.post("/account/tokens")
async def create_token(request: Request):
    u = await run_in_threadpool(need_user, request)
    form = await checked_form(request)
    label = str(form.get("label", "")).strip()[:100]
    st = request.app.state.platform

    def issue() -> tuple[str, list[ApiToken]]:
        with st.db.write() as s, s.begin():
            token = issue_user_token(s, s.get(User, u.id), st.now(), label or "web")
        return token, _tokens(st, u.id)

    token, tokens = await run_in_threadpool(issue)
    # shown in this response only; the database keeps its hash
    return render(request, "account.html", user=u, title="Your account", tokens=tokens, new_token=token)


@router.post("/account/tokens/{token_id}/revoke")
async def revoke_token(token_id: int, request: Request):
    u = await run_in_threadpool(need_user, request)
    await checked_form(request)
    st = request.app.state.platform

    def revoke() -> None:
        with st.db.write() as s, s.begin():
            tok = s.get(ApiToken, token_id)
            if tok is None or tok.user_id != u.id or tok.kind != "user":
                raise HTTPException(404, f"no token {token_id}")
            tok.revoked = True

    await run_in_threadpool(revoke)
    return RedirectResponse("/account", status_code=303)
