"""What every service call needs: the settings, the database, the file store, the clock, the
preflight slots and the one leaderboard cache of this server process (:class:`Platform`,
``app.state.platform`` in the application; the services take it as their first argument)."""

from __future__ import annotations

import contextlib
import os
import threading
from dataclasses import dataclass, field

import anyio
import anyio.to_thread

from maikit.server.core.clock import Clock
from maikit.server.core.config import Settings
from maikit.server.core.limits import SlidingWindow, Turns
from maikit.server.db.session import Database
from maikit.server.errors import RateLimited
from maikit.server.services.leaderboards import BoardCache
from maikit.server.store import FileStore


UPLOAD_RETRY_S = 10.0  # the Retry-After of an upload refused for too many at once


@dataclass
class Platform:
    settings: Settings
    db: Database
    store: FileStore
    clock: Clock = field(default_factory=Clock)
    preflight_slots: threading.BoundedSemaphore = field(init=False)
    upload_threads: anyio.CapacityLimiter = field(init=False)
    # argon2 runs here, as many at once as there are cores: a sign-in flood waits in the
    # event loop, not in the shared thread pool every other request needs
    password_threads: anyio.CapacityLimiter = field(init=False)
    signin_accounts: SlidingWindow = field(init=False)
    signin_addresses: SlidingWindow = field(init=False)
    boards: BoardCache = field(init=False)
    # uploads in progress per account and per client address (docs/security.md)
    account_turns: Turns = field(init=False)
    address_turns: Turns = field(init=False)
    # preflight children forked from one warm process (None: each a fresh interpreter)
    zygote: object | None = field(init=False, default=None)
    # database outages noticed (a request or the reaper found it away) and how many of those
    # notices the reaper has answered by resuming every lease once the database was back
    _outage_notes: int = field(init=False, default=0)
    _outage_resumed: int = field(init=False, default=0)
    _outage_lock: threading.Lock = field(init=False, default_factory=threading.Lock)

    def __post_init__(self) -> None:
        n = self.settings.preflight_concurrency or (os.cpu_count() or 1)
        self.preflight_slots = threading.BoundedSemaphore(n)
        self.upload_threads = anyio.CapacityLimiter(n)
        self.password_threads = anyio.CapacityLimiter(os.cpu_count() or 1)
        st = self.settings
        self.signin_accounts = SlidingWindow(st.signin_account_attempts, st.signin_account_window_s)
        self.signin_addresses = SlidingWindow(st.signin_address_attempts, st.signin_address_window_s)
        per_address = st.uploads_per_address or max(1, n - 1)
        self.account_turns = Turns(st.uploads_per_account, st.upload_waiting)
        self.address_turns = Turns(per_address, st.upload_waiting)
        self.boards = BoardCache(self.db, self.clock, self.settings.leaderboard_fresh_s)
        if self.settings.preflight_zygote:
            from maikit.worker.zygote import Zygote

            self.zygote = Zygote()

    def sandbox(self, func: str, kwargs: dict, limits):
        """Run a sandboxed stage (the preflight) in a child forked from the zygote, else in a
        fresh one (:mod:`maikit.worker.zygote`)."""
        from maikit.worker.sandbox import run_sandboxed

        return (self.zygote.run if self.zygote is not None else run_sandboxed)(func, kwargs, limits)

    def database_down(self) -> bool:
        """Note that the database was found away; True when this starts an outage (none was
        pending), so the caller logs it once."""
        with self._outage_lock:
            new = self._outage_notes == self._outage_resumed
            self._outage_notes += 1
            return new

    def outage_pending(self) -> int | None:
        """A mark for :meth:`outage_answered` while an outage noticed here has not had its
        leases resumed yet; None when none is pending."""
        with self._outage_lock:
            return self._outage_notes if self._outage_notes != self._outage_resumed else None

    def outage_answered(self, mark: int) -> None:
        """Every lease was resumed after the notices up to ``mark``."""
        with self._outage_lock:
            self._outage_resumed = max(self._outage_resumed, mark)

    def now(self):
        return self.clock.now()

    async def run_upload(self, fn, *args):
        """``fn(*args)`` (an upload's preflight and bookkeeping) in a thread of its own pool,
        as many at once as there are preflight slots: uploads waiting their turn wait in the
        event loop, not in threads of the shared pool that every other request needs."""
        return await anyio.to_thread.run_sync(fn, *args, limiter=self.upload_threads)

    @contextlib.asynccontextmanager
    async def upload_turn(self, user_id: int, address: str | None):
        """Wait for this account's and this address's turn to upload (the body, then the
        preflight): at most ``uploads_per_account`` and ``uploads_per_address`` at once, more
        waiting in line; RateLimited when ``upload_waiting`` wait already under either."""
        async with contextlib.AsyncExitStack() as stack:
            for turns, key, who in ((self.account_turns, user_id, "your account"),
                                    (self.address_turns, address, "your address")):
                if key is None:
                    continue
                if not await stack.enter_async_context(turns.turn(key)):
                    raise RateLimited(f"too many uploads from {who} at once: {turns.at_once} at a time, "
                                      f"{turns.waiting} more waiting; send the next when one is done",
                                      retry_after_s=UPLOAD_RETRY_S)
            yield

    async def run_password(self, fn, *args):
        """``fn(*args)`` (argon2: a sign-in, a sign-up, a password change) in a thread of its
        own pool, as many at once as the machine has cores."""
        return await anyio.to_thread.run_sync(fn, *args, limiter=self.password_threads)

    def close(self) -> None:
        if self.zygote is not None:
            self.zygote.close()
        self.db.dispose()
