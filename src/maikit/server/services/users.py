"""Accounts and tokens: create users (and their team), passwords, user and worker tokens
(only their hash is stored), who a token belongs to, and what each kind of caller may do.

Passwords: argon2 runs outside every database transaction (a hash inside SQLite's write
transaction held every other write up for its length) and in the platform's own threads,
as many at once as there are cores (:meth:`Platform.run_password`). Sign-in and sign-up
attempts are limited per user name and per client address before any hashing
(:func:`admit_password_attempt`; RateLimited, 429 with Retry-After)."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import anyio.to_thread
from sqlalchemy import select
from sqlalchemy.orm import Session

from maikit.server.core.security import hash_password, hash_token, new_token, verify_password
from maikit.server.db.models import ApiToken, Team, User, column_length
from maikit.server.errors import Conflict, Forbidden, Invalid, NotFound, RateLimited, Unauthorized
from maikit.server.services.sessions import end_user_sessions
from maikit.server.state import Platform

ROLES = ("participant", "organiser")
MIN_PASSWORD = 8  # characters of a password chosen on the site (sign-up, change)


@dataclass
class Caller:
    """Who sent a request: anonymous (no token), a user's token, or a worker token."""

    token: ApiToken | None
    user: User | None

    @property
    def is_worker(self) -> bool:
        return self.token is not None and self.token.kind == "worker"

    @property
    def is_organiser(self) -> bool:
        return self.user is not None and self.user.is_organiser

    def as_user(self) -> User:
        if self.token is None:
            raise Unauthorized("a user token is needed (Authorization: Bearer TOKEN)")
        if self.is_worker or self.user is None:
            raise Forbidden("a worker token cannot act as a user")
        return self.user

    def as_worker(self) -> ApiToken:
        if self.token is None:
            raise Unauthorized("a worker token is needed")
        if not self.is_worker:
            raise Forbidden("a worker token is needed, not a user token")
        return self.token


def require_organiser(user: User) -> User:
    if not user.is_organiser:
        raise Forbidden("organisers only")
    return user


def authenticate(p: Platform, token: str) -> Caller:
    """The owner of an API or worker token (Unauthorized: unknown or revoked), detached from
    its session."""
    with p.db.read() as s:
        row = s.execute(select(ApiToken, User).outerjoin(User, User.id == ApiToken.user_id)  # one query
                        .where(ApiToken.token_hash == hash_token(token), ApiToken.revoked.is_(False))).one_or_none()
        if row is None:
            raise Unauthorized("invalid or revoked token")
        tok, user = row
        s.expunge_all()
    return Caller(tok, user)


def get_user(p: Platform, user_id: int) -> User | None:
    """The user with their team loaded, detached from the session (None: no such user)."""
    with p.db.read() as s:
        u = s.get(User, user_id)
        if u is not None:
            _ = u.team  # loaded before the session closes
            s.expunge_all()
    return u


def team_name(p: Platform, user: User) -> str | None:
    if user.team_id is None:
        return None
    with p.db.read() as s:
        return s.get(Team, user.team_id).name


def admit_password_attempt(p: Platform, username: str | None, client: str | None) -> None:
    """Count a sign-in attempt for ``username`` (None: a sign-up, counted per address only)
    from ``client`` (the address; None: not known), or refuse it (RateLimited with the wait):
    at most ``signin_account_attempts`` per name in ``signin_account_window_s`` (a successful
    sign-in clears the name's count), ``signin_address_attempts`` per address in
    ``signin_address_window_s``. The same answer for names that exist and names that do not."""
    name = None if username is None else username[:64]  # no stored name is longer
    if name is not None and (wait := p.signin_accounts.wait_s(name)):
        raise RateLimited(f"too many sign-in attempts for this user name; try again in {math.ceil(wait)} s", wait)
    if client is not None and (wait := p.signin_addresses.take(client)):
        raise RateLimited(f"too many sign-in attempts from your address; try again in {math.ceil(wait)} s", wait)
    if name is not None and (wait := p.signin_accounts.take(name)):
        raise RateLimited(f"too many sign-in attempts for this user name; try again in {math.ceil(wait)} s", wait)


def check_password(p: Platform, username: str, password: str) -> User | None:
    """The user if the password is theirs (a blocking call: the database, then argon2 after
    the read has ended; an unknown name takes as long as a known one)."""
    with p.db.read() as s:
        u = s.execute(select(User).where(User.username == username)).scalar_one_or_none()
    ok = verify_password(u.password_hash if u is not None else None, password)
    return u if ok else None


async def sign_in(p: Platform, username: str, password: str, client: str | None) -> User | None:
    """The user if the password is theirs, None if not; RateLimited past the sign-in limits
    (:func:`admit_password_attempt`, refused before any hashing)."""
    admit_password_attempt(p, username, client)
    u = await p.run_password(check_password, p, username, password)
    if u is not None:
        p.signin_accounts.forget(username[:64])
    return u


def issue_user_token(s: Session, u: User, now, label: str = "") -> str:
    token = new_token("mai_u_")
    s.add(ApiToken(kind="user", user_id=u.id, token_hash=hash_token(token), label=label, created_at=now))
    return token


def issue_worker_token(s: Session, device_tag: str, now, label: str = "") -> str:
    token = new_token("mai_w_")
    s.add(ApiToken(kind="worker", device_tag=device_tag, token_hash=hash_token(token), label=label, created_at=now))
    return token


def create_user(s: Session, *, username: str, role: str, password: str | None = None, team: str | None, now,
                password_hash: str | None = None) -> User:
    """A new user, in ``team`` (created if new) when given. ``password_hash`` when the caller
    hashed it before the transaction (a sign-up: argon2 inside a write transaction holds
    every other write up); a plain ``password`` is hashed here. A name or team longer than its
    column is Invalid, naming the field and its limit (the API's schemas refuse it before; this
    holds for the pages and ``mai server create-user`` too)."""
    for field, value, column in (("username", username, User.username), ("team", team, Team.name)):
        if value is not None and len(value) > column_length(column):
            raise Invalid(f"{field}: at most {column_length(column)} characters (got {len(value)})")
    team_id = None
    if team:
        t = s.execute(select(Team).where(Team.name == team)).scalar_one_or_none()
        if t is None:
            t = Team(name=team, quota_lock=0)
            s.add(t)
            s.flush()
        team_id = t.id
    if password_hash is None and password:
        password_hash = hash_password(password)
    u = User(username=username, role=role, password_hash=password_hash, team_id=team_id, quota_lock=0, created_at=now)
    s.add(u)
    s.flush()
    return u


async def login(p: Platform, username: str, password: str, client: str | None, label: str = "login") -> str:
    """A new API token for a user name and password (Unauthorized if they do not match,
    RateLimited past the sign-in limits)."""
    u = await sign_in(p, username, password, client)
    if u is None:
        raise Unauthorized("wrong user name or password")
    return await anyio.to_thread.run_sync(new_user_token, p, u.id, label)


USERNAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


def add_user(p: Platform, *, username: str, role: str, password: str | None, team: str | None) -> tuple[User, str]:
    """An organiser adds a user (to any team, existing or new): the user and their first token."""
    if not USERNAME.match(username):
        raise Invalid(f"user name {username!r}: 1 to 64 letters, digits, '_', '.' or '-'")
    password_hash = hash_password(password) if password else None  # before the transaction
    with p.db.write() as s, s.begin():
        if s.execute(select(User).where(User.username == username)).scalar_one_or_none():
            raise Conflict(f"user {username!r} exists")
        u = create_user(s, username=username, role=role, password_hash=password_hash, team=team, now=p.now())
        return u, issue_user_token(s, u, p.now(), "created")


def _sign_up(p: Platform, username: str, password: str, team: str | None) -> User:
    password_hash = hash_password(password)  # before the transaction
    with p.db.write() as s, s.begin():
        if s.execute(select(User).where(User.username == username)).scalar_one_or_none():
            raise Conflict(f"User name {username!r} is taken.")
        if team and s.execute(select(Team).where(Team.name == team)).scalar_one_or_none():
            raise Conflict("That team exists already; ask an organiser to add you to it.")
        return create_user(s, username=username, role="participant", password_hash=password_hash, team=team,
                           now=p.now())


async def sign_up(p: Platform, *, username: str, password: str, team: str | None, client: str | None) -> User:
    """A participant signs up (Conflict: the name is taken, or the team exists: joining a
    team shows its submissions, so only an organiser adds members to one); sign-ups count
    toward their address's sign-in limit (RateLimited past it)."""
    admit_password_attempt(p, None, client)
    return await p.run_password(_sign_up, p, username, password, team)


def _set_password(p: Platform, user_id: int, current: str, new: str) -> bool:
    with p.db.read() as s:
        stored = s.get(User, user_id).password_hash
    if not verify_password(stored, current):
        return False
    new_hash = hash_password(new)  # before the transaction
    with p.db.write() as s, s.begin():
        s.get(User, user_id).password_hash = new_hash
        end_user_sessions(s, user_id)
    return True


async def change_password(p: Platform, user: User, current: str, new: str, client: str | None) -> None:
    """Replace a user's password, given the current one (Forbidden if it is wrong; the
    attempt counts toward the sign-in limits of the name and the address). Every web session
    of the user ends; API tokens stay (the account page lists them, each can be revoked)."""
    if len(new) < MIN_PASSWORD:
        raise Invalid(f"the new password needs at least {MIN_PASSWORD} characters")
    admit_password_attempt(p, user.username, client)
    if not await p.run_password(_set_password, p, user.id, current, new):
        raise Forbidden("the current password is wrong")


def set_role(p: Platform, username: str, role: str) -> User:
    """An organiser changes a user's role; every web session of the user ends (the next page
    asks them to sign in again)."""
    if role not in ROLES:
        raise Invalid(f"role must be one of {', '.join(ROLES)}, not {role!r}")
    with p.db.write() as s, s.begin():
        u = s.execute(select(User).where(User.username == username)).scalar_one_or_none()
        if u is None:
            raise NotFound(f"no user {username!r}")
        if u.role != role:
            u.role = role
            end_user_sessions(s, u.id)
        s.flush()
        _ = u.team
        s.expunge_all()
    return u


def add_worker_token(p: Platform, device_tag: str, label: str = "") -> str:
    with p.db.write() as s, s.begin():
        return issue_worker_token(s, device_tag, p.now(), label)


def user_tokens(p: Platform, user_id: int) -> list[ApiToken]:
    """A user's API tokens, newest first (hashes only: a token is shown once, when made)."""
    with p.db.read() as s:
        return list(s.execute(select(ApiToken).where(ApiToken.user_id == user_id, ApiToken.kind == "user")
                              .order_by(ApiToken.id.desc())).scalars())


def new_user_token(p: Platform, user_id: int, label: str) -> str:
    with p.db.write() as s, s.begin():
        return issue_user_token(s, s.get(User, user_id), p.now(), label)


def revoke_user_token(p: Platform, user_id: int, token_id: int) -> None:
    with p.db.write() as s, s.begin():
        tok = s.get(ApiToken, token_id)
        if tok is None or tok.user_id != user_id or tok.kind != "user":
            raise NotFound(f"no token {token_id}")
        tok.revoked = True


def has_organiser(p: Platform) -> bool:
    """Whether any organiser account exists (an empty server says how to make the first)."""
    with p.db.read() as s:
        return s.execute(select(User.id).where(User.role == "organiser").limit(1)).first() is not None


def new_password() -> str:
    """A password to print once: 16 characters from 96 random bits."""
    import secrets

    return secrets.token_urlsafe(12)

