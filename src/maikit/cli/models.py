"""``mai models``: list the model zoo and show one model's description, recipes and paper row.

Thin layer over :mod:`maikit.models`; :func:`model_summary` and :func:`model_details` are
the plain-data views the commands print (and that other tools can reuse).
"""

from __future__ import annotations

import inspect
import sys

from typing import TYPE_CHECKING

import typer

from maikit.cli._common import console, print_json
from maikit.tasks import get_task

if TYPE_CHECKING:  # the zoo imports PyTorch: loaded by the commands, not by `mai --help`
    from maikit.models._registry import ModelEntry


def _team(entry: ModelEntry) -> str | None:
    return entry.paper.key if entry.paper else entry.extra.get("team")


def model_summary(entry: ModelEntry) -> dict:
    """One row of ``mai models list --json``: params of the exported forward, size as float32 KB."""
    from maikit.models.blocks import param_count

    params = param_count(entry.build())
    return {
        "name": entry.name,
        "task": entry.task,
        "team": _team(entry),
        "params": params,
        "size_kb": params * 4 / 1000.0,
        "paper": entry.paper.to_dict() if entry.paper else None,
        "trainable": entry.trainable,
        "size_multiple": entry.size_multiple,
        "dynamic_shapes": entry.dynamic_shapes,
        "description": entry.description,
    }


def model_details(entry: ModelEntry) -> dict:
    """``mai models show --json``: the summary plus the module docstring, recipes and metadata."""
    module = sys.modules.get(entry.builder.__module__)
    doc = inspect.cleandoc(module.__doc__) if module is not None and module.__doc__ else entry.description
    recipes = None
    if entry.recipes is not None:
        recipes = {"paper": entry.recipes.paper.to_dict(), "fast": entry.recipes.fast.to_dict(),
                   **{k: r.to_dict() for k, r in entry.recipes.extra.items()}}
    return {**model_summary(entry), "doc": doc, "recipes": recipes, "extra": dict(entry.extra)}


def _fidelity(entry: ModelEntry) -> str:
    if entry.paper is None:
        reported = entry.extra.get("reported_psnr")
        return f"PSNR {reported} (reported)" if reported is not None else "-"
    spec = get_task(entry.task)
    metric = spec.metric(spec.primary_metric)
    return f"{metric.title} {entry.paper.printed.get(metric.name, entry.paper.metrics.get(metric.name))}"


def register(app: typer.Typer) -> None:
    sub = typer.Typer(help="The model zoo: every solution of both reports, by name.", no_args_is_help=True)
    app.add_typer(sub, name="models")

    @sub.command("list")
    def list_cmd(
        task: str = typer.Option(None, "--task", "-t", help="Only models of this task: isp or depth."),
        as_json: bool = typer.Option(False, "--json", help="Print JSON to stdout."),
    ) -> None:
        """List registered models with parameter count, size (float32 KB) and their paper row."""
        from rich.table import Table

        from maikit.models import get_model_entry, list_models

        if task is not None:
            task = get_task(task).name
        rows = [(get_model_entry(n), model_summary(get_model_entry(n))) for n in list_models(task)]
        if as_json:
            print_json([r for _, r in rows])
            return
        table = Table(title=f"maikit model zoo{f' ({task})' if task else ''}")
        for col, just in (("name", "left"), ("team", "left"), ("params", "right"), ("size KB (paper)", "right"),
                          ("fidelity (paper)", "left"), ("runtime ms (paper)", "right")):
            table.add_column(col, justify=just, no_wrap=col in ("name", "params"))
        for entry, r in rows:
            paper = entry.paper
            size = f"{r['size_kb']:.1f}" + (f" ({paper.size_kb:g})" if paper else "")
            table.add_row(r["name"], r["team"] or "-", f"{r['params']:,}", size, _fidelity(entry),
                          f"{paper.runtime_ms:g}" if paper else "-")
        console.print(table)

    @sub.command("show")
    def show_cmd(
        name: str = typer.Argument(..., help="Model name, e.g. isp/smallnet (see `mai models list`)."),
        as_json: bool = typer.Option(False, "--json", help="Print JSON to stdout."),
    ) -> None:
        """Show one model: its description and choices, recipes and paper row."""
        from rich.panel import Panel
        from rich.table import Table

        from maikit.models import get_model_entry

        d = model_details(get_model_entry(name))
        if as_json:
            print_json(d)
            return
        console.print(Panel(d["doc"], title=d["name"], subtitle=f"{d['params']:,} params, {d['size_kb']:.1f} KB"))
        meta = Table(show_header=False, box=None)
        for key in ("task", "team", "trainable", "size_multiple", "dynamic_shapes"):
            meta.add_row(key, str(d[key]))
        console.print(meta)
        if d["paper"]:
            paper = Table(title="paper row")
            for k in d["paper"]:
                paper.add_column(k)
            paper.add_row(*(str(v) for v in d["paper"].values()))
            console.print(paper)
        for rname, rec in (d["recipes"] or {}).items():
            t = Table(title=f"recipe: {rname}", show_header=False)
            losses = ", ".join(f"{x['weight']:g}·{x['name']}" for x in rec["losses"])
            t.add_row("losses", losses)
            for key in ("optimizer", "lr", "lr_final", "schedule", "batch_size", "steps", "augment"):
                t.add_row(key, str(rec[key]))
            for st in rec["stages"]:
                sl = ", ".join(f"{x['weight']:g}·{x['name']}" for x in st["losses"])
                opts = f" {st['options']}" if st["options"] else ""
                t.add_row(f"stage {st['name']}", f"{st['fraction']:g} of steps: {sl}{opts}")
            if rec["notes"]:
                t.add_row("notes", rec["notes"])
            console.print(t)
