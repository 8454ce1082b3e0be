"""Credentials before bodies (pure ASGI: :class:`CredentialsFirst`, outside
:class:`~maikit.server.api.bodies.BodyLimits`).

FastAPI reads and parses a route's body parameter (a JSON model) before it solves the route's
dependencies, so a route such as a worker's claim would read, and parse, a stranger's body
before it found the token junk. This layer checks the credentials of every such route before
the application sees the request: the routes are found in the API's own routers
(:func:`guarded_routes`: a route with a body parameter that depends on
:func:`~maikit.server.api.deps.user`, :func:`~maikit.server.api.deps.organiser` or
:func:`~maikit.server.api.deps.worker_token`), so a new route is covered the day it is added.

- A request to such a route that carries a body is matched as the router matches it (the
  first route that fits the method and path); its bearer token is looked up by the same
  dependencies the route uses (:func:`~maikit.server.api.deps.caller`: the database in a
  thread) and the route's requirements are checked (a user, an organiser, a worker token).
- A refusal (401, 403; the database away, 503) is answered at once, before a byte of the
  body is read, with ``Connection: close`` (the server does not go on reading a body nobody
  wants).
- Otherwise the caller found is kept in the request (the route's ``caller`` dependency takes
  it rather than asking the database again), the route's own dependencies check it as
  before, and :class:`~maikit.server.api.bodies.BodyLimits` bounds the body.

Routes that read their body themselves (the job log and result, the uploads, the challenge
and factsheet routes) need none of this: FastAPI solves their dependencies first, and they
read the body only after them. Sign-in (``/api/auth/token``) has no credential to check: its
body is bounded by ``signin_body_kb``."""

from __future__ import annotations

import json

from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.routing import Match

from maikit.server.api import deps
from maikit.server.api.errors import database_error, headers_of, status_of
from maikit.server.db.faults import DATABASE_ERRORS
from maikit.server.errors import ServiceError

# the dependencies a route's credentials are checked with, in the order they build on each other
REQUIREMENTS = {deps.user: "user", deps.organiser: "organiser", deps.worker_token: "worker"}


def _calls(dependant: Dependant) -> set:
    found = set()
    for d in dependant.dependencies:
        found.add(d.call)
        found |= _calls(d)
    return found


def requirements(route: APIRoute) -> tuple[str, ...]:
    """What a route asks of its caller ('user', 'organiser', 'worker'), from its dependencies."""
    calls = _calls(route.dependant)
    return tuple(name for call, name in REQUIREMENTS.items() if call in calls)


def guarded_routes(routes) -> list[APIRoute]:
    """The routes whose body FastAPI parses before their credentials are checked: a body
    parameter and a credential dependency."""
    return [r for r in routes if isinstance(r, APIRoute) and r.body_field is not None and requirements(r)]


async def check(request: Request, needs: tuple[str, ...]):
    """The caller of ``request`` if it meets ``needs``; the route's own refusal otherwise."""
    c = await deps.caller(request, await deps.bearer(request))
    if "worker" in needs:
        await deps.worker_token(c)
    if "user" in needs or "organiser" in needs:
        u = await deps.user(c)
        if "organiser" in needs:
            await deps.organiser(u)
    return c


def _carries_body(scope) -> bool:
    for k, v in scope.get("headers", ()):
        if k == b"content-length" and v.strip() not in (b"0", b""):
            return True
        if k == b"transfer-encoding" and b"chunked" in v.lower():
            return True
    return False


class CredentialsFirst:
    """``routers``: the API's routers in the order the application includes them (their
    routes carry their full paths)."""

    def __init__(self, app, routers):
        self.app = app
        self.routes = [r for router in routers for r in router.routes]
        self.guarded = {id(r): requirements(r) for r in guarded_routes(self.routes)}

    def needs(self, scope) -> tuple[str, ...]:
        """The requirements of the route the router will send this request to (none: not guarded)."""
        for route in self.routes:
            match, _ = route.matches(scope)
            if match is Match.FULL:
                return self.guarded.get(id(route), ())
        return ()

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or not self.guarded or not _carries_body(scope):
            return await self.app(scope, receive, send)
        needs = self.needs(scope)
        if not needs:
            return await self.app(scope, receive, send)
        request = Request(scope)
        try:
            scope[deps.CALLER_KEY] = await check(request, needs)
        except ServiceError as e:
            return await self._refuse(send, e)
        except DATABASE_ERRORS as e:
            refusal = database_error(e, request.app.state.platform)
            if refusal is None:
                raise
            return await self._refuse(send, refusal)
        await self.app(scope, receive, send)

    @staticmethod
    async def _refuse(send, e: ServiceError) -> None:
        body = json.dumps({"detail": e.reason}).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                   (b"connection", b"close")]
        headers += [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers_of(e).items()]
        await send({"type": "http.response.start", "status": status_of(e), "headers": headers})
        await send({"type": "http.response.body", "body": body})
