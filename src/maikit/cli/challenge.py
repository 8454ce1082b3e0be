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
    as_json: bool = typer.Option(False, "--json", help="Print {file, ok, problems} as JSON."),
) -> None:
    """Validate a challenge definition: one line per bad field; exit 1 if any."""
    from maikit.server.challenge import load_yaml, parse_challenge, problems_of

    obj = load_yaml(file)
    problems = problems_of(obj)
    if as_json:
        print_json({"file": str(file), "ok": not problems, "problems": problems})
    else:
        for p in problems:
            err_console.print(f"{file}: {p}", highlight=False, soft_wrap=True)
    if problems:
        raise typer.Exit(EXIT_PROBLEMS)
    cdef = parse_challenge(obj, str(file), base_dir=file.parent)
    if not as_json:
        console.print(f"{file}: ok ({cdef.slug}, task {cdef.task}, phases {', '.join(p.slug for p in cdef.phases)})", highlight=False)


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
