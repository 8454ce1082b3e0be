"""What a database error means to a caller: the database is away (an outage: worth retrying
later), or a value the database cannot hold (an id past its integer type, a string past its
column's length), or neither (a bug: a 500, as before).

The API's one handler (``app.py``, with the status table of :mod:`maikit.server.api.errors`)
and the services that can go on without the database (the leaderboard cache, the lease
reaper) ask :func:`database_refusal`; nothing else here knows HTTP.
"""

from __future__ import annotations

from sqlalchemy.exc import DataError, DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from maikit.server.errors import Invalid, ServiceError, Unavailable

# what the handler is registered for (a DBAPIError that is none of the cases below stays a 500)
DATABASE_ERRORS: tuple[type[Exception], ...] = (DBAPIError, PoolTimeout)
# how long a client is told to wait before trying again while the database is away
RETRY_AFTER_S = 5.0
UNREACHABLE = "the database is unreachable right now; the platform keeps its work and answers again once it is back"


def database_away(exc: BaseException) -> bool:
    """True when ``exc`` says the database could not be reached or dropped the connection (a
    stopped, restarting or unreachable server; no free connection in time), not that the query
    was wrong. SQLite's "database is locked" past its busy timeout counts too: retry later."""
    if isinstance(exc, PoolTimeout):
        return True
    if isinstance(exc, (OperationalError, InterfaceError)):
        return True
    return isinstance(exc, DBAPIError) and bool(exc.connection_invalidated)


def database_refusal(exc: BaseException) -> ServiceError | None:
    """The platform's refusal for a database error: Unavailable (503 with Retry-After) when the
    database is away, Invalid (422) for a value it cannot hold; None for anything else."""
    if database_away(exc):
        return Unavailable(UNREACHABLE, retry_after_s=RETRY_AFTER_S)
    if isinstance(exc, DataError):
        return Invalid("a value in the request is out of range or too long for the database")
    return None
