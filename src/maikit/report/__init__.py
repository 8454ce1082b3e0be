"""The results section of a challenge report, generated from a finished phase: Table 1 in the
reports' columns (team, author, framework, model size, the task's fidelity metrics, runtime,
final score) in the phase's ranking order with the Pareto front marked, the fidelity-vs-runtime
figure (SVG and PDF, front drawn), one subsection per team from its factsheet, and the team
list of Appendix A; as Markdown (``results.md``) and LaTeX (``results.tex``, to ``\\input``).

Input is the phase's report data, a plain dict (what the server's
``GET /api/challenges/{slug}/phases/{phase}/report`` returns and
:func:`maikit.server.services.reports.report_data` builds; its shape is :func:`write_report`'s
docstring), so this package needs no server and no database. ``mai challenge report`` writes
it.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from maikit.errors import MaikitError
from maikit.report.table import SIZE_UNITS, Table, build_table

__all__ = ["SIZE_UNITS", "Table", "build_table", "write_report"]

FILES = ("results.md", "results.tex", "figure.svg", "figure.pdf", "report.json")


def write_report(data: dict, out: str | os.PathLike, *, size_unit: str | None = None, figure: bool = True) -> dict[str, Path]:
    """Write the results section of ``data`` into ``out``; the paths written, by name.

    ``data``: ``{"challenge": {"slug", "title", "task"}, "phase": {"slug", "title", "kind",
    "ranking"}, "columns": [{"key", "title", "precision", "sort"}...] (the challenge's
    leaderboard columns: their precision is used), "rows": [{"rank", "team", "author",
    "submission_id", "size_bytes", "metrics": {name: value}, "runtime_ms", "score", "pareto",
    "factsheet": {...} | None}...]}`` in ranking order. Each file is written whole to a
    temporary name and renamed into place, so a report already in ``out`` is never left half
    overwritten. ``figure=False`` skips the figure (and matplotlib)."""
    from maikit.report.latex import latex_section
    from maikit.report.markdown import markdown_section

    table = build_table(data, size_unit)
    out = Path(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise MaikitError(f"cannot create the output folder ({e.strerror})", out) from None
    texts = {"results.md": markdown_section(data, table, figure), "results.tex": latex_section(data, table, figure),
             "report.json": json.dumps(data, indent=2, ensure_ascii=False) + "\n"}
    with tempfile.TemporaryDirectory(dir=out, prefix=".report-") as tmp:
        staged = {}
        for name, text in texts.items():
            (Path(tmp) / name).write_text(text, encoding="utf-8")
            staged[name] = Path(tmp) / name
        if figure:
            from maikit.report.figure import draw_figure

            staged.update(draw_figure(data, Path(tmp)))
        written = {}
        for name, path in staged.items():
            os.replace(path, out / name)
            written[name] = out / name
    return written
