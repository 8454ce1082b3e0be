"""The one measuring loop of maikit, with LiteRT ``benchmark_model``'s stopping rules.

Every runtime maikit reports comes from :func:`measure` (docs/references.md#runtime):

1. **init**: the backend loads the model (timed: ``init_ms``);
2. **first inference** (timed: ``first_ms``);
3. **warm-up**: runs until at least ``warmup_runs`` runs AND ``warmup_seconds`` have
   passed (or ``max_seconds`` is hit);
4. **measurement**: runs until at least ``runs`` runs AND ``min_seconds`` have passed,
   stopping at ``max_seconds`` whatever the count, and at ``max_runs`` runs (default 20,000;
   a larger ``runs`` wins) before ``min_seconds`` is reached: a model that takes microseconds would otherwise keep hundreds of
   thousands of samples, more than a worker's result may carry to the server (the raw samples
   travel with it for the interval; 20,000 of them give an interval of the median a few
   hundredths of a percent wide).

Defaults are benchmark_model's (50 runs, 1 s min, 150 s max, warm-up 1 run / 0.5 s), held
once in :data:`DEFAULTS` (like benchmark_model's ``DefaultParams()``): the library's
signatures and the CLI's help read them from there. The
MLPerf Mobile profiles set the run count and time limits (quick 128 / 10 s / 60 s, normal
1024 / 60 s / 600 s). Statistics: mean, population std, min, max, p50, p90 (MLPerf's
latency metric) in milliseconds, and the raw per-run times (``samples_ms``). Peak RSS is
measured around init + runs. A measurement is
a :class:`Measurement` (read like a mapping too: ``m["avg_ms"]``, ``{**m}``).

Beside the wall time, every timed run's **CPU time** is recorded: the CPU time of the thread
that runs the inference (:func:`time.thread_time`, read outside the wall-clock window), with
the same statistics as ``cpu_avg_ms`` ... ``cpu_p90_ms`` and ``cpu_samples_ms``. It leaves out
the time the thread was not running (waiting for a CPU, steal by a hypervisor, sleeping on
the other threads or an accelerator): see docs/runtime-measurement.md for when that is a
fair figure. The stopping rules read the wall clock only.

The loop reads time from an injectable ``clock`` (default :func:`time.perf_counter`) and
CPU time from ``cpu_clock`` (default :func:`time.thread_time`), so its rules can be tested
with clocks that advance by a set amount per step.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field, fields
from typing import Callable, Protocol

import numpy as np

from maikit.errors import MaikitError
from maikit.runtime.system import PeakRss


@dataclass(frozen=True)
class LoopSettings:
    """The loop's stopping rules: see the module docstring (all seconds are wall-clock seconds)."""

    runs: int = 50
    min_seconds: float = 1.0
    max_seconds: float = 150.0
    warmup_runs: int = 1
    warmup_seconds: float = 0.5
    max_runs: int = 20000

    def __post_init__(self) -> None:
        if self.runs < 1:
            raise MaikitError(f"`runs` must be at least 1, got {self.runs}")
        if self.warmup_runs < 0:
            raise MaikitError(f"`warmup_runs` must be at least 0, got {self.warmup_runs}")
        if min(self.min_seconds, self.warmup_seconds) < 0 or self.max_seconds <= 0:
            raise MaikitError(
                f"time limits must be non-negative (max positive), got min {self.min_seconds}, "
                f"max {self.max_seconds}, warm-up {self.warmup_seconds}"
            )
        if self.max_runs < 1:
            raise MaikitError(f"`max_runs` must be at least 1, got {self.max_runs}")
        if self.max_seconds < self.min_seconds:
            raise MaikitError(f"`max_seconds` ({self.max_seconds}) is below `min_seconds` ({self.min_seconds})")


DEFAULTS = LoopSettings()
"""benchmark_model's defaults: the one table the library and the CLI read."""

# MLPerf Mobile run rules: (queries, min seconds, max seconds)
PROFILES: dict[str, LoopSettings] = {
    "quick": LoopSettings(runs=128, min_seconds=10.0, max_seconds=60.0),
    "normal": LoopSettings(runs=1024, min_seconds=60.0, max_seconds=600.0),
}


def settings_for(profile: str | None = None, **overrides) -> LoopSettings:
    """Settings of a profile (or the defaults) with explicit values taking precedence."""
    if profile is not None and profile not in PROFILES:
        raise MaikitError(f"unknown profile `{profile}`; choose one of {', '.join(PROFILES)}")
    base = asdict(PROFILES[profile]) if profile else asdict(DEFAULTS)
    base.update({k: v for k, v in overrides.items() if v is not None})
    return LoopSettings(**base)


class Backend(Protocol):
    """What the loop measures: ``load()`` once (timed as init), ``prepare()`` (untimed: set
    the input), then ``step()`` = one inference; ``close()`` releases what load took."""

    name: str

    def load(self) -> None: ...

    def prepare(self) -> None: ...

    def step(self) -> None: ...

    def close(self) -> None: ...


def _run_until(
    step: Callable[[], None], min_runs: int, min_s: float, max_s: float, clock=time.perf_counter,
    cpu_clock: Callable[[], float] | None = None, cpu_times: list[float] | None = None,
    max_runs: int | None = None,
) -> tuple[list[float], float]:
    """Run ``step`` until both ``min_runs`` and ``min_s`` are reached, or ``max_s`` elapsed,
    or ``max_runs`` runs were made (at least ``min_runs``).

    Returns the per-run times and the wall time of the whole loop (seconds); with
    ``cpu_clock``, each run's CPU time is appended to ``cpu_times`` (read outside the
    wall-clock window, so the wall figures are the same with or without it).
    """
    times: list[float] = []
    start = clock()
    elapsed = 0.0
    cap = max(max_runs, min_runs) if max_runs is not None else None
    while (len(times) < min_runs or elapsed < min_s) and elapsed < max_s and (cap is None or len(times) < cap):
        c0 = cpu_clock() if cpu_clock else 0.0
        t0 = clock()
        step()
        t1 = clock()
        if cpu_clock:
            cpu_times.append(cpu_clock() - c0)
        times.append(t1 - t0)
        elapsed = t1 - start
    return times, elapsed


def summarise(times_s: list[float]) -> dict:
    ms = np.asarray(times_s, np.float64) * 1000.0
    if ms.size == 0:
        return {k: None for k in ("avg_ms", "std_ms", "min_ms", "max_ms", "p50_ms", "p90_ms")}
    return {
        "avg_ms": float(ms.mean()),
        "std_ms": float(ms.std()),
        "min_ms": float(ms.min()),
        "max_ms": float(ms.max()),
        "p50_ms": float(np.percentile(ms, 50)),
        "p90_ms": float(np.percentile(ms, 90)),
    }


@dataclass(frozen=True)
class Measurement:
    """One backend measured by :func:`measure`: times in milliseconds, peak RSS growth in MB.

    Reads like a mapping too (``m["avg_ms"]``, ``{**m}``), as the plain dicts it replaces did.
    """

    backend: str
    init_ms: float
    first_ms: float
    warmup_runs: int
    warmup_avg_ms: float | None
    avg_ms: float | None
    std_ms: float | None
    min_ms: float | None
    max_ms: float | None
    p50_ms: float | None
    p90_ms: float | None
    runs: int
    elapsed_s: float
    stopped_by: str  # "runs_and_min_seconds", "max_seconds" or "max_runs"
    peak_rss_mb: float | None
    init_rss_mb: float | None
    rss_method: str
    settings: dict
    samples_ms: list = field(default_factory=list)  # the raw per-run times of the measurement
    # the CPU time of the inference's thread per run (module docstring), same statistics
    cpu_avg_ms: float | None = None
    cpu_std_ms: float | None = None
    cpu_min_ms: float | None = None
    cpu_max_ms: float | None = None
    cpu_p50_ms: float | None = None
    cpu_p90_ms: float | None = None
    cpu_samples_ms: list = field(default_factory=list)

    def as_dict(self) -> dict:
        return asdict(self)

    def keys(self):
        return [f.name for f in fields(self)]

    def __getitem__(self, key: str):
        if key not in self.keys():
            raise KeyError(key)
        return getattr(self, key)

    def __contains__(self, key: object) -> bool:
        return key in self.keys()

    def get(self, key: str, default=None):
        return getattr(self, key, default) if key in self.keys() else default


def measure(backend: Backend, settings: LoopSettings = DEFAULTS, clock: Callable[[], float] = time.perf_counter,
            cpu_clock: Callable[[], float] = time.thread_time) -> Measurement:
    """Load and measure ``backend``; ``clock`` (wall) and ``cpu_clock`` (the inference's
    thread's CPU time) return seconds (injectable for tests)."""
    try:
        return _measure(backend, settings, clock, cpu_clock)
    finally:
        backend.close()


def _measure(backend: Backend, settings: LoopSettings, clock, cpu_clock) -> Measurement:
    with PeakRss() as rss:
        t0 = clock()
        backend.load()
        init_s = clock() - t0
        init_rss = rss.current_delta_mb()
        backend.prepare()
        t0 = clock()
        backend.step()
        first_s = clock() - t0
        warm, _ = _run_until(backend.step, settings.warmup_runs, settings.warmup_seconds, settings.max_seconds, clock)
        cpu: list[float] = []
        runs, elapsed = _run_until(backend.step, settings.runs, settings.min_seconds, settings.max_seconds, clock,
                                   cpu_clock, cpu, settings.max_runs)
    return Measurement(
        backend=backend.name,
        init_ms=init_s * 1000.0,
        first_ms=first_s * 1000.0,
        warmup_runs=len(warm),
        warmup_avg_ms=summarise(warm)["avg_ms"],
        **summarise(runs),
        runs=len(runs),
        elapsed_s=float(elapsed),
        stopped_by=("max_seconds" if elapsed >= settings.max_seconds
                    else "max_runs" if elapsed < settings.min_seconds
                    else "runs_and_min_seconds"),
        peak_rss_mb=rss.peak_delta_mb,
        init_rss_mb=init_rss,
        rss_method=rss.method,
        settings=asdict(settings),
        samples_ms=[t * 1000.0 for t in runs],
        **{f"cpu_{k}": v for k, v in summarise(cpu).items()},
        cpu_samples_ms=[t * 1000.0 for t in cpu],
    )
