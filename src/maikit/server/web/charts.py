"""Geometry of the inline SVG charts: the leaderboard's fidelity-vs-runtime scatter with its
Pareto front, and the histogram of a submission's runtime samples. Pure functions; the
templates draw what they return."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

W, H = 640, 360
PAD_L, PAD_R, PAD_T, PAD_B = 64, 16, 16, 48


@dataclass
class Point:
    x: float
    y: float
    label: str
    href: str
    pareto: bool
    own: bool = False


@dataclass
class Scatter:
    width: int = W
    height: int = H
    points: list[Point] = field(default_factory=list)
    front: str = ""  # SVG polyline points of the Pareto front
    xticks: list[tuple[float, str]] = field(default_factory=list)
    yticks: list[tuple[float, str]] = field(default_factory=list)
    xlabel: str = ""
    ylabel: str = ""
    plot: tuple[int, int, int, int] = (PAD_L, PAD_T, W - PAD_L - PAD_R, H - PAD_T - PAD_B)


def _ticks(lo: float, hi: float, n: int = 5) -> list[tuple[float, str]]:
    """Round values between lo and hi, about n of them, labelled with the digits their step needs."""
    if hi <= lo:
        return [(lo, f"{lo:g}")]
    step = 10 ** math.floor(math.log10((hi - lo) / n))
    for m in (1, 2, 2.5, 5, 10):
        if (hi - lo) / (step * m) <= n:
            step *= m
            break
    exp = math.floor(math.log10(step) + 1e-9)
    digits = max(0, -exp + (1 if round(step / 10 ** exp, 6) == 2.5 else 0))
    first = math.ceil(lo / step) * step
    values = [first + i * step for i in range(int((hi - first) / step + 1e-9) + 1)]
    return [(v, f"{v:.{digits}f}") for v in values]


def scatter(rows: list[dict], fid_key: str, fid_title: str, higher_is_better: bool, own_ids: set[int]) -> Scatter | None:
    """Fidelity (y, better up) against runtime (x, ms; log scale when it spans over 10x)."""
    pts = [r for r in rows if r.get(fid_key) is not None and r.get("runtime_ms") is not None]
    if not pts:
        return None
    xs = [float(r["runtime_ms"]) for r in pts]
    ys = [float(r[fid_key]) for r in pts]
    log_x = min(xs) > 0 and max(xs) / min(xs) > 10
    tx = (lambda v: math.log10(v)) if log_x else (lambda v: v)
    x0, x1 = tx(min(xs)), tx(max(xs))
    y0, y1 = min(ys), max(ys)
    # room around single points and flat sets
    dx = (x1 - x0) or max(abs(x0) * 0.1, 0.1)
    dy = (y1 - y0) or max(abs(y0) * 0.01, 0.01)
    x0, x1 = x0 - 0.08 * dx, x1 + 0.08 * dx
    y0, y1 = y0 - 0.08 * dy, y1 + 0.08 * dy
    left, top, pw, ph = PAD_L, PAD_T, W - PAD_L - PAD_R, H - PAD_T - PAD_B

    def px(v: float) -> float:
        return left + (tx(v) - x0) / (x1 - x0) * pw

    def py(v: float) -> float:
        frac = (v - y0) / (y1 - y0)
        return top + ph - (frac if higher_is_better else 1 - frac) * ph

    sc = Scatter(xlabel="Runtime, ms" + (" (log scale)" if log_x else ""),
                 ylabel=f"{fid_title} ({'higher' if higher_is_better else 'lower'} is better, up)")
    for r in pts:
        sc.points.append(Point(round(px(float(r["runtime_ms"])), 1), round(py(float(r[fid_key])), 1),
                               f"#{r['rank']} {r['team']}: {fid_title} {r[fid_key]:.4g}, {r['runtime_ms']:.4g} ms",
                               f"#row-{r['submission_id']}", bool(r.get("pareto")), r["submission_id"] in own_ids))
    front = sorted((p for p in sc.points if p.pareto), key=lambda p: p.x)
    sc.front = " ".join(f"{p.x},{p.y}" for p in front)
    if log_x:
        lo, hi = math.floor(x0), math.ceil(x1)
        cand = [m * 10 ** e for e in range(lo, hi + 1) for m in (1, 2, 5)]
        xt = [(v, f"{v:g}") for v in cand if x0 <= math.log10(v) <= x1]
    else:
        xt = [(v, label) for v, label in _ticks(x0, x1) if x0 <= v <= x1]
    sc.xticks = [(round(px(v), 1), label) for v, label in xt]
    sc.yticks = [(round(py(v), 1), label) for v, label in _ticks(y0, y1) if y0 <= v <= y1]
    return sc


@dataclass
class Histogram:
    width: int
    height: int
    bars: list[tuple[float, float, float, float, str]]  # x, y, w, h, title
    lo: float
    hi: float
    n: int


def histogram(samples: list[float], bins: int = 20, width: int = 480, height: int = 120) -> Histogram | None:
    """Counts of runtime samples in equal bins between their minimum and maximum."""
    if not samples:
        return None
    lo, hi = min(samples), max(samples)
    bins = max(1, min(bins, len(samples)))
    span = (hi - lo) or 1e-9
    counts = [0] * bins
    for v in samples:
        counts[min(bins - 1, int((v - lo) / span * bins))] += 1
    top = max(counts)
    bw = width / bins
    bars = []
    for i, c in enumerate(counts):
        h = (height - 4) * c / top
        a, b = lo + span * i / bins, lo + span * (i + 1) / bins
        bars.append((round(i * bw, 1), round(height - h, 1), round(bw - 1, 1), round(h, 1),
                     f"{c} run{'s' if c != 1 else ''} in {a:.3f}–{b:.3f} ms"))
    return Histogram(width, height, bars, lo, hi, len(samples))
