"""``mai data``: check a dataset, write synthetic data, fetch the real sample that ships offline.

Thin layer over :mod:`maikit.data`: ``check`` -> ``check_dataset``, ``synth isp`` ->
``synth_isp``, ``synth depth`` -> ``synth_depth``, ``sample-real depth`` ->
``sample_real_depth``. Heavy modules are imported inside the commands so ``mai --help``
stays fast.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Callable, Iterator, Optional

import typer
from rich.markup import escape

from maikit.cli._common import EXIT_PROBLEMS, console, err_console, in_range, print_json, usage_error
from maikit.tasks import RAW_CONVENTIONS, TASK_NAMES, get_raw_convention, get_task

data_app = typer.Typer(
    help="Datasets: validate a folder, write synthetic training data, get a real sample.",
    no_args_is_help=True,
)

MAX_PROBLEM_ROWS = 50
_TASK_HELP = f"Task: {' | '.join(TASK_NAMES)}."
_CONVENTION_HELP = "RAW packing convention (ISP): " + "; ".join(
    f"{c.name} = {c.description}" for c in RAW_CONVENTIONS.values()
)


@contextlib.contextmanager
def _progress(description: str) -> Iterator[Callable[[int, int], None]]:
    """A Rich progress bar on stderr, driven by a ``progress(done, total)`` callback."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=err_console,
        transient=True,
    ) as bar:
        task_id = bar.add_task(description, total=None)

        def update(done: int, total: int) -> None:
            bar.update(task_id, completed=done, total=total)

        yield update


# --------------------------------------------------------------------------------------
# mai data check
# --------------------------------------------------------------------------------------
@data_app.command("check")
def check_cmd(
    path: Path = typer.Argument(..., metavar="DIR", help="A dataset root (train/, val/, test/) or one split folder."),
    task: Optional[str] = typer.Option(None, "--task", "-t", help=_TASK_HELP + " Default: from the folder names."),
    raw_convention: str = typer.Option("mai21", "--raw-convention", help=_CONVENTION_HELP),
    json_out: bool = typer.Option(False, "--json", help="Print JSON {pairs, problems: [{file, reason}], splits} to stdout."),
) -> None:
    """Validate every file: readable complete PNG, dtype, bit depth, sizes, and pairing.

    Exit status: 0 clean; 1 problems found, or the folder is missing or holds no data of the task.
    """
    from maikit.data.check import check_dataset

    from maikit.data.layout import detect_task

    spec = get_task(task or detect_task(path))
    conv = get_raw_convention(raw_convention)
    with _progress(f"checking {spec.name} data") as progress:
        report = check_dataset(path, spec, conv, progress=progress)

    if json_out:
        print_json({**report.to_dict(), "task": spec.name, "ok": report.ok})
    else:
        from rich.table import Table

        table = Table(title=f"{spec.title}: {escape(str(path))}", title_justify="left")
        for col in ("split", "pairs", spec.input_dir, spec.target_dir, "problems"):
            table.add_column(col, justify="left" if col == "split" else "right")
        for name, s in report.splits.items():
            table.add_row(name, str(s["pairs"]), str(s["inputs"]), str(s["targets"]),
                          f"[red]{s['problems']}[/]" if s["problems"] else "0")
        console.print(table)
        if report.problems:
            probs = Table(title="Problems", title_justify="left")
            probs.add_column("file", overflow="fold")
            probs.add_column("reason", overflow="fold")
            for p in report.problems[:MAX_PROBLEM_ROWS]:
                probs.add_row(escape(p.file), escape(p.reason))
            console.print(probs)
            if len(report.problems) > MAX_PROBLEM_ROWS:
                console.print(f"... and {len(report.problems) - MAX_PROBLEM_ROWS} more (use --json for all)")
            files = len({p.file for p in report.problems})
            console.print(f"[red]✗[/] {report.pairs} pairs, {len(report.problems)} problem(s) in {files} file(s)")
        else:
            console.print(f"[green]✓[/] {report.pairs} pairs, no problems")
    if report.problems:
        raise typer.Exit(EXIT_PROBLEMS)


# --------------------------------------------------------------------------------------
# mai data synth
# --------------------------------------------------------------------------------------
def _print_summary(summary: dict, json_out: bool, what: str) -> None:
    if json_out:
        print_json(summary)
        return
    counts = ", ".join(f"{summary[k]} {k}" for k in ("train", "val", "test") if summary.get(k))
    seconds = summary.get("seconds")
    took = f" in {seconds:.1f} s" if isinstance(seconds, (int, float)) else ""
    console.print(f"[green]✓[/] {what}: {counts or 'nothing'} written to {escape(str(summary.get('root', '')))}{took}")
    photos = summary.get("photos")
    if isinstance(photos, dict):
        for split, names in photos.items():
            console.print(f"  {split} photos: {escape(', '.join(map(str, names)))}")
    console.print(f"  check it with: mai data check {escape(str(summary.get('root', '')))}")


@data_app.command("synth")
def synth_cmd(
    task: str = typer.Argument(..., metavar="TASK", help=_TASK_HELP),
    out: Path = typer.Option(..., "--out", "-o", help="Output dataset root (gets train/, val/ and synth.json)."),
    count: int = typer.Option(200, "--count", "-n", min=1, help="Number of training + validation pairs."),
    seed: int = typer.Option(0, "--seed", min=0, help="Random seed (same seed, same files)."),
    val_fraction: float = typer.Option(0.1, "--val-fraction", callback=in_range(0.0, 1.0), help="Share of pairs written to val/ (0 to 1)."),
    photos: Optional[Path] = typer.Option(
        None, "--photos", help="ISP only: folder of JPEG/PNG photos to unprocess (default: scikit-image's photos)."
    ),
    full_res: Optional[int] = typer.Option(
        None, "--full-res", min=1, help="ISP only: also write K whole-photo frames (sides divisible by 32) to test/."
    ),
    patch: Optional[int] = typer.Option(None, "--patch", min=1, help="ISP only: RAW/RGB patch size in pixels (default 256)."),
    json_out: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
) -> None:
    """Write a synthetic dataset in the official layout.

    isp: RAW/RGB pairs made from natural photos by inverting a camera pipeline (validation
    photos are held out from training). depth: rendered scenes with exact depth.
    """
    spec = get_task(task)
    options = {"photos": photos, "full_res": full_res, "patch": patch}
    given = [f"--{k.replace('_', '-')}" for k, v in options.items() if v is not None and k not in spec.synth_options]
    if given:
        raise usage_error(f"{', '.join(given)} only apply to `isp`, not `{spec.name}`")
    with _progress(f"synthesising {spec.name} data") as progress:
        summary = spec.synthesize(out, count, seed=seed, val_fraction=val_fraction, progress=progress,
                                  **{k: v for k, v in options.items() if k in spec.synth_options})
    _print_summary(summary, json_out, f"synthetic {spec.name} data")


# --------------------------------------------------------------------------------------
# mai data sample-real
# --------------------------------------------------------------------------------------
@data_app.command("sample-real")
def sample_real_cmd(
    task: str = typer.Argument(..., metavar="TASK", help="depth (the only task with a real sample that ships offline)."),
    out: Path = typer.Option(..., "--out", "-o", help="Output dataset root."),
    json_out: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
) -> None:
    """Write the real RGB-D sample bundled with scikit-image (Middlebury motorcycle) as a depth dataset."""
    spec = get_task(task)
    _print_summary(spec.sample_real(out), json_out, f"real {spec.name} sample")


def register(app: typer.Typer) -> None:
    app.add_typer(data_app, name="data")
