"""Leaderboards in the columns of the reports' Table 1, and fidelity-vs-runtime plots.

Rows come from two places: the published rows (``maikit.scoring.paper``) and results
measured here (``mai eval``). The sort direction of every column is read from the task's
MetricSpec (``higher_is_better``); ranking is by final score, then by the primary fidelity
metric, and only among rows measured on the same device: a runtime from this machine's CPU
and one from a phone APU or a Raspberry Pi do not rank against each other (the score divides
by the runtime), so the published rows are a reference group of their own beside the
measured ones, as on the challenge platform's board.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from rich.table import Table

from maikit.io import atomic_path
from maikit.scoring.paper import paper_rows
from maikit.tasks import TaskSpec

_KB_PER = {"KB": 1.0, "MB": 1000.0}  # the paper tables' size units, in KB
_SIZE_DECIMALS = {"KB": 0, "MB": 2}


@dataclass
class Entry:
    """One leaderboard row: a published solution or a model measured here."""

    name: str
    size_kb: float | None
    metrics: dict[str, float]
    runtime_ms: float
    score: float
    source: str = "measured"  # "paper" or "measured"
    device: str = ""
    extra: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"name": self.name, "size_kb": self.size_kb, **self.metrics, "runtime_ms": self.runtime_ms,
                "score": self.score, "source": self.source, "device": self.device, **self.extra}


PAPER_DEVICE = {"isp": "Dimensity 1000+ APU", "depth": "Raspberry Pi 4 CPU"}
PAPER_DEVICE_SHORT = {"isp": "APU (paper)", "depth": "RPi 4 (paper)"}


def paper_entries(task: TaskSpec) -> list[Entry]:
    return [
        Entry(r.team, r.size_kb, dict(r.metrics), r.runtime_ms, r.score, "paper", PAPER_DEVICE_SHORT[task.name])
        for r in paper_rows(task.name)
    ]


def ranked(entries: list[Entry], task: TaskSpec) -> list[Entry]:
    primary = task.metric(task.primary_metric)
    sign = -1.0 if primary.higher_is_better else 1.0
    return sorted(entries, key=lambda e: (-e.score, sign * e.metrics.get(task.primary_metric, float("nan"))))


def _fmt(v: float | None, digits: int) -> str:
    if v is None:
        return "—"
    return f"{v:.{digits}f}"


_DIGITS = {"psnr": 2, "ssim": 4, "ms_ssim": 4, "si_rmse": 4, "rmse": 2, "log10": 4, "rel": 4}


def device_groups(entries: list[Entry], task: TaskSpec) -> list[tuple[str, list[Entry]]]:
    """The entries by the device they were measured on, each group ranked on its own: measured
    groups first (in order of appearance), the published rows last."""
    groups: dict[tuple[bool, str], list[Entry]] = {}
    for e in entries:
        groups.setdefault((e.source == "paper", e.device or e.source), []).append(e)
    order = sorted(groups, key=lambda k: k[0])  # stable: measured groups keep their order
    return [(device, ranked(groups[(paper, device)], task)) for paper, device in order]


def leaderboard_table(entries: list[Entry], task: TaskSpec, title: str | None = None) -> Table:
    """The rows in Table 1's columns; ``#`` is the rank among rows of the same device (a
    section each: this machine's rows first, then the published rows for reference)."""
    table = Table(title=title or f"{task.title} — leaderboard (ranked per device)", title_justify="left")
    table.add_column("#", justify="right")
    table.add_column("team / model")
    table.add_column(f"size, {task.model_size_unit}", justify="right")
    for m in task.metrics:
        if any(m.name in e.metrics for e in entries):
            arrow = "↑" if m.higher_is_better else "↓"
            table.add_column(f"{m.title} {arrow}", justify="right")
    table.add_column("runtime, ms ↓", justify="right")
    table.add_column("final score ↑", justify="right")
    table.add_column("measured on")
    shown = [m for m in task.metrics if any(m.name in e.metrics for e in entries)]
    groups = device_groups(entries, task)
    if len(groups) > 1:
        table.caption = (f"# ranks rows measured on the same device only; the published rows ({PAPER_DEVICE[task.name]}, "
                         "the report's test data) are a reference beside them, not competitors")
        table.caption_justify = "left"
    for g, (device, rows) in enumerate(groups):
        if g:
            table.add_section()
        for i, e in enumerate(rows, 1):
            size = None if e.size_kb is None else e.size_kb / _KB_PER[task.model_size_unit]
            style = "bold green" if e.source == "measured" else None
            table.add_row(
                str(i), e.name, _fmt(size, _SIZE_DECIMALS[task.model_size_unit]),
                *[_fmt(e.metrics.get(m.name), _DIGITS.get(m.name, 4)) for m in shown],
                _fmt(e.runtime_ms, 1), _fmt(e.score, 2), e.device or e.source, style=style,
            )
    return table


# label offsets from the point, in points, tried in order: right, left, above, below, then further out
_OFFSETS = [(6, 3), (6, -9), (-6, 3), (-6, -9), (0, 9), (0, -15), (10, 12), (10, -20), (-10, 12), (-10, -20),
            (0, 20), (0, -26), (14, 24), (14, -32), (-14, 24), (-14, -32), (0, 32), (0, -38)]


def _place_labels(fig, ax, entries: list[Entry], metric: str) -> None:
    """Label every point where its text overlaps no other label, no other point and stays in
    the axes (the first free place of :data:`_OFFSETS`, the least overlapping one otherwise);
    measured rows are placed first. Drawn with a thin line to the point when moved away."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    frame = ax.get_window_extent(renderer)
    to_px = ax.transData.transform
    points = [to_px((e.runtime_ms, e.metrics[metric])) for e in entries]
    r = 7.0 * fig.dpi / 72.0  # a marker's half size in pixels
    marks = [(x - r, y - r, x + r, y + r) for x, y in points]
    placed: list[tuple[float, float, float, float]] = []

    def overlap(a, b) -> float:
        w = min(a[2], b[2]) - max(a[0], b[0])
        h = min(a[3], b[3]) - max(a[1], b[1])
        return w * h if w > 0 and h > 0 else 0.0

    def label(e: Entry, dx: float, dy: float, line: bool = False):
        return ax.annotate(e.name, (e.runtime_ms, e.metrics[metric]), fontsize=7, xytext=(dx, dy),
                           textcoords="offset points", ha="left" if dx >= 0 else "right",
                           va="bottom" if dy >= 0 else "top",
                           arrowprops=dict(arrowstyle="-", lw=0.5, color="0.5", shrinkA=0, shrinkB=4) if line else None)

    order = sorted(range(len(entries)), key=lambda i: entries[i].source != "measured")
    for i in order:
        e = entries[i]
        best = None
        for dx, dy in _OFFSETS:
            ann = label(e, dx, dy)
            bb = ann.get_window_extent(renderer)
            ann.remove()
            box = (bb.x0, bb.y0, bb.x1, bb.y1)
            outside = (box[0] < frame.x0) + (box[2] > frame.x1) + (box[1] < frame.y0) + (box[3] > frame.y1)
            cost = (sum(overlap(box, b) for b in placed) + sum(overlap(box, m) for j, m in enumerate(marks) if j != i)
                    + 1e6 * outside)
            if best is None or cost < best[0]:
                best = (cost, box, (dx, dy))
            if cost == 0:
                break
        _cost, box, (dx, dy) = best
        label(e, dx, dy, line=abs(dx) > 6 or abs(dy) > 15)
        placed.append(box)


def scatter_plot(entries: list[Entry], task: TaskSpec, path: str | os.PathLike, title: str | None = None) -> Path:
    """Fidelity (primary metric) vs runtime (log scale) with every entry labelled; PNG."""
    import matplotlib.pyplot as plt

    fig = scatter_figure(entries, task, title)
    path = Path(path)
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
    return path


def scatter_figure(entries: list[Entry], task: TaskSpec, title: str | None = None):
    """The figure of :func:`scatter_plot` (matplotlib, Agg); labels placed apart."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    primary = task.metric(task.primary_metric)
    fig, ax = plt.subplots(figsize=(8, 5.5), dpi=110)
    for source, marker, colour in (("paper", "o", "#4c72b0"), ("measured", "*", "#dd4444")):
        pts = [e for e in entries if e.source == source and task.primary_metric in e.metrics]
        if not pts:
            continue
        label = f"published ({PAPER_DEVICE[task.name]})" if source == "paper" else "maikit (this machine, CPU)"
        ax.scatter([e.runtime_ms for e in pts], [e.metrics[task.primary_metric] for e in pts],
                   marker=marker, s=70 if source == "paper" else 180, c=colour, label=label, zorder=3)
    ax.set_xscale("log")
    from matplotlib.ticker import LogLocator, NullFormatter, ScalarFormatter

    ax.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    ax.xaxis.set_major_formatter(ScalarFormatter())
    ax.xaxis.set_minor_formatter(NullFormatter())
    if not primary.higher_is_better:
        ax.invert_yaxis()  # better is always up
    ax.set_xlabel("runtime, ms (log scale)")
    ax.set_ylabel(f"{primary.title} ({'higher' if primary.higher_is_better else 'lower'} is better; better is up)")
    ax.set_title(title or f"{task.title}: fidelity vs runtime")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="best", fontsize=8)
    fig.tight_layout()
    _place_labels(fig, ax, [e for e in entries if task.primary_metric in e.metrics], task.primary_metric)
    return fig
