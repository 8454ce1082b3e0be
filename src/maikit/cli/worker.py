"""``mai worker``: serve a challenge server's jobs from this machine."""

from __future__ import annotations

from typing import List, Optional

import typer

from maikit.cli._common import err_console, non_negative, positive
from maikit.errors import MaikitError


def register(app: typer.Typer) -> None:
    app.command("worker")(worker)


def worker(
    server: str = typer.Option(..., "--server", help="The challenge server, e.g. http://host:8000."),
    token: Optional[str] = typer.Option(None, "--token", help="A worker token (default: MAI_WORKER_TOKEN)."),
    name: Optional[str] = typer.Option(None, "--name", help="Worker name (default: host-pid)."),
    roles: str = typer.Option("fidelity,runtime", "--roles", help="Comma-separated: fidelity, runtime."),
    device: str = typer.Option("litert-cpu", "--device", help="Device tag this worker measures on."),
    data: List[str] = typer.Option([], "--data", help="CHALLENGE\\[/validation|test]=DIR: reference split folder on this machine (repeatable)."),
    wait_s: float = typer.Option(20.0, "--wait", callback=positive, help="Long-poll seconds of each claim."),
    backend: Optional[str] = typer.Option(None, "--backend", help="Measure runtime jobs on a device backend: litert-cpu, litert-gpu, adb or ssh (with drift control, per-op profile and findings)."),
    option: List[str] = typer.Option([], "--option", help="Device backend option KEY=VALUE (repeatable), e.g. serial=R58M, benchmark_model_path=./bm, host=pi4."),
    state: Optional[str] = typer.Option(None, "--state", help="Folder of device calibrations and locks (default: $MAIKIT_STATE/devices or ~/.local/state/maikit/devices)."),
    cooldown_s: float = typer.Option(0.0, "--cooldown", callback=non_negative, help="Seconds the device rests between jobs (and between repeated attempts)."),
    drift_tolerance: float = typer.Option(0.10, "--drift-tolerance", callback=positive, help="Allowed relative drift of the reference model from its calibrated time (a phase whose protocol sets `drift` overrides it)."),
    cv_tolerance: float = typer.Option(0.10, "--cv-tolerance", callback=positive, help="Allowed coefficient of variation of a measurement's samples."),
    max_attempts: int = typer.Option(3, "--max-attempts", min=1, help="Measurements repeated at most this often on drift or noise."),
    per_op_top: int = typer.Option(10, "--per-op-top", min=0, help="Slowest ops kept in the per-op profile (0: no profile)."),
    health_every_s: float = typer.Option(60.0, "--health-every", callback=positive, help="Seconds between the device's health checks (with --backend); an unhealthy device takes no jobs until one passes."),
    outbox: Optional[str] = typer.Option(None, "--outbox", help="Folder of results not yet delivered, posted when the server answers again, also after a restart (default: $MAIKIT_STATE/worker/HOST_PORT/outbox or ~/.local/state/maikit/worker/HOST_PORT/outbox)."),
    once: bool = typer.Option(False, "--once", help="Run one job, then exit (exit 2 if the device fails its health check)."),
    json_log: bool = typer.Option(False, "--json-log", help="Log as JSON lines on stderr."),
) -> None:
    """Pull jobs (fidelity on reference data, runtime on this device) and run them sandboxed."""
    import logging
    import os

    from maikit.worker.loop import Worker
    from maikit.worker.outbox import default_outbox

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
    outbox = outbox or str(default_outbox(server))
    if os.path.exists(outbox) and not os.path.isdir(outbox):
        raise MaikitError("`--outbox` must be a folder, this is a file", outbox)
    try:
        os.makedirs(outbox, mode=0o700, exist_ok=True)
    except OSError as e:
        raise MaikitError(f"`--outbox`: cannot use this folder ({e.strerror or e})", outbox) from None
    if json_log:
        from maikit.worker.device import JsonLogFormatter

        handler = logging.StreamHandler()
        handler.setFormatter(JsonLogFormatter())
        logging.basicConfig(level=logging.INFO, handlers=[handler])
    else:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    runner = None
    if backend is not None:
        from maikit.runtime.devices.cli import _config
        from maikit.runtime.drift import DriftPolicy
        from maikit.worker.device import DeviceRunner

        policy = DriftPolicy(tolerance=drift_tolerance, cv_tolerance=cv_tolerance, max_attempts=max_attempts,
                             cooldown_s=cooldown_s)
        try:
            runner = DeviceRunner(backend, _config(option), device=device, state_dir=state, policy=policy,
                                  cooldown_s=cooldown_s, per_op_top=per_op_top)
        except TypeError as e:
            raise MaikitError(f"bad `--option` for backend `{backend}` ({e})") from None
    err_console.print(f"worker for {server}: roles {', '.join(role_list)}, device {device}"
                      + (f", backend {backend}" if backend else "") + f", outbox {outbox}", highlight=False)
    w = Worker(server, token, name=name, roles=role_list, device_tag=device, data=mapping, wait_s=wait_s,
               device_runner=runner, once=once, health_every_s=health_every_s, outbox=outbox)
    try:
        w.run()
    except KeyboardInterrupt:
        w.stop.set()
    if w.unhealthy_exit:  # reported to the server first; without --once the worker waits for the device
        from maikit.cli._common import EXIT_ERROR, fail

        raise fail(f"device `{device}` ({backend}) failed its health check: {w.health['reason']}; taking no jobs", EXIT_ERROR)
