"""A clock for the measuring loop's tests: time moves only when a backend step says so."""

from __future__ import annotations


class FakeClock:
    """Seconds as a float that only :meth:`advance` moves (no sleeping, no wall-clock reads)."""

    def __init__(self, start: float = 100.0):
        self.now = float(start)

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += float(seconds)


class StepBackend:
    """A loop backend whose every step takes ``step_s`` seconds of ``clock``; counts calls."""

    name = "step"

    def __init__(self, clock: FakeClock, step_s: float, load_s: float = 0.0):
        self.clock, self.step_s, self.load_s = clock, step_s, load_s
        self.calls, self.closed = 0, False

    def load(self):
        self.clock.advance(self.load_s)

    def prepare(self):
        pass

    def step(self):
        self.calls += 1
        self.clock.advance(self.step_s)

    def close(self):
        self.closed = True
