"""``mai challenge``: the challenge definition file (check, create), an organiser's acts on a
server (list, show, publish, rerun, export) and the report's results section (report,
docs/testing-phase.md); docs/challenge-yaml.md and the README's "Running a challenge"."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Optional

import typer

from maikit.cli._common import EXIT_PROBLEMS, print_json, say
from maikit.cli.submit import JSON, SERVER, TOKEN
from maikit.errors import MaikitError

PHASE = typer.Option(..., "--phase", help="Phase slug, e.g. testing.")


def register(app: typer.Typer) -> None:
    group = typer.Typer(help="Challenges: check and create from a YAML file; list, show, publish, re-run, export "
                             "on a server; the report's results section.",
                        no_args_is_help=True)
    for name, fn in (("check", check), ("create", create), ("list", list_challenges), ("show", show),
                     ("publish", publish), ("rerun", rerun), ("export", export), ("report", report)):
        group.command(name)(fn)
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
            say(f"{file}: {line}", err=True)
    if problems:
        raise typer.Exit(EXIT_PROBLEMS)
    cdef = parse_challenge(obj, str(file), base_dir=file.parent)
    if not as_json:
        where = f" on {server}" if server else ""
        say(f"{file}: ok{where} ({cdef.slug}, task {cdef.task}, phases {', '.join(p.slug for p in cdef.phases)})")


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
        say(f"{out['slug']}: {out['title']} ({', '.join(p['slug'] for p in out['phases'])})")


def _api(server: str, token: Optional[str], required: bool = True):
    from maikit.cli.submit import Api, _token

    return Api(server, _token(token, required=required))


def _phase_line(c: dict, p: dict) -> str:
    state = p["state"]
    if p["kind"] == "test":
        state += ", published" if p["published"] else ", results hidden until published"
    return f"{c['slug']}/{p['slug']}  {p['kind']}  {p['start']} .. {p['end']}  {state}"


def list_challenges(server: str = SERVER, token: Optional[str] = TOKEN, as_json: bool = JSON) -> None:
    """The server's challenges and their phases (open, not open yet or closed; published or not)."""
    out = _api(server, token, required=False).call("GET", "/api/challenges").json()
    if as_json:
        print_json(out)
        return
    if not out:
        say(f"no challenge on {server} yet (an organiser creates one: mai challenge create FILE.yaml)")
    for c in out:
        say(f"{c['slug']}: {c['title']} (task {c['task']})")
        for p in c["phases"]:
            say("  " + _phase_line(c, p))


def show(
    slug: str = typer.Argument(..., metavar="SLUG", help="Challenge slug."),
    server: str = SERVER, token: Optional[str] = TOKEN, as_json: bool = JSON,
) -> None:
    """A challenge: its runtime protocol, leaderboard columns and phases with their rules."""
    c = _api(server, token, required=False).call("GET", f"/api/challenges/{slug}").json()
    if as_json:
        print_json(c)
        return
    pr = c["protocol"]
    lines = [f"{c['slug']}: {c['title']} (task {c['task']})",
             f"runtime on device {pr['device']} (target {pr['target']}), {pr['threads']} threads, statistic {pr['statistic']}"
             f"{' of the CPU time (scored; wall time shown beside it)' if pr.get('statistic_basis') == 'cpu' else ''}, "
             f"at least {pr['min_runs']} runs and {pr['min_seconds']:g} s; uploads up to {c['upload_cap_mb']:g} MB per file",
             "leaderboard: " + ", ".join(col["title"] for col in c["leaderboard"])]
    for p in c["phases"]:
        lines.append(_phase_line(c, p))
        if p["kind"] != "development":
            def limit(v, unit=""):
                return "no limit" if v is None else f"{v}{unit}"
            lines.append(f"    {limit(p['max_submissions_per_day'])} per UTC day, {limit(p['max_submissions'])} in total, "
                         f"{limit(p['max_failed_per_day'])} failed per day; ranking {p['ranking']}; board {p['visibility']}")
    for line in lines:
        say(line)


def publish(
    slug: str = typer.Argument(..., metavar="SLUG", help="Challenge slug."),
    phase: str = PHASE, server: str = SERVER, token: Optional[str] = TOKEN, as_json: bool = JSON,
) -> None:
    """Publish a phase's results: its leaderboard and every score become visible (organisers)."""
    p = _api(server, token).call("POST", f"/api/challenges/{slug}/phases/{phase}/publish").json()
    if as_json:
        print_json(p)
    else:
        say(f"{slug}/{phase}: results published; " + ("the leaderboard stays private (organisers only)"
                                                       if p["visibility"] == "private" else "the leaderboard is public"))


def rerun(
    slug: str = typer.Argument(..., metavar="SLUG", help="Challenge slug."),
    phase: str = PHASE, server: str = SERVER, token: Optional[str] = TOKEN, as_json: bool = JSON,
    runtime_only: bool = typer.Option(False, "--runtime-only", help="Measure the runtimes again and keep the fidelity results."),
    flagged_only: bool = typer.Option(False, "--flagged-only", help="Only the submissions whose runtime result is flagged."),
) -> None:
    """Re-run the newest submission of every participant's lineage in a phase (organisers),
    e.g. after a device or protocol change; no quota is used. ``--runtime-only --flagged-only``
    re-measures the flagged results in one action."""
    params = {k: "true" for k, on in (("runtime_only", runtime_only), ("flagged_only", flagged_only)) if on}
    out = _api(server, token).call("POST", f"/api/challenges/{slug}/phases/{phase}/rerun", params=params or None).json()
    if as_json:
        print_json(out)
        return
    n = out["rerun"]
    ids = ", ".join(map(str, out["submissions"]))
    say(f"{slug}/{phase}: {n} submission{'s' if n != 1 else ''} re-run" + (f" as {ids}" if ids else ""))


def export(
    slug: str = typer.Argument(..., metavar="SLUG", help="Challenge slug."),
    phase: str = PHASE,
    fmt: str = typer.Option("json", "--format", help="json (everything: metrics, runtime samples, fingerprints, "
                            "sha256) or csv (one row per submission)."),
    out: Optional[Path] = typer.Option(None, "--out", help="Write to this file (default: standard output)."),
    server: str = SERVER, token: Optional[str] = TOKEN,
    as_json: bool = typer.Option(False, "--json", help="With --out: print {out, format, submissions} as JSON; "
                                 "without: the export itself, which is JSON."),
) -> None:
    """Every submission of a phase with its results and raw runtime samples (organisers)."""
    from maikit.cli._common import usage_error
    from maikit.io import atomic_path

    if fmt not in ("json", "csv"):
        raise MaikitError(f"`--format` must be json or csv, got {fmt!r}")
    if as_json and out is None and fmt != "json":
        raise usage_error("`--json` without `--out` prints the export as JSON; with `--format csv` give `--out`")
    body = _api(server, token).call("GET", f"/api/challenges/{slug}/phases/{phase}/export", params={"format": fmt}).content
    if out is None:
        sys.stdout.buffer.write(body)
        sys.stdout.flush()
        return
    with atomic_path(out) as tmp:
        tmp.write_bytes(body)
    if fmt == "json":
        n = len(json.loads(body)["submissions"])
    else:
        import csv
        import io

        n = max(len(list(csv.reader(io.StringIO(body.decode())))) - 1, 0)
    if as_json:
        print_json({"out": str(out), "format": fmt, "submissions": n})
        return
    say(f"{out}: {n} submission{'s' if n != 1 else ''} of {slug}/{phase}", err=True)


def report(
    slug: str = typer.Argument(..., metavar="SLUG", help="The challenge."),
    out: Path = typer.Option(..., "--out", help="Folder for results.md, results.tex, figure.svg, figure.pdf, report.json."),
    phase: Optional[str] = typer.Option(None, "--phase", help="The phase (default: the last test phase)."),
    db: Optional[str] = typer.Option(None, "--db", help="Read the platform's database directly (offline), e.g. postgresql+psycopg://user@host/db."),
    data_dir: Optional[Path] = typer.Option(None, "--data-dir", help="Read the SQLite database of a `mai serve --data-dir` folder (offline)."),
    server: Optional[str] = typer.Option(None, "--server", help="Read through a running server's API instead (an organiser's token)."),
    token: Optional[str] = typer.Option(None, "--token", help="With --server: an organiser's API token (default: MAI_TOKEN)."),
    size_unit: Optional[str] = typer.Option(None, "--size-unit", help="Model size in KB or MB (default: KB for isp, MB for depth, as the reports print it)."),
    figure: bool = typer.Option(True, "--figure/--no-figure", help="Draw the fidelity-vs-runtime figure (needs matplotlib)."),
    as_json: bool = typer.Option(False, "--json", help="Print {out, files, rows} as JSON."),
) -> None:
    """Write a phase's results section as the reports print it: Table 1, the fidelity-vs-runtime
    figure with the Pareto front, one subsection per team from its factsheet, Appendix A."""
    from maikit.report import write_report

    sources = [name for name, given in (("--db", db), ("--data-dir", data_dir), ("--server", server)) if given]
    if len(sources) != 1:
        raise MaikitError("give one of --db, --data-dir (offline, from the database) or --server (through the API)")
    if server:
        api = _api(server, token)
        data = api.call("GET", f"/api/challenges/{slug}/phases/{phase}/report" if phase else f"/api/challenges/{slug}/report").json()
    else:
        data = _report_from_db(db or _sqlite_url(data_dir), slug, phase)
    written = write_report(data, out, size_unit=size_unit, figure=figure)
    if as_json:
        print_json({"out": str(out), "files": {k: str(v) for k, v in written.items()},
                    "rows": [{k: r[k] for k in ("rank", "team", "score", "pareto")} for r in data["rows"]]})
        return
    say(f"{slug}/{data['phase']['slug']}: {len(data['rows'])} team{'' if len(data['rows']) == 1 else 's'} -> " + ", ".join(str(p) for p in written.values()))


def _sqlite_url(data_dir: Path) -> str:
    db_file = data_dir / "platform.db"
    if not db_file.is_file():
        raise MaikitError("no platform.db in this folder (a `mai serve --data-dir` folder has one)", data_dir)
    return f"sqlite:///{db_file.resolve()}"


def _report_from_db(url: str, slug: str, phase: Optional[str]) -> dict:
    from sqlalchemy.exc import SQLAlchemyError

    from maikit.server.db.session import Database
    from maikit.server.errors import ServiceError
    from maikit.server.services.reports import report_data

    try:
        database = Database(url)
    except (SQLAlchemyError, ValueError) as e:
        raise MaikitError(f"cannot open the database {url!r} ({str(e).splitlines()[0]})") from None
    try:
        return report_data(database, slug, phase)
    except ServiceError as e:
        raise MaikitError(e.reason) from None
    except SQLAlchemyError as e:
        raise MaikitError(f"cannot read the platform's tables from {url!r} ({str(e).splitlines()[0][:200]}); "
                          "is it a maikit database at the newest schema (mai server migrate)?") from None
    finally:
        database.dispose()
