"""``mai eval``: fidelity on a split + runtime at the challenge shape + final score."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from maikit.cli._common import console, err_console, non_negative, print_json, quiet_libraries, raw_convention_arg


def register(app: typer.Typer) -> None:
    app.command("eval")(eval_)


def eval_(
    model: Path = typer.Argument(..., metavar="FILE.tflite|DIR|RUN", help="A .tflite, a folder with model.tflite / model_none.tflite, or a training run."),
    task: str = typer.Option(..., "--task", help="isp or depth."),
    data: Path = typer.Option(..., "--data", help="A split folder in the official layout (e.g. ROOT/val)."),
    threads: int = typer.Option(2, "--threads", min=1, help="CPU threads for inference and the runtime measurement."),
    runs: int = typer.Option(50, "--runs", min=1, help="Minimum timed runs of the runtime measurement."),
    min_seconds: float = typer.Option(1.0, "--min-seconds", callback=non_negative, help="Minimum timed duration of the runtime measurement."),
    no_xnnpack: bool = typer.Option(False, "--no-xnnpack", help="LiteRT's builtin kernels only, for fidelity and runtime (as a runtime without XNNPACK)."),
    raw_convention: Optional[str] = typer.Option(None, "--raw-convention", help="ISP RAW convention (default: export.json's, else mai21)."),
    convention: Optional[str] = typer.Option(None, "--convention", hidden=True, help="Old name of --raw-convention."),
    as_json: bool = typer.Option(False, "--json", help="Print the results as JSON."),
) -> None:
    """Evaluate a submission like the challenge server: official metrics, runtime, score.

    The model must follow the task's contract: one input image and one output image (`mai
    bench` times any model).
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from maikit.eval import evaluate_model
    from maikit.tasks import get_task

    spec = get_task(task)
    with quiet_libraries(), Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                     console=err_console, transient=True) as bar:
        job = bar.add_task("fidelity", total=None)

        def progress(done: int, total: int, name: str) -> None:
            bar.update(job, completed=done, total=total, description=f"fidelity {name}")

        result = evaluate_model(model, spec, data, bench_kwargs={"threads": threads, "runs": runs, "min_seconds": min_seconds,
                                                                   "xnnpack": not no_xnnpack},
                                progress=progress, convention=raw_convention_arg(raw_convention, convention))
    for w in result.get("warnings", []):
        err_console.print(f"[yellow]warning:[/] {w}", highlight=False)
    if as_json:
        print_json(result)
        return
    from rich.table import Table

    table = Table(title=f"{spec.title}: {result['images']} images", show_header=True)
    for m in spec.metrics:
        table.add_column(m.title, justify="right")
    table.add_column("runtime ms", justify="right")
    table.add_column("score", justify="right")
    table.add_row(*[f"{result[m.name]:.4f}" for m in spec.metrics], f"{result['runtime_ms']:.1f}", f"{result['score']:.2f}")
    console.print(table)
