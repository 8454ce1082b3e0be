"""The platform's refusals, raised by the services and mapped to HTTP statuses in one place
(:mod:`maikit.server.api.errors`, used by the API and the pages alike).

Each carries one line a participant or an organiser can act on (``reason``, also
``str(error)``); nothing here knows HTTP. Subclass the nearest one for a new case, so the
mapping stays right without an edit.
"""

from __future__ import annotations


class ServiceError(Exception):
    """A request the platform refuses, with the reason in one line."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class NotFound(ServiceError):
    """No such thing, or not one the caller may see (others' submissions look absent)."""


class Unauthorized(ServiceError):
    """Who is asking is unknown: no credentials, or wrong ones."""


class Forbidden(ServiceError):
    """Known caller, not allowed (organisers only, a worker token acting as a user...)."""


class PhaseClosed(Forbidden):
    """The phase does not accept submissions now (not yet open, or closed)."""


class Conflict(ServiceError):
    """The request clashes with the current state (a name taken, a lease no longer current)."""


class Invalid(ServiceError):
    """The request's content is unusable (a definition that does not parse or validate)."""


class Interrupted(ServiceError):
    """The request's body stopped before its end (a client that went away mid-upload)."""


class TooLarge(ServiceError):
    """A file or body over its cap."""


class QuotaExceeded(ServiceError):
    """The participant's submission quota (or failed-submission limit) is used up."""


class RateLimited(ServiceError):
    """Too many requests too fast; ``retry_after_s`` when known."""

    def __init__(self, reason: str, retry_after_s: float | None = None):
        super().__init__(reason)
        self.retry_after_s = retry_after_s


class StoreUnavailable(ServiceError):
    """The file store cannot take a file now (its disk is full, read-only, over a size limit)."""


class Unavailable(ServiceError):
    """The platform cannot answer now (the database is away...); worth retrying later."""

    def __init__(self, reason: str, retry_after_s: float | None = None):
        super().__init__(reason)
        self.retry_after_s = retry_after_s
