"""``mai submit``, ``mai status``, ``mai leaderboard``: a participant's side of a challenge server."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Optional

import typer

from maikit.cli._common import EXIT_PROBLEMS, console, err_console, print_json
from maikit.errors import MaikitError

DONE = ("Finished", "Failed", "Cancelled")


def register(app: typer.Typer) -> None:
    app.command("submit")(submit)
    app.command("status")(status)
    app.command("leaderboard")(leaderboard)


def _token(token: Optional[str], required: bool = True) -> Optional[str]:
    token = token or os.environ.get("MAI_TOKEN")
    if required and not token:
        raise MaikitError("no API token: pass `--token` or set MAI_TOKEN")
    return token


# the options every command that talks to a server shares
SERVER = typer.Option(..., "--server", help="The challenge server, e.g. http://127.0.0.1:8000.")
TOKEN = typer.Option(None, "--token", help="Your API token (default: MAI_TOKEN).")
JSON = typer.Option(False, "--json", help="Print the server's answer as JSON.")


class Api:
    """Calls to the server with one-line errors for what a participant can hit."""

    def __init__(self, server: str, token: Optional[str]):
        import httpx

        self.server = server.rstrip("/")
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.http = httpx.Client(base_url=self.server, headers=headers, timeout=300)

    def call(self, method: str, path: str, ok=(200, 201), **kw):
        import httpx

        try:
            r = self.http.request(method, path, **kw)
        except httpx.HTTPError as e:
            raise MaikitError(f"cannot reach the server at {self.server} ({e})") from None
        if r.status_code in ok:
            return r
        self.refused(r)

    @staticmethod
    def refused(r) -> None:
        """Raise the server's refusal as a one-line MaikitError (a read response)."""
        try:
            detail = r.json().get("detail")
        except Exception:
            detail = r.text[:200] or r.reason_phrase
        if r.status_code == 401:
            raise MaikitError(f"the server refused the token ({detail})")
        raise MaikitError(f"{detail} (HTTP {r.status_code})")


def _files(path: Path) -> dict[str, Path]:
    if not path.exists():
        raise MaikitError("not found", path)
    if path.is_file():
        return {"file": path}
    files = {"file": path / "model.tflite", "fidelity_file": path / "model_none.tflite"}
    files = {k: v for k, v in files.items() if v.is_file()}
    if "file" not in files:
        if "fidelity_file" in files:
            return {"file": files["fidelity_file"]}
        raise MaikitError("no model.tflite or model_none.tflite in this folder", path)
    return files


def _summary(sub: dict) -> dict:
    """What ``--json`` prints; ``runtime_details``: what a device worker measured beyond the time (the
    backend, drift figures, per-op profile, the delegate's findings), None for the in-process worker."""
    return {k: sub.get(k) for k in ("id", "status", "stage", "metrics", "runtime_ms", "score", "reason", "runtime_details")}


def _show(sub: dict) -> None:
    line = f"submission {sub['id']}: {sub['status']}"
    if sub.get("stage"):
        line += f" ({sub['stage']})"
    if sub.get("score") is not None:
        m = sub.get("metrics") or {}
        metrics = ", ".join(f"{k} {v:.4f}" for k, v in m.items() if isinstance(v, float) and k not in ("runtime_ms", "cpu_ms"))
        cpu = f", CPU time {m['cpu_ms']:.1f} ms" if isinstance(m.get("cpu_ms"), float) else ""
        if m.get("runtime_basis") == "cpu":
            cpu += " (scored)"
        line += f": {metrics}, runtime {sub['runtime_ms']:.1f} ms{cpu}, score {sub['score']:.2f}"
    if sub.get("reason"):
        line += f": {sub['reason']}"
    if sub.get("waiting"):
        line += f": {sub['waiting']}"
    console.print(line, highlight=False, soft_wrap=True, markup=False)  # reasons may quote a model's tensor names


def preflight_warnings(preflight: dict | None) -> list[str]:
    """The findings the preflight passed with (the web reply's table), one line each."""
    out = []
    for f in (preflight or {}).get("findings") or []:
        node = f" node {f['node']}" if f.get("node") is not None else ""
        out.append(f"{f.get('file', 'runtime')} file{node} {f.get('op')} ({f.get('target')}): {f.get('reason')}")
    return out


def progress_line(sub: dict) -> str:
    """What ``--wait`` prints when a submission's status, stage or place in the queue changes."""
    n = sub.get("queue_position")
    pos = f", {n} job{'s' if n != 1 else ''} ahead" if n else ""
    waiting = f": {sub['waiting']}" if sub.get("waiting") else ""
    return f"  {sub['status']}{' / ' + sub['stage'] if sub.get('stage') else ''}{pos}{waiting}"


def _wait(api: Api, sub: dict, poll_s: float = 1.0) -> dict:
    last = None
    while sub["status"] not in DONE:
        state = (sub["status"], sub.get("stage"), sub.get("queue_position"), sub.get("waiting"))
        if state != last:
            err_console.print(progress_line(sub), highlight=False, markup=False)
            last = state
        time.sleep(poll_s)
        sub = api.call("GET", f"/api/submissions/{sub['id']}").json()
    return sub


def submit(
    path: Path = typer.Argument(..., metavar="FILE.tflite|DIR", help="A .tflite, or a folder with model.tflite (runtime) and model_none.tflite (fidelity)."),
    server: str = typer.Option(..., "--server", help="The challenge server, e.g. http://127.0.0.1:8000."),
    token: Optional[str] = typer.Option(None, "--token", help="Your API token (default: MAI_TOKEN)."),
    challenge: str = typer.Option(..., "--challenge", help="Challenge slug, e.g. demo-isp."),
    phase: str = typer.Option("validation", "--phase", help="Phase slug."),
    wait: bool = typer.Option(False, "--wait", help="Follow the submission until it is Finished or Failed."),
    code: Optional[Path] = typer.Option(None, "--code", help="The code archive (.zip, .tar, .tar.gz, .tar.bz2, .tar.xz) of a phase that takes one (a final phase's bundle)."),
    factsheet: Optional[Path] = typer.Option(None, "--factsheet", help="The factsheet (YAML or JSON) of a phase that takes one; once saved it also covers your later uploads."),
    description: str = typer.Option("", "--description", help="What this model is (at most 2000 characters; shown to you and the organisers, as the web form's)."),
    as_json: bool = typer.Option(False, "--json", help="Print {id, status, stage, metrics, runtime_ms, score, reason, runtime_details} as JSON."),
) -> None:
    """Upload a model to a challenge phase; the preflight verdict comes back at once. A final
    phase may need its bundle too: the code archive (--code) and the factsheet (--factsheet)."""
    if len(description) > 2000:
        raise MaikitError(f"`--description` holds at most 2000 characters, got {len(description)}")
    files = _files(path)
    parts = {"code_file": code, "factsheet_file": factsheet}
    for opt, part in (("--code", code), ("--factsheet", factsheet)):
        if part is not None and not part.is_file():
            raise MaikitError(f"{opt}: not a file", part)
    api = Api(server, _token(token))
    handles = {k: open(v, "rb") for k, v in {**files, **{k: v for k, v in parts.items() if v is not None}}.items()}
    try:
        r = api.call("POST", f"/api/challenges/{challenge}/phases/{phase}/submissions", ok=(201, 422),
                     data={"description": description} if description else None, files={k: (f"{k}.tflite" if k in files else parts[k].name, h, "application/octet-stream")
                            for k, h in handles.items()})
    finally:
        for h in handles.values():
            h.close()
    if r.status_code == 422:
        body = r.json()
        if "submission_id" not in body:
            raise MaikitError(f"{body.get('detail')}")
        sub = {"id": body["submission_id"], "status": "Failed", "stage": "preflight", "metrics": None, "runtime_ms": None,
               "score": None, "reason": body["detail"]}
        if as_json:
            print_json(sub | {"counts": body.get("counts"), "quota": body.get("quota")})
        else:
            from rich.text import Text

            err_console.print(Text("rejected:", style="bold red") + Text(f" {body['detail']}"), highlight=False,
                              soft_wrap=True)  # the reason as it is: never read as markup
            if body.get("counts"):
                used = failed_words(body["quota"]) if body.get("quota") else ""
                err_console.print(f"{body['counts']}{'; ' + used if used else ''}", highlight=False, soft_wrap=True,
                                  markup=False)
        raise typer.Exit(EXIT_PROBLEMS)
    sub = r.json()
    err_console.print(f"preflight passed; submission {sub['id']} is {sub['status']}", highlight=False)
    for line in preflight_warnings(sub.get("preflight")):
        err_console.print(f"warning: {line}", highlight=False, soft_wrap=True, markup=False)
    if wait:
        sub = _wait(api, sub)
    _report(sub, as_json)


def failed_words(quota: dict) -> str:
    """``N of M failed attempts used today`` from a quota reply."""
    n, cap = quota.get("failed_today"), quota.get("max_failed_per_day")
    return f"{n} failed attempt(s) today (no limit)" if cap is None else f"{n} of {cap} failed attempts used today"


def _report(sub: dict, as_json: bool) -> None:
    """Print a submission, then the one exit rule of ``mai submit`` and ``mai status`` (with or
    without ``--wait``): exit 1 when it is Failed, else 0."""
    if as_json:
        print_json(_summary(sub))
    else:
        _show(sub)
    if sub["status"] == "Failed":
        raise typer.Exit(EXIT_PROBLEMS)


def status(
    sub_id: int = typer.Argument(..., metavar="ID", min=1, help="Submission id."),
    server: str = typer.Option(..., "--server", help="The challenge server."),
    token: Optional[str] = typer.Option(None, "--token", help="Your API token (default: MAI_TOKEN)."),
    wait: bool = typer.Option(False, "--wait", help="Follow it until it is Finished or Failed."),
    as_json: bool = typer.Option(False, "--json", help="Print as JSON."),
) -> None:
    """Show a submission's status, metrics, runtime and score (or why it failed); exit 1 when it is Failed (as `mai submit`)."""
    api = Api(server, _token(token))
    sub = api.call("GET", f"/api/submissions/{sub_id}").json()
    if wait:
        sub = _wait(api, sub)
    _report(sub, as_json)


def leaderboard(
    server: str = typer.Option(..., "--server", help="The challenge server."),
    challenge: str = typer.Option(..., "--challenge", help="Challenge slug."),
    phase: str = typer.Option("validation", "--phase", help="Phase slug."),
    token: Optional[str] = typer.Option(None, "--token", help="API token (needed for boards that are not public; default: MAI_TOKEN)."),
    as_json: bool = typer.Option(False, "--json", help="Print the board as JSON."),
    as_csv: bool = typer.Option(False, "--csv", help="Print the board as CSV."),
) -> None:
    """A phase's leaderboard in the challenge's columns."""
    api = Api(server, _token(token, required=False))
    if as_csv:
        sys.stdout.write(api.call("GET", f"/api/challenges/{challenge}/phases/{phase}/leaderboard", params={"format": "csv"}).text)
        return
    board = api.call("GET", f"/api/challenges/{challenge}/phases/{phase}/leaderboard").json()
    if as_json:
        print_json(board)
        return
    from rich.table import Table

    basis = ", scored on CPU time" if board.get("runtime_basis") == "cpu" else ""
    table = Table(title=f"{challenge} / {phase} ({board['ranking']}{basis})")
    for col in board["columns"]:
        table.add_column(col["title"], justify="left" if col["key"] == "team" else "right")
    table.add_column("Marks", justify="left")
    for row in board["rows"]:
        table.add_row(*board_cells(row, board["columns"]))
    console.print(table, soft_wrap=True)
    console.print("Runtime and score: the value, then its 95 % interval in brackets; tie N: the entries whose score "
                  "intervals overlap (chained); flagged: the runtime is not a clean measurement (docs/ranking.md).",
                  highlight=False, soft_wrap=True)


def board_cells(row: dict, columns: list[dict]) -> list[str]:
    """One leaderboard row as ``mai leaderboard`` prints it: the columns (runtime and score with
    their interval), then the marks (tie group, flagged, re-run in progress)."""
    ends = {row.get("interval_of", "runtime_ms"): ("runtime_low_ms", "runtime_high_ms"), "score": ("score_low", "score_high")}
    cells = []
    for col in columns:
        v, digits = row.get(col["key"]), col.get("precision", 2)
        if isinstance(v, bool):
            cells.append("*" if v else "")
        elif isinstance(v, float):
            lo, hi = (row.get(k) for k in ends.get(col["key"], ("", "")))
            cells.append(f"{v:.{digits}f}" + (f" [{lo:.{digits}f}, {hi:.{digits}f}]" if lo is not None and hi is not None else ""))
        else:
            cells.append("" if v is None else str(v))
    marks = ([f"tie {row['tie_group']}"] if row.get("tie_group") else []) \
        + (["flagged: " + "; ".join(row.get("flags") or [])] if row.get("flagged") else []) \
        + (["re-run in progress"] if row.get("rerun_in_progress") else [])
    return cells + [", ".join(marks)]
