"""``mai challenge check|create``: the challenge definition file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from maikit.cli._common import EXIT_PROBLEMS, console, err_console, print_json
from maikit.errors import MaikitError


def register(app: typer.Typer) -> None:
    group = typer.Typer(help="Challenge definition files (YAML): check, create on a server.", no_args_is_help=True)
    group.command("check")(check)
    group.command("create")(create)
    app.add_typer(group, name="challenge")


def check(
    file: Path = typer.Argument(..., metavar="FILE.yaml", help="A challenge definition."),
    server: Optional[str] = typer.Option(None, "--server", help="Also check on this server: its reference data "
                                         "folder, the data there, the stored challenge, device tags without a worker."),
    token: Optional[str] = typer.Option(None, "--token", help="An organiser's API token, with --server (default: MAI_TOKEN)."),
    as_json: bool = typer.Option(False, "--json", help="Print {file, ok, problems, warnings} as JSON."),
) -> None:
    """Validate a challenge definition: one line per bad field; exit 1 if any.

    Relative data paths are resolved next to the file. Without --server the reference splits
    must be on this machine; with it, on the server (where the data is read)."""
    from maikit.server.challenge import load_yaml, parse_challenge, problems_of

    warnings: list[str] = []
    try:
        obj = load_yaml(file)
    except MaikitError as e:
        if not as_json:
            raise
        obj, problems = None, [e.reason]
    else:
        problems = problems_of(obj, base_dir=None if server else file.parent)
    if not problems and server:
        from maikit.cli.submit import Api, _token

        cdef = parse_challenge(obj, str(file), base_dir=file.parent)  # the paths as `create` sends them
        out = Api(server, _token(token)).call("POST", "/api/challenges/check", content=cdef.model_dump_json(),
                                              headers={"Content-Type": "application/json"}).json()
        problems, warnings = out["problems"], out["warnings"]
    if as_json:
        print_json({"file": str(file), "ok": not problems, "problems": problems, "warnings": warnings})
    else:
        for line in problems + [f"warning: {w}" for w in warnings]:
            err_console.print(f"{file}: {line}", highlight=False, soft_wrap=True, markup=False)
    if problems:
        raise typer.Exit(EXIT_PROBLEMS)
    cdef = parse_challenge(obj, str(file), base_dir=file.parent)
    if not as_json:
        where = f" on {server}" if server else ""
        console.print(f"{file}: ok{where} ({cdef.slug}, task {cdef.task}, phases {', '.join(p.slug for p in cdef.phases)})",
                      highlight=False, markup=False)


def create(
    file: Path = typer.Argument(..., metavar="FILE.yaml", help="A challenge definition."),
    server: str = typer.Option(..., "--server", help="The challenge server."),
    token: Optional[str] = typer.Option(None, "--token", help="An organiser's API token (default: MAI_TOKEN)."),
    as_json: bool = typer.Option(False, "--json", help="Print the created challenge as JSON."),
) -> None:
    """Create (or update) a challenge on a server from its definition file."""
    from maikit.cli.submit import Api, _token
    from maikit.server.challenge import load_challenge

    cdef = load_challenge(file)  # relative data paths become absolute here
    api = Api(server, _token(token))
    out = api.call("POST", "/api/challenges", content=cdef.model_dump_json(),
                   headers={"Content-Type": "application/json"}).json()
    if as_json:
        print_json(out)
    else:
        console.print(f"{out['slug']}: {out['title']} ({', '.join(p['slug'] for p in out['phases'])})", highlight=False)
