"""``mai submission``: one submission on a server, by id: show, logs, cancel, rerun, select,
download (and ``list`` of a phase's). Participants act on their own (or their team's);
organisers on any. The same rules as the web pages (docs/web.md): a participant cancels a
queued or running submission and gets the quota back; ``select`` picks the row a phase
ranked by ``selected`` shows; re-running and downloading files are for organisers."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from maikit.cli._common import console, print_json, say
from maikit.cli.submit import JSON, SERVER, TOKEN, Api, _show, _summary, _token, status
from maikit.errors import MaikitError

ID = typer.Argument(..., metavar="ID", min=1, help="Submission id.")


def register(app: typer.Typer) -> None:
    group = typer.Typer(help="One submission on a server: show, logs, cancel, rerun, select, download; list a phase's.",
                        no_args_is_help=True)
    # show: `mai status` by another name
    for name, fn in (("list", list_submissions), ("show", status), ("logs", logs), ("cancel", cancel), ("rerun", rerun),
                     ("select", select), ("download", download)):
        group.command(name)(fn)
    app.add_typer(group, name="submission")


def _report(sub: dict, as_json: bool, done: str) -> None:
    if as_json:
        print_json(sub)
    else:
        say(done, err=True)
        _show(sub)


def list_submissions(
    challenge: str = typer.Option(..., "--challenge", help="Challenge slug."),
    phase: str = typer.Option("validation", "--phase", help="Phase slug."),
    status: Optional[str] = typer.Option(None, "--status", help="Only this status (Queued, Running, Finished, Failed, Cancelled...)."),
    user: Optional[str] = typer.Option(None, "--user", help="Only this user's (organisers see everyone's)."),
    server: str = SERVER, token: Optional[str] = TOKEN, as_json: bool = JSON,
) -> None:
    """Your submissions in a phase, newest first (an organiser: everyone's)."""
    subs = Api(server, _token(token)).call("GET", f"/api/challenges/{challenge}/phases/{phase}/submissions").json()
    subs = [s for s in subs if (status is None or s["status"].lower() == status.lower()) and (user is None or s["user"] == user)]
    if as_json:
        print_json([_summary(s) | {k: s.get(k) for k in ("user", "created_at", "selected", "parent_id")} for s in subs])
        return
    if not subs:
        say(f"no submission in {challenge}/{phase}" + (" that matches" if status or user else ""))
        return
    from rich.table import Table
    from rich.text import Text

    table = Table(title=Text(f"{challenge} / {phase}"))
    for col in ("#", "user", "uploaded", "status", "score", "runtime, ms", "", "reason"):
        table.add_column(col, justify="right" if col in ("#", "score", "runtime, ms") else "left")
    for s in subs:
        status_text = s["status"] + (f" ({s['stage']})" if s.get("stage") else "")
        cells = (str(s["id"]), s["user"], s["created_at"][:19].replace("T", " "), status_text,
                 "" if s.get("score") is None else f"{s['score']:.2f}",
                 "" if s.get("runtime_ms") is None else f"{s['runtime_ms']:.1f}",
                 "selected" if s.get("selected") else (f"re-run of {s['parent_id']}" if s.get("parent_id") else ""),
                 s.get("reason") or "")  # why it failed or was cancelled (a rejected file: the preflight's reason)
        table.add_row(*(Text(c) for c in cells))  # names and reasons as they are, never read as markup
    console.print(table)


def logs(sub_id: int = ID, server: str = SERVER, token: Optional[str] = TOKEN, as_json: bool = JSON) -> None:
    """The log of every stage: the preflight verdict, then each job's attempts and text."""
    out = Api(server, _token(token)).call("GET", f"/api/submissions/{sub_id}/logs").json()
    if as_json:
        print_json(out)
        return
    for stage, entry in out["stages"].items():
        if entry is None:
            continue
        if stage == "preflight":
            head = "passed" if entry.get("ok") else f"rejected: {entry.get('reason')}"
            say(f"== preflight: {head}")
            continue
        err = f", error: {entry['error']}" if entry.get("error") else ""
        say(f"== {stage}: {entry['status']}, attempt {entry['attempt']}{err}")
        if entry.get("log"):
            say(entry["log"].rstrip("\n"))


def cancel(sub_id: int = ID, server: str = SERVER, token: Optional[str] = TOKEN, as_json: bool = JSON) -> None:
    """Cancel a submission: your own while it is queued or running (the quota is given back);
    an organiser, any."""
    sub = Api(server, _token(token)).call("POST", f"/api/submissions/{sub_id}/cancel").json()
    _report(sub, as_json, f"submission {sub_id} cancelled; it counts toward no quota")


def rerun(sub_id: int = ID, server: str = SERVER, token: Optional[str] = TOKEN, as_json: bool = JSON,
          runtime_only: bool = typer.Option(False, "--runtime-only", help="Measure the runtime again and keep the fidelity result.")) -> None:
    """Run a submission's files again as a new submission, using no quota (organisers)."""
    sub = Api(server, _token(token)).call("POST", f"/api/submissions/{sub_id}/rerun",
                                          params={"runtime_only": "true"} if runtime_only else None).json()
    _report(sub, as_json, f"submission {sub_id} " + ("has its runtime measured again" if runtime_only else "re-runs")
            + f" as {sub['id']}")


def select(sub_id: int = ID, server: str = SERVER, token: Optional[str] = TOKEN, as_json: bool = JSON) -> None:
    """Choose the submission your leaderboard row shows, in a phase ranked by `selected`."""
    sub = Api(server, _token(token)).call("POST", f"/api/submissions/{sub_id}/select").json()
    _report(sub, as_json, f"submission {sub_id} is the one the {sub['challenge']}/{sub['phase']} leaderboard shows for you")


def download(
    sub_id: int = ID,
    role: str = typer.Option("runtime", "--role", help="runtime (model.tflite) or fidelity (model_none.tflite)."),
    out: Path = typer.Option(..., "--out", help="The file to write."),
    server: str = SERVER, token: Optional[str] = TOKEN,
    as_json: bool = typer.Option(False, "--json", help="Print {id, role, out, size_bytes, sha256} as JSON."),
) -> None:
    """A submitted file (organisers)."""
    from maikit.io import atomic_path

    if role not in ("runtime", "fidelity"):
        raise MaikitError(f"`--role` must be runtime or fidelity, got {role!r}")
    body = Api(server, _token(token)).call("GET", f"/api/submissions/{sub_id}/files/{role}").content
    with atomic_path(out) as tmp:
        tmp.write_bytes(body)
    if as_json:
        import hashlib

        print_json({"id": sub_id, "role": role, "out": str(out), "size_bytes": len(body),
                    "sha256": hashlib.sha256(body).hexdigest()})
        return
    say(f"{out}: the {role} file of submission {sub_id} ({len(body)} bytes)", err=True)
