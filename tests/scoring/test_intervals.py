"""Runtime intervals, score intervals and tie groups (maikit.scoring.intervals) against
independent calculations: tabulated Student-t quantiles, exact binomial sums written out with
math.comb, the published median-interval ranks, a coverage simulation, and tie groups as the
connected components of the overlap graph found by a plain graph search."""

from __future__ import annotations

import math
import random
import statistics

import pytest

from maikit.scoring import isp_score
from maikit.scoring.intervals import (attempts_spread, mean_interval, quantile_interval, runtime_interval,
                                      score_interval, tie_groups)

SAMPLES = [10.0 + ((i * 7) % 13) * 0.1 + (i % 3) * 0.05 for i in range(50)]
T_975 = {9: 2.262157, 49: 2.009575}  # Student-t 0.975 quantiles from a printed table


@pytest.mark.parametrize("n", [10, 50])
def test_the_mean_interval_is_the_t_interval(n):
    xs = SAMPLES[:n]
    half = T_975[n - 1] * statistics.stdev(xs) / math.sqrt(n)
    lo, hi = mean_interval(xs)
    assert lo == pytest.approx(statistics.mean(xs) - half, rel=1e-6)
    assert hi == pytest.approx(statistics.mean(xs) + half, rel=1e-6)
    r = runtime_interval(xs, "avg")
    assert (r["low_ms"], r["high_ms"], r["n"], r["level"]) == (lo, hi, n, 0.95)


def _binom_le(m: int, n: int, q: float) -> float:
    return sum(math.comb(n, i) * q**i * (1 - q) ** (n - i) for i in range(m + 1))


def _ranks(n: int, q: float) -> tuple[int, int] | None:
    """The equal-tailed order-statistic ranks, by exact sums."""
    lows = [j for j in range(1, n + 1) if _binom_le(j - 1, n, q) <= 0.025]
    highs = [k for k in range(1, n + 1) if _binom_le(k - 1, n, q) >= 0.975]
    return (max(lows), min(highs)) if lows and highs else None


def test_the_median_interval_has_the_published_ranks():
    assert _ranks(50, 0.5) == (18, 33)  # the 95 % median interval for n = 50 in the usual tables
    xs = sorted(SAMPLES)
    assert quantile_interval(SAMPLES, 0.5) == (xs[17], xs[32])
    assert runtime_interval(SAMPLES, "p50")["low_ms"] == xs[17]


@pytest.mark.parametrize("n, q", [(100, 0.9), (60, 0.9), (6, 0.5), (23, 0.5)])
def test_quantile_intervals_match_exact_binomial_sums(n, q):
    rng = random.Random(n)
    xs = [rng.expovariate(1.0) + 5 for _ in range(n)]
    j, k = _ranks(n, q)
    assert quantile_interval(xs, q) == (sorted(xs)[j - 1], sorted(xs)[k - 1])


def test_too_few_samples_give_no_interval():
    assert quantile_interval([1.0, 2, 3, 4, 5], 0.5) is None  # 1/32 > 2.5 %: no lower rank
    assert _ranks(5, 0.5) is None
    r = runtime_interval([1.0, 2, 3], "p90")
    assert r["low_ms"] is None and "too few samples (3)" in r["note"]
    assert runtime_interval(SAMPLES, "min")["low_ms"] is None


def test_the_median_interval_covers_the_true_median_at_least_95_percent_of_the_time():
    rng = random.Random(0)
    true_median = math.log(2)  # of the exponential distribution with rate 1 (a skewed, timing-like shape)
    trials, hits = 2000, 0
    for _ in range(trials):
        lo, hi = quantile_interval([rng.expovariate(1.0) for _ in range(50)], 0.5)
        hits += lo <= true_median <= hi
    assert hits / trials >= 0.94  # nominal >= 95 %, less 1 point of simulation noise


def test_the_score_interval_maps_the_runtime_ends():
    # ISP: score = PSNR + alpha * (0.2 - clip(t)), t in s, alpha 20 at or below 0.2 s
    assert score_interval(lambda ms: isp_score(25.0, ms), 40.0, 60.0) == pytest.approx((25 + 20 * 0.14, 25 + 20 * 0.16))
    assert score_interval(lambda ms: isp_score(25.0, ms), None, 60.0) is None


def test_the_attempts_spread():
    d = {"attempts": [{"value_ms": 78.6}, {"value_ms": 245.6}, {"value_ms": 100.0}]}
    assert attempts_spread(d) == {"n": 3, "low_ms": 78.6, "high_ms": 245.6, "spread": pytest.approx((245.6 - 78.6) / 78.6)}
    assert attempts_spread(None) is None


def _components(spans):
    """Groups by a plain breadth-first search over every overlapping pair."""
    n, seen, groups = len(spans), set(), []
    for start in range(n):
        if start in seen:
            continue
        todo, comp = [start], set()
        while todo:
            i = todo.pop()
            if i in comp:
                continue
            comp.add(i)
            todo += [j for j in range(n) if j not in comp and spans[i][0] <= spans[j][1] and spans[j][0] <= spans[i][1]]
        seen |= comp
        groups.append(comp)
    out, number = [None] * n, 0
    for comp in sorted(groups, key=min):
        if len(comp) > 1:
            number += 1
            for i in comp:
                out[i] = number
    return out


def test_tie_groups_chain_overlaps():
    # in rank order (best first): F alone; E and D overlap; C-B and B-A overlap, C and A do not
    spans = [(30, 30), (20.5, 22), (20, 21), (12.8, 14), (11.5, 13), (10, 12)]
    assert tie_groups(spans) == [None, 1, 1, 2, 2, 2] == _components(spans)


def test_tie_groups_match_a_graph_search_on_random_boards():
    rng = random.Random(1)
    for _ in range(300):
        centres = sorted((rng.uniform(0, 50) for _ in range(rng.randint(1, 12))), reverse=True)
        spans = [(c - w, c + w) for c in centres for w in [rng.choice([0.0, rng.uniform(0, 3)])]]
        assert tie_groups(spans) == _components(spans)
