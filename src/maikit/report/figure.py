"""The fidelity-vs-runtime figure (SVG and PDF, matplotlib): one labelled point per team, the
Pareto front joined by a step line, runtime on a log axis when it spans more than a decade,
and the fidelity axis turned so that up is better for a metric where lower is better.

Both files are reproducible: no dates in their metadata, a fixed SVG id salt, text kept as
text in the SVG (so a test, or a search, finds each team's label)."""

from __future__ import annotations

from pathlib import Path

from maikit.errors import MaikitError

FRONT_GID = "pareto-front"


def draw_figure(data: dict, out: Path) -> dict[str, Path]:
    from maikit.report.table import build_table

    try:
        import matplotlib
    except ModuleNotFoundError:
        raise MaikitError("the figure needs matplotlib (pip install 'maikit[full]'), or pass --no-figure") from None
    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    table = build_table(data)
    pts = []
    for r in data["rows"]:
        fid, rt = (r.get("metrics") or {}).get(table.primary), r.get("runtime_ms")
        if fid is not None and rt is not None and rt > 0:
            pts.append((float(rt), float(fid), r["team"], bool(r.get("pareto"))))
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "maikit-report", "font.size": 9}):
        fig, ax = plt.subplots(figsize=(6.4, 4.2))
        ax.scatter([p[0] for p in pts if not p[3]], [p[1] for p in pts if not p[3]], s=28, color="#7a7a7a", zorder=3,
                   label="solution")
        ax.scatter([p[0] for p in pts if p[3]], [p[1] for p in pts if p[3]], s=40, color="#c0392b", zorder=4,
                   label="Pareto front")
        front = sorted((p for p in pts if p[3]), key=lambda p: p[0])
        if front:
            (line,) = ax.step([p[0] for p in front], [p[1] for p in front], where="post", color="#c0392b", lw=1.2, zorder=2)
            line.set_gid(FRONT_GID)
        for rt, fid, team, _on in pts:
            ax.annotate(team, (rt, fid), textcoords="offset points", xytext=(4, 4), fontsize=7)
        if pts and max(p[0] for p in pts) > 10 * min(p[0] for p in pts):
            ax.set_xscale("log")
        if not table.higher_is_better:
            ax.invert_yaxis()
        ax.set_xlabel("Runtime, ms")
        ax.set_ylabel(table.primary_title + (" (higher is better)" if table.higher_is_better else " (lower is better, axis turned)"))
        ax.set_title(f"{data['challenge']['title']}: {table.primary_title} against runtime")
        ax.grid(True, alpha=0.3)
        if pts:
            ax.legend(loc="lower right" if table.higher_is_better else "upper right", fontsize=7)
        fig.tight_layout()
        paths = {"figure.svg": out / "figure.svg", "figure.pdf": out / "figure.pdf"}
        fig.savefig(paths["figure.svg"], format="svg", metadata={"Date": None})
        fig.savefig(paths["figure.pdf"], format="pdf", metadata={"CreationDate": None})
        plt.close(fig)
    return paths
