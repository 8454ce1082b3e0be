"""``mai metrics isp|depth``: official fidelity metrics of a prediction folder vs ground truth."""

from __future__ import annotations

from pathlib import Path

import typer

from maikit.cli._common import console, err_console, print_json
from maikit.tasks import get_task

metrics_app = typer.Typer(
    help="Official fidelity metrics of a folder of predicted PNGs against ground-truth PNGs "
    "(paired by file name).",
    no_args_is_help=True,
)

_PRED_HELP = "Folder of predicted PNGs (same file names as the ground truth)."


def _evaluate(task: str, pred: Path, gt: Path, pooled: bool, json_out: bool) -> None:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
    from rich.table import Table

    from maikit.metrics.evaluate import evaluate_dirs

    spec = get_task(task)
    with Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeRemainingColumn(), TextColumn("{task.fields[name]}"),
                  console=err_console, transient=True) as bar:
        job = bar.add_task(f"{task} metrics", total=None, name="")

        def progress(done: int, total: int, name: str) -> None:
            bar.update(job, completed=done, total=total, name=name)

        result = evaluate_dirs(pred, gt, spec, pooled=pooled, progress=progress)
    if result.get("skipped"):
        err_console.print(f"[yellow]warning:[/] {result['skipped']} image(s) skipped: no valid "
                          "ground-truth pixel (> 1 mm)", highlight=False)
    if json_out:
        print_json(result)
        return
    averaging = ""
    if spec.pooled_metrics:
        averaging = ", pooled pixels" if pooled else ", mean over images"
    table = Table(title=spec.title, caption=f"{result['images']} image(s){averaging}")
    table.add_column("metric")
    table.add_column("value", justify="right")
    table.add_column("unit")
    table.add_column("better")
    for m in spec.metrics:
        table.add_row(m.title or m.name, f"{result[m.name]:.4f}", m.unit,
                      "higher" if m.higher_is_better else "lower")
    console.print(table)


@metrics_app.command("isp")
def isp_command(
    pred: Path = typer.Option(..., "--pred", help=_PRED_HELP + " uint8 RGB."),
    gt: Path = typer.Option(..., "--gt", help="Folder of ground-truth uint8 RGB PNGs (e.g. fujifilm/)."),
    json_out: bool = typer.Option(False, "--json", help="Print JSON {psnr, ssim, ms_ssim, images}."),
) -> None:
    """PSNR, SSIM and MS-SSIM (TensorFlow definitions, max_val 1); PSNR capped at 100 dB per
    image before averaging."""
    _evaluate("isp", pred, gt, False, json_out)


@metrics_app.command("depth")
def depth_command(
    pred: Path = typer.Option(..., "--pred", help=_PRED_HELP + " uint16, millimetres."),
    gt: Path = typer.Option(..., "--gt", help="Folder of ground-truth uint16 depth PNGs in mm (0 = unknown)."),
    pooled: bool = typer.Option(False, "--pooled", help="Pool the valid pixels of all images instead of "
                                "averaging per-image metrics (the report does not say which)."),
    json_out: bool = typer.Option(False, "--json", help="Print JSON {si_rmse, rmse, log10, rel, images, skipped}."),
) -> None:
    """si-RMSE, RMSE (m), LOG10 and REL as the organisers define them; pixels with ground
    truth <= 1 mm are ignored."""
    _evaluate("depth", pred, gt, pooled, json_out)


def register(app: typer.Typer) -> None:
    app.add_typer(metrics_app, name="metrics")
