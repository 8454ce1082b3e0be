"""The one table from the platform's refusals (:mod:`maikit.server.errors`) to HTTP statuses.

``app.py`` registers the handler that answers with it: JSON (``{"detail": reason}``) under
``/api``, the error page for the web pages. A page that shows a refusal in its own form (the
upload page) asks :func:`status_of` for the same status.

Database errors come here too (:func:`database_error`, the one place they are turned into
answers): the database away is 503 with ``Retry-After`` and one line (and the platform
remembers the outage, so that the lease reaper gives every lease one lease from the
database's return: :func:`~maikit.server.services.jobs.reap_once`); a value the database
cannot hold is 422; any other database error stays a 500.
"""

from __future__ import annotations

from maikit.server.db.faults import database_refusal
from maikit.server.errors import (Conflict, Forbidden, Interrupted, Invalid, NotFound, PhaseClosed, QuotaExceeded,
                                  RateLimited, ServiceError, StoreUnavailable, TooLarge, Unauthorized, Unavailable)

# most specific first: the first class the error is an instance of gives its status
STATUS: dict[type[ServiceError], int] = {
    Interrupted: 400,
    Unauthorized: 401,
    PhaseClosed: 403,
    Forbidden: 403,
    NotFound: 404,
    Conflict: 409,
    TooLarge: 413,
    Invalid: 422,
    QuotaExceeded: 429,
    RateLimited: 429,
    Unavailable: 503,
    StoreUnavailable: 507,  # Insufficient Storage (RFC 4918 section 11.5)
    ServiceError: 400,  # a refusal without a class of its own
}


def status_of(error: ServiceError) -> int:
    """The HTTP status of a refusal."""
    return next(code for cls, code in STATUS.items() if isinstance(error, cls))


def headers_of(error: ServiceError) -> dict[str, str]:
    """What the answer adds: how to authenticate (401), when to try again (429, 503)."""
    headers = {}
    if isinstance(error, Unauthorized):
        headers["WWW-Authenticate"] = "Bearer"
    retry = getattr(error, "retry_after_s", None)
    if retry is not None:
        headers["Retry-After"] = str(max(1, round(retry)))
    return headers


def database_error(exc: Exception, platform=None) -> ServiceError | None:
    """The refusal for a database error raised while answering (None: a bug, a 500); an
    outage is noted on ``platform`` (:meth:`~maikit.server.state.Platform.database_down`)."""
    refusal = database_refusal(exc)
    if isinstance(refusal, Unavailable) and platform is not None:
        platform.database_down()
    return refusal
