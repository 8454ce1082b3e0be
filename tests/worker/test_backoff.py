"""A worker whose server does not answer retries with growing, jittered waits and never
exits; the waits start over once the server answers."""

from __future__ import annotations

import random
import threading

from _fixtures import free_port

from maikit.worker.loop import Backoff, Worker


def test_backoff_doubles_to_its_cap_with_jitter_and_resets():
    b = Backoff(first=0.5, cap=4.0, rng=random.Random(1))
    delays = [b.next() for _ in range(7)]
    nominal = [0.5, 1.0, 2.0, 4.0, 4.0, 4.0, 4.0]
    assert all(n / 2 <= d < n for d, n in zip(delays, nominal)), delays
    assert len({round(d / n, 6) for d, n in zip(delays, nominal)}) == len(delays)  # a fresh random factor each time
    b.reset()
    assert 0.25 <= b.next() < 0.5
    # two workers that lost the same server at the same moment do not retry in step
    x, y = Backoff(rng=random.Random(2)), Backoff(rng=random.Random(3))
    assert [x.next() for _ in range(4)] != [y.next() for _ in range(4)]


class _Waits(threading.Event):
    """A stop event that records the waits asked of it and returns at once; set after ``n``."""

    def __init__(self, n: int):
        super().__init__()
        self.n, self.waits = n, []

    def wait(self, timeout=None):
        self.waits.append(timeout)
        if len(self.waits) >= self.n:
            self.set()
        return self.is_set()


def test_a_worker_without_its_server_retries_with_backoff_and_does_not_exit():
    stop = _Waits(8)
    w = Worker(f"http://127.0.0.1:{free_port()}", "mai_w_x", name="w", stop=stop)  # nothing listens there: refused
    w.run()  # returns only because the stop event was set after 8 waits
    assert len(stop.waits) == 8 and w.worker_id is None
    nominal = [0.5, 1.0, 2.0, 4.0, 8.0, 10.0, 10.0, 10.0]
    assert all(n / 2 <= d < n for d, n in zip(stop.waits, nominal)), stop.waits
