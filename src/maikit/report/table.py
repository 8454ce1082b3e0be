"""Table 1: its columns, as the reports print them, and its cells as text.

Columns: Team, Author, Framework, Model Size (KB for the ISP task, MB for depth, as the two
reports print them; the submitted runtime file's size), the fidelity metrics of the
challenge's leaderboard columns in their order (every metric of the task when the leaderboard
names none), Runtime (ms) and Final Score. Numbers are printed at the precision of the
leaderboard column of the same key, so what the leaderboard shows and what the report prints
agree; the leaderboard's columns are where an organiser chooses both.
"""

from __future__ import annotations

from dataclasses import dataclass

from maikit.errors import MaikitError

# how the reports print the model size: unit, bytes per unit, decimals
SIZE_UNITS = {"KB": (1e3, 0), "MB": (1e6, 1)}
TASK_SIZE_UNIT = {"isp": "KB", "depth": "MB"}
DEFAULT_PRECISION = 4


@dataclass(frozen=True)
class Col:
    key: str
    title: str
    arrow: str  # "up", "down" or ""
    numeric: bool


@dataclass(frozen=True)
class Table:
    columns: tuple[Col, ...]
    rows: tuple[tuple[str, ...], ...]  # the cells as printed (team without its mark)
    pareto: tuple[bool, ...]
    primary: str  # the task's primary fidelity metric
    primary_title: str
    higher_is_better: bool
    size_unit: str

    def cell(self, row: int, key: str) -> str:
        return self.rows[row][[c.key for c in self.columns].index(key)]


def fmt(value: float | None, precision: int) -> str:
    return "—" if value is None else f"{value:.{precision}f}"


def build_table(data: dict, size_unit: str | None = None) -> Table:
    """Table 1 of ``data`` (see :func:`maikit.report.write_report`)."""
    from maikit.tasks import get_task

    task = data["challenge"]["task"]
    spec = get_task(task)
    unit = size_unit or TASK_SIZE_UNIT.get(task, "KB")
    if unit not in SIZE_UNITS:
        raise MaikitError(f"unknown model size unit `{unit}`; choose one of {', '.join(SIZE_UNITS)}")
    per_unit, size_decimals = SIZE_UNITS[unit]
    board = data.get("columns") or []
    precision = {c["key"]: int(c.get("precision", DEFAULT_PRECISION)) for c in board}
    by_name = {m.name: m for m in spec.metrics}
    metrics = [by_name[c["key"]] for c in board if c["key"] in by_name] or list(spec.metrics)
    cols = [Col("team", "Team", "", False), Col("author", "Author", "", False), Col("framework", "Framework", "", False),
            Col("size", f"Model Size, {unit}", "", True)]
    cols += [Col(m.name, m.title or m.name, "up" if m.higher_is_better else "down", True) for m in metrics]
    cols += [Col("runtime_ms", "Runtime, ms", "down", True), Col("score", "Final Score", "", True)]
    rows = []
    for r in data["rows"]:
        sheet = r.get("factsheet") or {}
        values = r.get("metrics") or {}
        size = r.get("size_bytes")
        cells = [r["team"], r.get("author") or "", sheet.get("framework") or "—",
                 fmt(size / per_unit if size is not None else None, size_decimals)]
        cells += [fmt(values.get(m.name), precision.get(m.name, DEFAULT_PRECISION)) for m in metrics]
        cells += [fmt(r.get("runtime_ms"), precision.get("runtime_ms", 1)), fmt(r.get("score"), precision.get("score", 2))]
        rows.append(tuple(cells))
    primary = next(m for m in spec.metrics if m.name == spec.primary_metric)
    return Table(tuple(cols), tuple(rows), tuple(bool(r.get("pareto")) for r in data["rows"]), primary.name,
                 primary.title or primary.name, primary.higher_is_better, unit)
