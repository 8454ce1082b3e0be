"""Web sessions, kept on the server: a browser that signs in gets a random token (its
cookie carries nothing else), the database keeps the token's sha256 with the user and an
expiry (the ``session_max_age_s`` setting, 14 days). A session ends when its row goes: at
sign-out, when it expires, and for all of a user's sessions at a password or role change
(:func:`end_user_sessions`). A copy of the cookie saved before then opens nothing after."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session, joinedload

from maikit.server.core.security import hash_token, new_token
from maikit.server.db.models import User, WebSession
from maikit.server.state import Platform


def start_session(p: Platform, user_id: int, replaces: str | None = None) -> str:
    """A new session for the user: its token (for the cookie). ``replaces``: the token the
    browser had (ended, so a session fixed before sign-in is worth nothing after). Expired
    sessions of anyone are dropped on the way."""
    now = p.now()
    token = new_token("mai_s_")
    with p.db.write() as s, s.begin():
        s.execute(delete(WebSession).where(WebSession.expires_at <= now))
        if replaces:
            s.execute(delete(WebSession).where(WebSession.token_hash == hash_token(replaces)))
        s.add(WebSession(token_hash=hash_token(token), user_id=user_id, created_at=now,
                         expires_at=now + timedelta(seconds=p.settings.session_max_age_s)))
    return token


def session_user(p: Platform, token: str) -> User | None:
    """The user of a live session (team loaded, detached), None for an unknown, ended or
    expired one."""
    with p.db.read() as s:
        u = s.execute(select(User).options(joinedload(User.team)).join(WebSession, WebSession.user_id == User.id)
                      .where(WebSession.token_hash == hash_token(token), WebSession.expires_at > p.now())
                      ).scalar_one_or_none()
        if u is not None:
            s.expunge_all()
    return u


def end_session(p: Platform, token: str) -> None:
    with p.db.write() as s, s.begin():
        s.execute(delete(WebSession).where(WebSession.token_hash == hash_token(token)))


def end_user_sessions(s: Session, user_id: int) -> None:
    """End every session of a user (in the caller's transaction)."""
    s.execute(delete(WebSession).where(WebSession.user_id == user_id))
