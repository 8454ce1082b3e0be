"""Leaderboards in the columns of the reports' Table 1, and fidelity-vs-runtime plots.

Rows come from two places: the published rows (``maikit.scoring.paper``) and results
measured here (``mai eval``). The sort direction of every column is read from the task's
MetricSpec (``higher_is_better``); ranking is by final score, then by the primary fidelity
metric. The future challenge server renders its leaderboard with the same functions.
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


def leaderboard_table(entries: list[Entry], task: TaskSpec, title: str | None = None) -> Table:
    table = Table(title=title or f"{task.title} — leaderboard", title_justify="left")
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
    for i, e in enumerate(ranked(entries, task), 1):
        size = None if e.size_kb is None else e.size_kb / _KB_PER[task.model_size_unit]
        style = "bold green" if e.source == "measured" else None
        table.add_row(
            str(i), e.name, _fmt(size, _SIZE_DECIMALS[task.model_size_unit]),
            *[_fmt(e.metrics.get(m.name), _DIGITS.get(m.name, 4)) for m in shown],
            _fmt(e.runtime_ms, 1), _fmt(e.score, 2), e.device or e.source, style=style,
        )
    return table


def scatter_plot(entries: list[Entry], task: TaskSpec, path: str | os.PathLike, title: str | None = None) -> Path:
    """Fidelity (primary metric) vs runtime (log scale) with every entry labelled; PNG."""
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
        for e in pts:
            ax.annotate(e.name, (e.runtime_ms, e.metrics[task.primary_metric]), fontsize=7,
                        xytext=(4, 3), textcoords="offset points")
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
    path = Path(path)
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
    return path
