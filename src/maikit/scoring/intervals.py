"""Confidence intervals of a measured runtime and of the score it gives, and tie groups.

A runtime is a statistic of timed runs (``samples_ms``); the interval says how far that
statistic could move if the same file were measured again in the same conditions:

* ``avg``: the Student-t interval of the mean, ``mean ± t(1 − α/2, n − 1) · s / √n``;
* ``p50`` and ``p90``: the distribution-free order-statistic interval of the quantile q: with
  B ~ Binomial(n, q) the number of samples at or below the true quantile, the sorted samples'
  ``X(j) … X(k)`` (1-based), j the largest rank with P(B ≤ j − 1) ≤ α/2 and k the smallest
  with P(B ≤ k − 1) ≥ 1 − α/2, so that P(X(j) ≤ quantile ≤ X(k)) ≥ 1 − α whatever the
  distribution; too few samples for that (e.g. fewer than 6 for the median at 95 %): none;
* ``min``: none (the minimum has no distribution-free interval).

It covers the noise within one measurement, not the drift between measurements: the drift
attempts' spread (their values' (max − min) / min, MLPerf Mobile's replicability measure)
is reported beside it. The score's interval is the formula applied to the runtime's ends
(both formulas decrease with the runtime: the slow end gives the low score); the fidelity
is computed once on fixed data and has none.

A **tie group** is a set of leaderboard entries whose score intervals overlap, chained: two
entries are tied when their intervals share a point, and a group is a connected component of
that relation (A overlaps B and B overlaps C puts A, B and C in one group even when A and C do
not overlap). An entry without an interval is its point score. See ``docs/ranking.md``.
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Callable, Iterable, Sequence

LEVEL = 0.95
QUANTILES = {"p50": 0.5, "p90": 0.9}


def warm_up() -> None:
    """Import what the intervals need (scipy.stats, about a second) ahead of time: the server
    does it in a thread at start, so the first scoring does not do it inside its transaction."""
    import scipy.stats  # noqa: F401


@lru_cache(maxsize=256)
def quantile_ranks(n: int, q: float, level: float = LEVEL) -> tuple[int, int] | None:
    """The 1-based ranks (j, k) of the order-statistic interval (module docstring), or None."""
    import numpy as np
    from scipy.stats import binom

    tail = (1.0 - level) / 2.0
    cdf = binom.cdf(np.arange(n), n, q)  # cdf[r] = P(B <= r), r = rank - 1
    lows, highs = np.nonzero(cdf <= tail)[0], np.nonzero(cdf >= 1.0 - tail)[0]
    if n < 2 or not len(lows) or not len(highs):
        return None
    return int(lows.max()) + 1, int(highs.min()) + 1


def quantile_interval(samples: Sequence[float], q: float, level: float = LEVEL) -> tuple[float, float] | None:
    """The distribution-free ``level`` interval of the q-quantile (module docstring), or None
    when there are too few samples for it."""
    xs = sorted(float(v) for v in samples)
    ranks = quantile_ranks(len(xs), float(q), level)
    if ranks is None:
        return None
    return xs[ranks[0] - 1], xs[ranks[1] - 1]


def mean_interval(samples: Sequence[float], level: float = LEVEL) -> tuple[float, float] | None:
    """The Student-t ``level`` interval of the mean (None for fewer than two samples)."""
    from scipy.stats import t

    xs = [float(v) for v in samples]
    n = len(xs)
    if n < 2:
        return None
    mean = sum(xs) / n
    sd = math.sqrt(sum((v - mean) ** 2 for v in xs) / (n - 1))
    half = float(t.ppf(1.0 - (1.0 - level) / 2.0, n - 1)) * sd / math.sqrt(n)
    return mean - half, mean + half


METHODS = {"avg": "Student-t interval of the mean", "p50": "order-statistic interval of the median (distribution-free)",
           "p90": "order-statistic interval of the 90th percentile (distribution-free)", "min": None}


def runtime_interval(samples_ms: Sequence[float] | None, statistic: str, level: float = LEVEL) -> dict:
    """``{"method", "level", "n", "low_ms", "high_ms"}`` of the statistic of ``samples_ms``;
    ``low_ms``/``high_ms`` None with a ``note`` when there is no interval."""
    xs = list(samples_ms or [])
    out = {"method": METHODS.get(statistic), "level": level, "n": len(xs), "low_ms": None, "high_ms": None}
    if statistic == "avg":
        ends = mean_interval(xs, level)
    elif statistic in QUANTILES:
        ends = quantile_interval(xs, QUANTILES[statistic], level)
    else:
        out["note"] = "the minimum has no distribution-free interval"
        return out
    if ends is None:
        out["note"] = f"too few samples ({len(xs)}) for a {level:.0%} interval"
        return out
    out["low_ms"], out["high_ms"] = ends
    return out


def attempts_spread(drift: dict | None) -> dict | None:
    """The drift attempts' values and their spread ((max − min) / min), or None without attempts."""
    values = [float(a["value_ms"]) for a in (drift or {}).get("attempts") or [] if a.get("value_ms") is not None]
    if not values:
        return None
    lo, hi = min(values), max(values)
    return {"n": len(values), "low_ms": lo, "high_ms": hi, "spread": (hi - lo) / lo if lo > 0 else None}


def score_interval(score_of: Callable[[float], float], low_ms: float | None, high_ms: float | None) -> tuple | None:
    """The score's interval from the runtime's (the score decreases with the runtime)."""
    if low_ms is None or high_ms is None or low_ms <= 0:
        return None
    return score_of(high_ms), score_of(low_ms)


def tie_groups(intervals: Iterable[tuple[float, float]]) -> list[int | None]:
    """For each entry's (low, high) score interval, its tie group: groups of two or more entries
    are numbered 1, 2, ... in the order of their first entry in ``intervals`` (pass them in rank
    order); an entry tied with nobody gets None."""
    spans = [(min(a, b), max(a, b)) for a, b in intervals]
    order = sorted(range(len(spans)), key=lambda i: spans[i][0])
    component, comp, reach = [0] * len(spans), -1, -math.inf
    for i in order:  # a sweep by low end: a new component starts past the reach of the last
        if spans[i][0] > reach:
            comp += 1
            reach = spans[i][1]
        else:
            reach = max(reach, spans[i][1])
        component[i] = comp
    sizes: dict[int, int] = {}
    for c in component:
        sizes[c] = sizes.get(c, 0) + 1
    numbers: dict[int, int] = {}
    out: list[int | None] = []
    for c in component:
        if sizes[c] < 2:
            out.append(None)
            continue
        numbers.setdefault(c, len(numbers) + 1)
        out.append(numbers[c])
    return out
