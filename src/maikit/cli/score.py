"""``mai score``: the challenge final score from fidelity and runtime, and the paper check.

``mai score isp|depth`` applies the ranking formula of ``maikit.scoring``;
``mai score --paper isp|depth`` recomputes every row of the report's Table 1 from its
fidelity and runtime columns and compares with the published score at its printed
precision (exit 1 if a row differs).
"""

from __future__ import annotations

from typing import Optional

import typer

from maikit.cli._common import EXIT_PROBLEMS, console, non_negative, positive, print_json, usage_error
from maikit.scoring import isp_score, depth_score
from maikit.scoring.paper import paper_comparison, paper_rows
from maikit.tasks import get_task

score_app = typer.Typer(
    help="Challenge final score from fidelity + runtime; --paper isp|depth recomputes the "
    "report's Table 1.",
)

_CAPTIONS = {
    "isp": "score = PSNR + a*(0.2 - clip(t)), t in s, clip to [0.03, 5], a = 20 if t <= 0.2 s "
    "else 0.5 (ISP report §2.5)",
    "depth": "score = 2^(-20*si-RMSE) / (C*t), t in s. C = 1/640 is DERIVED from this table "
    "(it reproduces every row); the report does not publish C",
}


def _print_paper(task: str, json_out: bool) -> bool:
    spec = get_task(task)
    rows = paper_comparison(spec)
    ok = all(r["match"] for r in rows)
    if json_out:
        print_json({"task": spec.name, "rows": rows})
        return ok
    from rich.table import Table

    primary = spec.metric(spec.primary_metric)
    table = Table(title=f"{spec.title}: Table 1 final scores, published vs recomputed",
                  caption=_CAPTIONS[spec.name])
    for col, justify in (("team", "left"), (primary.title, "right"), ("runtime, ms", "right"),
                         ("published", "right"), ("computed", "right"), ("exact", "right"),
                         ("match", "center")):
        table.add_column(col, justify=justify)
    for r, row in zip(rows, paper_rows(spec.name)):
        table.add_row(row.team, row.printed.get(primary.name, str(row.metrics[primary.name])),
                      row.printed.get("runtime_ms", f"{row.runtime_ms:g}"), row.score_text,
                      f"{r['computed']:.{row.score_decimals}f}", f"{r['computed']:.4f}",
                      "[green]yes[/]" if r["match"] else "[bold red]NO[/]")
    console.print(table)
    return ok


@score_app.callback(invoke_without_command=True)
def score_root(
    ctx: typer.Context,
    paper: Optional[str] = typer.Option(None, "--paper", metavar="isp|depth",
                                        help="Recompute every row of the report's Table 1 for this task."),
    json_out: bool = typer.Option(False, "--json", help="With --paper: print JSON {task, rows}."),
) -> None:
    """Final challenge scores."""
    if ctx.invoked_subcommand is not None:
        if paper is not None:
            raise usage_error("--paper cannot be combined with a subcommand")
        return
    if paper is None:
        raise usage_error("give a subcommand (isp, depth) or --paper isp|depth")
    if not _print_paper(paper, json_out):
        raise typer.Exit(EXIT_PROBLEMS)


def _print_score(task: str, value: float, detail: str, json_out: bool) -> None:
    if json_out:
        print_json({"task": task, "score": value})
    else:
        console.print(f"{task} final score: [bold]{value:.4f}[/] ({detail})", highlight=False)


@score_app.command("isp")
def isp_command(
    psnr: float = typer.Option(..., "--psnr", callback=non_negative, help="PSNR in dB (0 or more)."),
    runtime_ms: float = typer.Option(..., "--runtime-ms", callback=positive, help="Runtime per image in milliseconds."),
    json_out: bool = typer.Option(False, "--json", help="Print JSON {task, score}."),
) -> None:
    """MAI 2021 ISP score: PSNR + a*(0.2 - clip(t))."""
    _print_score("isp", isp_score(psnr, runtime_ms), f"PSNR {psnr:g} dB, {runtime_ms:g} ms", json_out)


@score_app.command("depth")
def depth_command(
    si_rmse: float = typer.Option(..., "--si-rmse", callback=non_negative, help="si-RMSE (natural log, lambda 1)."),
    runtime_ms: float = typer.Option(..., "--runtime-ms", callback=positive, help="Runtime per image in milliseconds."),
    json_out: bool = typer.Option(False, "--json", help="Print JSON {task, score}."),
) -> None:
    """MAI 2022 depth score: 2^(-20*si-RMSE) / (C*t), C = 1/640 derived from Table 1."""
    _print_score("depth", depth_score(si_rmse, runtime_ms),
                 f"si-RMSE {si_rmse:g}, {runtime_ms:g} ms; C = 1/640 derived", json_out)


def register(app: typer.Typer) -> None:
    app.add_typer(score_app, name="score")
