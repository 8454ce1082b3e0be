"""Two in-memory limiters of this server process: events per sliding window per key (sign-in
attempts) and turns at once per key, with a bounded line of waiters (uploads per account and
per address).

They live in the process's memory, not in the database: a flood is refused without a query
or a write, and forgotten when the process restarts. Several server processes on one
database each keep their own count, so each lets a key through up to its limit (the
operator's documentation, docs/security.md, says so). The number of keys kept is bounded:
past ``max_keys`` the least recently used ones are forgotten, so a sender who makes up keys
(user names that do not exist) fills no more than that; a key's line of turns is forgotten
as soon as nobody holds or waits for it."""

from __future__ import annotations

import contextlib
import threading
import time
from collections import OrderedDict, deque
from typing import Callable, Hashable


class SlidingWindow:
    """At most ``limit`` events per key in any ``window_s`` seconds."""

    def __init__(self, limit: int, window_s: float, clock: Callable[[], float] = time.monotonic,
                 max_keys: int = 100_000):
        self.limit, self.window_s, self.clock, self.max_keys = limit, window_s, clock, max_keys
        self._events: OrderedDict[Hashable, deque] = OrderedDict()
        self._lock = threading.Lock()

    def _recent(self, key: Hashable, now: float) -> deque:
        q = self._events.get(key)
        if q is None:
            q = self._events[key] = deque()
            while len(self._events) > self.max_keys:
                self._events.popitem(last=False)
        else:
            self._events.move_to_end(key)
        while q and q[0] <= now - self.window_s:
            q.popleft()
        return q

    def wait_s(self, key: Hashable) -> float:
        """0 if one more event of ``key`` fits now, else the seconds until it does."""
        with self._lock:
            now = self.clock()
            q = self._recent(key, now)
            return 0.0 if len(q) < self.limit else q[-self.limit] + self.window_s - now

    def take(self, key: Hashable) -> float:
        """Count one event of ``key`` if it fits (0), else count nothing: the seconds to wait."""
        with self._lock:
            now = self.clock()
            q = self._recent(key, now)
            if len(q) >= self.limit:
                return q[-self.limit] + self.window_s - now
            q.append(now)
            return 0.0

    def forget(self, key: Hashable) -> None:
        with self._lock:
            self._events.pop(key, None)


class Turns:
    """At most ``at_once`` holders per key; up to ``waiting`` more wait in line for their turn
    (first come, first served); past that, none is given. For the event loop's tasks (an
    upload waits here without a thread); every key's line is forgotten when it empties."""

    def __init__(self, at_once: int, waiting: int):
        self.at_once, self.waiting = at_once, waiting
        self._lines: dict[Hashable, list] = {}  # key -> [semaphore, holders and waiters]

    @contextlib.asynccontextmanager
    async def turn(self, key: Hashable):
        """Wait for a turn under ``key``: yields True while it is held, or False at once
        (nothing held, nothing waited for) when ``waiting`` others wait already."""
        import anyio

        line = self._lines.get(key)
        if line is None:
            line = self._lines[key] = [anyio.Semaphore(self.at_once), 0]
        if line[1] >= self.at_once + self.waiting:
            yield False
            return
        line[1] += 1
        try:
            async with line[0]:
                yield True
        finally:
            line[1] -= 1
            if line[1] == 0:
                del self._lines[key]

    def queued(self, key: Hashable) -> int:
        """Holders and waiters under ``key`` now."""
        line = self._lines.get(key)
        return line[1] if line else 0
