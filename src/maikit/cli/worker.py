"""``mai worker``: serve a challenge server's jobs from this machine."""

from __future__ import annotations

from typing import List, Optional

import typer

from maikit.cli._common import err_console, handle_errors
from maikit.errors import MaikitError


def register(app: typer.Typer) -> None:
    app.command("worker")(worker)


@handle_errors
def worker(
    server: str = typer.Option(..., "--server", help="The challenge server, e.g. http://host:8000."),
    token: Optional[str] = typer.Option(None, "--token", help="A worker token (default: MAI_WORKER_TOKEN)."),
    name: Optional[str] = typer.Option(None, "--name", help="Worker name (default: host-pid)."),
    roles: str = typer.Option("fidelity,runtime", "--roles", help="Comma-separated: fidelity, runtime."),
    device: str = typer.Option("litert-cpu", "--device", help="Device tag this worker measures on."),
    data: List[str] = typer.Option([], "--data", help="CHALLENGE[/validation|test]=DIR: reference split folder on this machine (repeatable)."),
    wait_s: float = typer.Option(20.0, "--wait", help="Long-poll seconds of each claim."),
) -> None:
    """Pull jobs (fidelity on reference data, runtime on this device) and run them sandboxed."""
    import logging
    import os

    from maikit.worker.loop import Worker

    token = token or os.environ.get("MAI_WORKER_TOKEN")
    if not token:
        raise MaikitError("no worker token: pass `--token` or set MAI_WORKER_TOKEN")
    role_list = [r.strip() for r in roles.split(",") if r.strip()]
    bad = [r for r in role_list if r not in ("fidelity", "runtime", "noop")]
    if bad or not role_list:
        raise MaikitError(f"`--roles` takes fidelity and/or runtime, got {roles!r}")
    mapping = {}
    for item in data:
        key, sep, folder = item.partition("=")
        if not sep or not key or not folder:
            raise MaikitError(f"`--data` must look like demo-isp/validation=DIR, got {item!r}")
        if not os.path.isdir(folder):
            raise MaikitError("not a folder", folder)
        mapping[key] = os.path.abspath(folder)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    err_console.print(f"worker for {server}: roles {', '.join(role_list)}, device {device}", highlight=False)
    w = Worker(server, token, name=name, roles=role_list, device_tag=device, data=mapping, wait_s=wait_s)
    try:
        w.run()
    except KeyboardInterrupt:
        w.stop.set()
