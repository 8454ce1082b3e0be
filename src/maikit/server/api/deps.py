"""Request dependencies: the database, the clock, and who is calling (user, organiser, worker)."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from maikit.server.core.security import hash_token
from maikit.server.db.models import ApiToken, User

bearer = HTTPBearer(auto_error=False)


@dataclass
class Caller:
    token: ApiToken | None
    user: User | None

    @property
    def is_worker(self) -> bool:
        return self.token is not None and self.token.kind == "worker"

    @property
    def is_organiser(self) -> bool:
        return self.user is not None and self.user.is_organiser


# The dependencies are coroutines: FastAPI would run a plain ``def`` one in the thread pool,
# a hop (and a wait for a free thread under load) for what is, without a token, no work at all.
async def state(request: Request):
    return request.app.state.platform


def _token_caller(st, token: str) -> Caller:
    with st.db.read() as s:
        row = s.execute(select(ApiToken, User).outerjoin(User, User.id == ApiToken.user_id)  # one query
                        .where(ApiToken.token_hash == hash_token(token), ApiToken.revoked.is_(False))).one_or_none()
        if row is None:
            raise HTTPException(401, "invalid or revoked token", headers={"WWW-Authenticate": "Bearer"})
        tok, user = row
        s.expunge_all()
    return Caller(tok, user)


async def caller(request: Request, cred: HTTPAuthorizationCredentials | None = Depends(bearer)) -> Caller:
    """Who sent the request: anonymous at once; a token's owner from the database (in a thread)."""
    if cred is None:
        return Caller(None, None)
    return await run_in_threadpool(_token_caller, request.app.state.platform, cred.credentials)


async def user(c: Caller = Depends(caller)) -> User:
    if c.token is None:
        raise HTTPException(401, "a user token is needed (Authorization: Bearer TOKEN)", headers={"WWW-Authenticate": "Bearer"})
    if c.is_worker or c.user is None:
        raise HTTPException(403, "a worker token cannot act as a user")
    return c.user


async def organiser(u: User = Depends(user)) -> User:
    if not u.is_organiser:
        raise HTTPException(403, "organisers only")
    return u


async def worker_token(c: Caller = Depends(caller)) -> ApiToken:
    if c.token is None:
        raise HTTPException(401, "a worker token is needed", headers={"WWW-Authenticate": "Bearer"})
    if not c.is_worker:
        raise HTTPException(403, "a worker token is needed, not a user token")
    return c.token
