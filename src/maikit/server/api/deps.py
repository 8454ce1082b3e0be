"""Request dependencies: the platform, and who is calling (user, organiser, worker).

The rules of who may do what are :mod:`maikit.server.services.users`' (:class:`Caller`);
these only read the ``Authorization`` header and ask."""

from __future__ import annotations

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from maikit.server.db.models import ApiToken, User
from maikit.server.errors import Unauthorized
from maikit.server.services.users import Caller, authenticate, require_organiser
from maikit.server.state import Platform

bearer = HTTPBearer(auto_error=False)
CALLER_KEY = "maikit.caller"  # the caller found before the body was read (maikit.server.api.credentials)


# The dependencies are coroutines: FastAPI would run a plain ``def`` one in the thread pool,
# a hop (and a wait for a free thread under load) for what is, without a token, no work at all.
async def state(request: Request) -> Platform:
    return request.app.state.platform


def client_address(request: Request) -> str | None:
    """The client's address: the peer's, or what a trusted proxy says it is (the
    ``trusted_proxies`` setting; docs/security.md)."""
    return request.client.host if request.client else None


async def caller(request: Request, cred: HTTPAuthorizationCredentials | None = Depends(bearer)) -> Caller:
    """Who sent the request: anonymous at once; a token's owner from the database (in a thread),
    once per request (:class:`~maikit.server.api.credentials.CredentialsFirst` may have asked)."""
    found = request.scope.get(CALLER_KEY)
    if found is not None:
        return found
    if cred is None:
        return Caller(None, None)
    return await run_in_threadpool(authenticate, request.app.state.platform, cred.credentials)


async def user(c: Caller = Depends(caller)) -> User:
    return c.as_user()


async def organiser(u: User = Depends(user)) -> User:
    return require_organiser(u)


async def worker_token(c: Caller = Depends(caller)) -> ApiToken:
    return c.as_worker()


async def lease(cred: HTTPAuthorizationCredentials | None = Depends(bearer)) -> str:
    """A job's lease token (``Authorization: Bearer <lease_token>``)."""
    if cred is None:
        raise Unauthorized("the job's lease token is needed")
    return cred.credentials
