"""Every request body has a limit that fits its route, checked before the application reads
a byte of it (pure ASGI: :class:`BodyLimits`, outside every layer but the proxy headers' and
:class:`~maikit.server.api.credentials.CredentialsFirst`, which refuses a junk token on a route
with a parsed JSON body before this layer looks at its length).

- A ``Content-Length`` over the route's limit is answered ``413`` at once: the application never
  sees the request, nothing is read into memory or written to disk.
- A body sent without a length (chunked) is counted as it arrives; past the limit the read
  raises a 413 (the application's error handler answers it) and nothing more is read.
- A route whose limit depends on who is asking (an upload: the phase's caps) is listed with
  ``None``: it authenticates first, then sets its limit with :func:`set_limit` and streams the
  body itself (:mod:`maikit.server.api.uploads`).
- A response sent before the request's body was read to its end (a refusal: 401, 409, 413)
  closes the connection (``Connection: close``), so the server does not go on reading, and
  throwing away, a body nobody wants.

The limits are :func:`route_limits` (from the settings; docs/security.md lists them)."""

from __future__ import annotations

import asyncio
import json
import re

from starlette.exceptions import HTTPException

from maikit.server.core.config import Settings
from maikit.server.factsheet import FACTSHEET_MAX_BYTES

SCOPE_KEY = "maikit.body"  # this request's limit and count in the ASGI scope

_ID = r"[^/]+"


def route_limits(settings: Settings) -> list[tuple[str, str, int | None]]:
    """(method, path pattern, limit in bytes; None: the route sets it after authentication)."""
    kb = 1000
    return [
        ("POST", r"/api/auth/token", settings.signin_body_kb * kb),
        ("POST", r"/(signin|signup|account/password)", settings.signin_body_kb * kb),
        ("POST", rf"/api/jobs/{_ID}/log", settings.job_log_kb * kb),
        ("POST", rf"/api/jobs/{_ID}/result", settings.job_result_kb * kb),
        ("POST", r"/api/challenges(/check)?", settings.challenge_file_kb * kb),
        ("PUT", rf"/api/challenges/{_ID}/phases/{_ID}/factsheet", FACTSHEET_MAX_BYTES),
        ("POST", rf"/challenges/{_ID}/phases/{_ID}/factsheet", 2 * FACTSHEET_MAX_BYTES + 16 * kb),  # a form: % encoding
        ("POST", rf"/api/challenges/{_ID}/phases/{_ID}/submissions", None),  # the phase's caps, after the token
        ("POST", rf"/challenges/{_ID}/phases/{_ID}/submit", None),  # the same, after the session cookie
    ]


def too_large(limit: int) -> str:
    return f"request body over this route's limit of {limit} bytes"


def set_limit(scope: dict, limit: int) -> None:
    """The limit of this request's body from now on (a route listed with ``None`` sets it once
    it knows who is asking); 413 at once when the declared length is over it."""
    state = scope.get(SCOPE_KEY)
    if state is None:
        return
    state["limit"] = limit
    if state["declared"] is not None and state["declared"] > limit:
        raise HTTPException(413, detail=too_large(limit))
    if state["received"] > limit:
        raise HTTPException(413, detail=too_large(limit))


def declared_length(scope: dict) -> int | None:
    for k, v in scope.get("headers", ()):
        if k == b"content-length":
            try:
                return int(v)
            except ValueError:
                return None
    return None


LINGER_BYTES = 8 * 1024 * 1024  # the most of a refused body read and dropped (see BodyLimits._linger)
LINGER_IDLE_S = 2.0


class BodyLimits:
    def __init__(self, app, routes: list[tuple[str, str, int | None]], default: int):
        self.app = app
        self.routes = [(m, re.compile(p), limit) for m, p, limit in routes]
        self.default = default

    def limit_for(self, method: str, path: str) -> int | None:
        for m, pattern, limit in self.routes:
            if m == method and pattern.fullmatch(path):
                return limit
        return self.default

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        limit = self.limit_for(scope["method"], scope["path"])
        declared = declared_length(scope)
        chunked = any(k == b"transfer-encoding" and b"chunked" in v.lower() for k, v in scope.get("headers", ()))
        if limit is not None and declared is not None and declared > limit:
            return await self._refuse(send, limit)
        state = scope[SCOPE_KEY] = {"limit": limit, "declared": declared, "received": 0,
                                    "done": not chunked and not declared}
        started = False

        async def counted():
            msg = await receive()
            if msg["type"] == "http.request":
                state["received"] += len(msg.get("body", b""))
                if not msg.get("more_body", False):
                    state["done"] = True
                if state["limit"] is not None and state["received"] > state["limit"]:
                    raise HTTPException(413, detail=too_large(state["limit"]))
            elif msg["type"] == "http.disconnect":
                state["done"] = True
            return msg

        async def closing(msg):
            nonlocal started
            if msg["type"] == "http.response.start":
                started = True
                await BodyLimits._linger(receive, state)
                if not state["done"]:  # a body left unread: do not read it on to reuse the connection
                    msg = {**msg, "headers": [*msg.get("headers", []), (b"connection", b"close")]}
            await send(msg)

        try:
            await self.app(scope, counted, closing)
        except HTTPException as e:
            if e.status_code != 413 or started:
                raise
            await BodyLimits._linger(receive, state)
            await self._refuse(send, state["limit"] or 0)

    @staticmethod
    async def _linger(receive, state: dict) -> None:
        """Before an answer to a small body left unread (a file a few MB over its cap): read the
        rest and drop it, so that the connection's close does not reset the answer under the
        client before it has read it (a socket closed with unread data sends RST, and the server
        closes as soon as the answer is sent). Only a rest of at most LINGER_BYTES that keeps
        arriving (LINGER_IDLE_S between chunks) is read; nothing is kept; a body read to its end
        is ``done`` (the connection may be kept). A larger or a stalled body is cut as before."""
        declared = state.get("declared")
        if state.get("done") or declared is None or declared - state["received"] > LINGER_BYTES:
            return
        left = declared - state["received"]
        while left > 0:
            try:
                msg = await asyncio.wait_for(receive(), LINGER_IDLE_S)
            except Exception:  # the wait ran out (asyncio.TimeoutError), or the client went away
                return
            if msg["type"] != "http.request":
                return
            left -= len(msg.get("body", b""))
            if not msg.get("more_body", False):
                state["done"] = True
                return

    @staticmethod
    async def _refuse(send, limit: int) -> None:
        body = json.dumps({"detail": too_large(limit)}).encode()
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                                (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": body})
