"""``mai kit`` and ``mai factsheet``: a participant's starting kit and factsheet on a challenge server."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Optional

import typer

from maikit.cli._common import console, err_console, print_json
from maikit.errors import MaikitError


def register(app: typer.Typer) -> None:
    app.command("kit")(kit)
    app.command("factsheet")(factsheet)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            h.update(block)
    return h.hexdigest()


def kit(
    server: str = typer.Option(..., "--server", help="The challenge server."),
    challenge: str = typer.Option(..., "--challenge", help="Challenge slug."),
    phase: Optional[str] = typer.Option(None, "--phase", help="Only this phase's downloads."),
    out: Optional[Path] = typer.Option(None, "--out", help="Download every file into this folder (sha256 checked; files already there with the right sha256 are kept)."),
    token: Optional[str] = typer.Option(None, "--token", help="Your API token (default: MAI_TOKEN)."),
    as_json: bool = typer.Option(False, "--json", help="Print the listing (and what was downloaded) as JSON."),
) -> None:
    """The challenge's starting kit: list it, or download it with --out."""
    import httpx

    from maikit.cli.submit import Api, _token

    api = Api(server, _token(token))
    files = api.call("GET", f"/api/challenges/{challenge}/kit", params={"phase": phase} if phase else None).json()["files"]
    done = []
    if out is not None:
        for f in files:
            dest = out / f["name"]
            if dest.is_file() and _sha256(dest) == f["sha256"]:
                done.append({"name": f["name"], "path": str(dest), "kept": True})
                continue
            dest.parent.mkdir(parents=True, exist_ok=True)
            tmp = dest.with_name(dest.name + ".part")
            h = hashlib.sha256()
            try:
                with api.http.stream("GET", f"/api/challenges/{challenge}/kit/{f['name']}") as r:
                    if r.status_code != 200:
                        r.read()
                        api.refused(r)
                    with open(tmp, "wb") as fh:
                        for block in r.iter_bytes(1 << 20):
                            h.update(block)
                            fh.write(block)
            except httpx.HTTPError as e:
                tmp.unlink(missing_ok=True)
                raise MaikitError(f"download of {f['name']} from {api.server} broke off ({e})") from None
            if h.hexdigest() != f["sha256"]:
                tmp.unlink(missing_ok=True)
                raise MaikitError(f"downloaded {f['name']} has sha256 {h.hexdigest()}, the listing says {f['sha256']}")
            os.replace(tmp, dest)
            done.append({"name": f["name"], "path": str(dest), "kept": False})
            err_console.print(f"  {f['name']}: {f['size_bytes']:,} bytes, sha256 ok", highlight=False)
    if as_json:
        print_json({"files": files, "downloaded": done} if out is not None else {"files": files})
        return
    if out is None:
        from rich.table import Table

        table = Table(title=f"{challenge} starting kit" + (f" ({phase})" if phase else ""))
        for col in ("Name", "Title", "Kind", "Size, bytes", "sha256"):
            table.add_column(col, justify="right" if col.startswith("Size") else "left")
        for f in files:
            table.add_row(f["name"], f["title"], f["kind"], f"{f['size_bytes']:,}", f["sha256"])
        console.print(table)
    else:
        console.print(f"{len(done)} file(s) in {out} ({sum(d['kept'] for d in done)} already there)", highlight=False)


def factsheet(
    file: Optional[Path] = typer.Argument(None, metavar="[FACTSHEET.yaml|.json]", help="The factsheet to save; without it, show the saved one."),
    server: str = typer.Option(..., "--server", help="The challenge server."),
    challenge: str = typer.Option(..., "--challenge", help="Challenge slug."),
    phase: str = typer.Option(..., "--phase", help="Phase slug (the final phase)."),
    token: Optional[str] = typer.Option(None, "--token", help="Your API token (default: MAI_TOKEN)."),
    as_json: bool = typer.Option(False, "--json", help="Print the saved factsheet as JSON."),
) -> None:
    """Save your team's factsheet for a phase (editable until the phase ends), or show it."""
    from maikit.cli.submit import Api, _token

    api = Api(server, _token(token))
    path = f"/api/challenges/{challenge}/phases/{phase}/factsheet"
    if file is None:
        view = api.call("GET", path).json()
    else:
        try:
            raw = file.read_bytes()
        except OSError as e:
            raise MaikitError(f"cannot read ({e.strerror})", file) from None
        view = api.call("PUT", path, content=raw, headers={"Content-Type": "application/yaml"}).json()
    if as_json:
        print_json(view)
        return
    sheet = view.get("factsheet")
    state = "editable until " + view["closes_at"] if view["editable"] else "closed " + view["closes_at"]
    if sheet is None:
        console.print(f"no factsheet saved for {challenge}/{phase} ({state})", highlight=False)
    else:
        console.print(f"{sheet['team']}: {sheet['title']} (saved {view['updated_at']} by {view['updated_by']}; {state})",
                      highlight=False)
