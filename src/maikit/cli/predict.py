"""``mai predict``: apply a trained run to RAW files (ISP) or photos (depth); writes PNGs."""

from __future__ import annotations

from pathlib import Path

import typer

from maikit.cli._common import console, err_console, print_json


def predict_cmd(
    run: Path = typer.Argument(..., metavar="RUN|CKPT", help="Run folder (uses best.pt, else last.pt) or a checkpoint file."),
    input: Path = typer.Option(..., "--input", "-i", help="A file or a folder (ISP: RAW PNGs; depth: PNG/JPEG photos)."),
    out: Path = typer.Option(..., "--out", "-o", help="Output folder (depth previews go to OUT/preview/)."),
    tile: int = typer.Option(512, "--tile", min=0, help="ISP: tile size in packed pixels incl. overlaps; 0 = never tile."),
    overlap: int = typer.Option(32, "--overlap", min=0, help="ISP: margin (packed px) each tile reaches beyond what it keeps."),
    device: str = typer.Option("cpu", "--device", help="cpu, cuda, cuda:N or auto."),
    json_out: bool = typer.Option(False, "--json", help="Print the written files as JSON."),
) -> None:
    """Predict RGB from RAW (full resolution, seamless tiles) or depth from photos (uint16 mm + preview)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from maikit.train.predict import predict_path

    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                  console=err_console, transient=True) as bar:
        task_id = bar.add_task("predicting", total=None)

        def update(done: int, total: int, name: str) -> None:
            bar.update(task_id, completed=done, total=total, description=f"predicting {name}")

        result = predict_path(run, input, out, tile=tile or None, overlap=overlap, device=device, progress=update)
    if json_out:
        print_json(result.to_dict())
        return
    console.print(f"{result.model_name}: wrote {len(result.outputs)} file(s) to {out}"
                  + (f" (previews in {out / 'preview'})" if result.previews else ""), highlight=False)


def register(app: typer.Typer) -> None:
    app.command("predict")(predict_cmd)
