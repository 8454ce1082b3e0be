"""The server's notion of now (UTC, aware); tests replace ``Clock.now`` to cross a day boundary."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class Clock:
    """Now plus an offset; ``shift(seconds)`` moves it (tests only, the server never does)."""

    def __init__(self) -> None:
        self.offset = timedelta(0)

    def now(self) -> datetime:
        return utcnow() + self.offset

    def monotonic(self) -> float:
        """Seconds on a clock that never goes back (for ages and freshness), plus the offset."""
        return time.monotonic() + self.offset.total_seconds()

    def shift(self, seconds: float) -> None:
        self.offset += timedelta(seconds=seconds)


def day_bounds(t: datetime) -> tuple[datetime, datetime]:
    """The UTC calendar day containing ``t``: [00:00, next 00:00)."""
    t = t.astimezone(timezone.utc)
    start = t.replace(hour=0, minute=0, second=0, microsecond=0)
    return start, start + timedelta(days=1)
