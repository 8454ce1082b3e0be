"""``mai isp``: use an ISP model on real camera RAW photos (``develop``).

Thin layer over :func:`maikit.train.develop.develop`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from maikit.cli._common import console, err_console, print_json
from maikit.tasks import RAW_CONVENTIONS

isp_app = typer.Typer(help="Learned ISP on real camera RAW photos.", no_args_is_help=True)

_CONVENTION_HELP = "RAW packing convention (default: the run's, else mai21): " + "; ".join(
    f"{c.name} = {c.description}" for c in RAW_CONVENTIONS.values()
)


@isp_app.command("develop")
def develop_cmd(
    photos: Path = typer.Argument(..., metavar="PHOTO.dng|DIR", help="A camera RAW file (DNG, CR2, NEF, ARW, ...) or a folder of them."),
    model: Path = typer.Option(..., "--model", "-m", help="A training run folder, a checkpoint (.pt) or a .tflite file."),
    out: Path = typer.Option(..., "--out", "-o", help="Output folder: <name>.png (and <name>.jpg with --jpeg)."),
    raw_convention: Optional[str] = typer.Option(None, "--raw-convention", help=_CONVENTION_HELP),
    jpeg: bool = typer.Option(False, "--jpeg", help="Also write a JPEG (quality 95)."),
    tile: int = typer.Option(512, "--tile", min=0, help="Tile size in packed pixels incl. overlaps; 0 = never tile (PyTorch models)."),
    overlap: int = typer.Option(32, "--overlap", min=0, help="Margin (packed px) each tile reaches beyond what it keeps."),
    threads: int = typer.Option(2, "--threads", min=1, help="LiteRT threads (.tflite models)."),
    device: str = typer.Option("cpu", "--device", help="PyTorch device: cpu, cuda, cuda:N or auto."),
    json_out: bool = typer.Option(False, "--json", help="Print the developed photos as JSON."),
) -> None:
    """Develop camera RAW photos at full resolution: black level, white level, CFA phase -> packed RAW -> model -> RGB."""
    from maikit.errors import MaikitError
    from maikit.tasks import get_raw_convention
    from maikit.train.develop import develop

    conv = get_raw_convention(raw_convention) if raw_convention is not None else None
    if tile < 0:
        raise MaikitError(f"`--tile` must be 0 (no tiling) or a positive size, got {tile}")
    if overlap < 0:
        raise MaikitError(f"`--overlap` must be >= 0, got {overlap}")
    if threads < 1:
        raise MaikitError(f"`--threads` must be at least 1, got {threads}")
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                  console=err_console, transient=True, disable=json_out) as bar:
        task_id = bar.add_task("developing", total=None)

        def update(done: int, total: int, name: str) -> None:
            bar.update(task_id, completed=done, total=total, description=f"developed {name}")

        result = develop(photos, model, out, raw_convention=conv, jpeg=jpeg, tile=tile or None,
                         overlap=overlap, threads=threads, device=device, progress=update)
    if json_out:
        print_json(result.to_dict())
        return
    for p in result.photos:
        h, w = p["rgb_hw"]
        console.print(f"{escape(Path(p['input']).name)}: {p['cfa']}, white {p['white_level']:g} -> "
                      f"{escape(p['png'])} ({w}x{h}, {p['seconds']:.1f} s)", highlight=False)
    console.print(f"[green]✓[/] {result.model}: developed {len(result.photos)} photo(s) into {escape(str(out))}")


def register(app: typer.Typer) -> None:
    app.add_typer(isp_app, name="isp")
