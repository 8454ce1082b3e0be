"""``mai device``: the device backends a challenge worker measures on.

The same commands run without PyTorch as ``python -m maikit.runtime.devices ...`` (this
module imports nothing outside the device backends): that is the evaluator the ``ssh``
backend runs on a board.
"""

from __future__ import annotations

import functools
import json
import math
import sys
from pathlib import Path
from typing import List, Optional

import typer
from rich.console import Console

from maikit.options import non_negative, positive

console = Console(width=None if sys.stdout.isatty() else 160)
err_console = Console(stderr=True, width=None if sys.stderr.isatty() else 160)
EXIT_PROBLEMS, EXIT_ERROR = 1, 2  # the input has problems / the command could not run

device_app = typer.Typer(help="Device backends: fingerprint, measure, calibrate the drift reference.",
                         no_args_is_help=True, pretty_exceptions_enable=False, add_completion=False)


def register(app: typer.Typer) -> None:
    app.add_typer(device_app, name="device")


def _jsonable(o):
    if isinstance(o, float) and not math.isfinite(o):
        return None
    if isinstance(o, dict):
        return {str(k): _jsonable(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [_jsonable(v) for v in o]
    return o


def print_json(obj) -> None:
    sys.stdout.write(json.dumps(_jsonable(obj), indent=2) + "\n")
    sys.stdout.flush()


def fail(message: str, code: int = EXIT_ERROR) -> typer.Exit:
    err_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


def handle_errors(fn):
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        from maikit.errors import MaikitError
        from maikit.runtime.devices.base import DeviceUnavailable

        try:
            return fn(*args, **kwargs)
        except DeviceUnavailable as e:  # the command could not run
            raise fail(str(e), EXIT_ERROR) from None
        except MaikitError as e:  # the input has problems
            raise fail(str(e), EXIT_PROBLEMS) from None

    return wrapper


def parse_shape(text: str | None) -> list[int] | None:
    from maikit.errors import MaikitError

    if not text:
        return None
    try:
        return [int(v) for v in text.lower().replace(",", "x").split("x")]
    except ValueError:
        raise MaikitError(f"`--shape` must look like 1x544x960x4, got {text!r}") from None


def _config(options: list[str] | None) -> dict:
    """``KEY=VALUE`` backend options (numbers and true/false are converted)."""
    from maikit.errors import MaikitError

    out = {}
    for o in options or []:
        if "=" not in o:
            raise MaikitError(f"`--option` must look like key=value, got {o!r}")
        k, v = o.split("=", 1)
        try:
            out[k.strip().replace("-", "_")] = json.loads(v)
        except json.JSONDecodeError:
            out[k.strip().replace("-", "_")] = v
    return out


def _backend(name: str, options: list[str] | None):
    from maikit.errors import MaikitError
    from maikit.runtime.devices import get_backend

    try:
        return get_backend(name, **_config(options))
    except TypeError as e:
        raise MaikitError(f"bad option for backend `{name}` ({e})") from None


_OPTION_HELP = "Backend option KEY=VALUE (repeatable), e.g. benchmark_model_path=/opt/bm, serial=R58M, host=pi4, port=22."


@device_app.command("list")
@handle_errors
def list_backends(as_json: bool = typer.Option(False, "--json")) -> None:
    """The device backends and what each measures on."""
    from maikit.runtime.devices import BACKENDS

    rows = {"litert-cpu": "LiteRT interpreter on this CPU (XNNPACK on/off)",
            "litert-gpu": "LiteRT GPU accelerator (software Vulkan here: a mobile-GPU op check)",
            "adb": "Android phone over adb with the organiser's benchmark_model",
            "ssh": "Linux board over SSH running `python -m maikit.runtime.devices measure` there"}
    if as_json:
        print_json([{"name": n, "description": rows.get(n, "")} for n in BACKENDS])
        return
    for n in BACKENDS:
        console.print(f"{n:12} {rows.get(n, '')}", highlight=False)


@device_app.command("info")
@handle_errors
def info(
    backend: str = typer.Option("litert-cpu", "--backend", help="litert-cpu, litert-gpu, adb or ssh."),
    option: Optional[List[str]] = typer.Option(None, "--option", help=_OPTION_HELP),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """The device fingerprint: model, SoC/CPU, OS, runtime version, governor, temperature."""
    fp = _backend(backend, option).fingerprint()
    if as_json:
        print_json(fp)
        return
    for k, v in fp.items():
        console.print(f"{k:16} {v}", highlight=False)


def _stop_on_eof():
    """A threading.Event set when stdin ends (``--stop-on-eof``: the ``ssh`` backend's
    connection, whose end means the worker gave up on this run)."""
    import os
    import threading

    event = threading.Event()

    def watch():  # the raw descriptor: a thread blocked in sys.stdin's buffered reader holds its
        # lock, which makes the interpreter abort at exit
        try:
            while os.read(0, 4096):
                pass
        except OSError:
            pass
        event.set()

    threading.Thread(target=watch, daemon=True, name="stop-on-eof").start()
    return event


@device_app.command("measure")
def measure(
    file: Path = typer.Argument(..., help="A .tflite file."),
    backend: str = typer.Option("litert-cpu", "--backend", help="litert-cpu, litert-gpu, adb or ssh."),
    option: Optional[List[str]] = typer.Option(None, "--option", help=_OPTION_HELP),
    threads: int = typer.Option(2, "--threads", min=1),
    warmup_runs: int = typer.Option(1, "--warmup-runs", min=0),
    warmup_seconds: float = typer.Option(0.5, "--warmup-seconds", callback=non_negative),
    runs: int = typer.Option(50, "--runs", min=1),
    min_seconds: float = typer.Option(1.0, "--min-seconds", callback=non_negative),
    max_seconds: float = typer.Option(150.0, "--max-seconds", callback=positive),
    statistic: str = typer.Option("avg", "--statistic", help="avg, p50, p90 or min."),
    xnnpack: bool = typer.Option(True, "--xnnpack/--no-xnnpack"),
    shape: Optional[str] = typer.Option(None, "--shape", help="Static input shape for a dynamic file, e.g. 1x544x960x4."),
    seed: int = typer.Option(0, "--seed", min=0),
    per_op: bool = typer.Option(False, "--per-op", help="After the timed run, a separate per-op profile pass (op_profile in the result)."),
    top: int = typer.Option(10, "--top", min=1, help="Slowest ops kept in the per-op profile."),
    stop_on_eof: bool = typer.Option(False, "--stop-on-eof", help="Stop the run when stdin ends (how the ssh backend runs this on a board)."),
    as_json: bool = typer.Option(False, "--json", help="JSON on stdout; a failure is {\"error\": {kind, reason}}."),
) -> None:
    """Measure a .tflite on a device backend with a phase's protocol (raw samples + fingerprint)."""
    from maikit.errors import MaikitError
    from maikit.runtime.devices import DeviceUnavailable, MeasureProtocol, ModelFault
    from maikit.runtime.devices.base import Cancelled, profile_or_note

    try:
        protocol = MeasureProtocol(threads=threads, warmup_runs=warmup_runs, warmup_seconds=warmup_seconds, runs=runs,
                                   min_seconds=min_seconds, max_seconds=max_seconds, statistic=statistic,
                                   xnnpack=xnnpack, shape=parse_shape(shape), seed=seed)
        device = _backend(backend, option)
        if stop_on_eof:
            device.cancel = _stop_on_eof()
        with err_console.status(f"measuring {file.name} on {backend}"):
            result = device.measure(file, protocol)
        if per_op:
            with err_console.status(f"per-op profile of {file.name} on {backend}"):
                result.update(profile_or_note(device, file, protocol, top))
    except Cancelled:
        if as_json:
            print_json({"error": {"kind": "cancelled", "reason": "stopped: stdin ended"}})
        raise (typer.Exit(EXIT_ERROR) if as_json else fail("stopped: stdin ended")) from None
    except ModelFault as e:
        if as_json:
            print_json({"error": {"kind": e.kind, "reason": str(e), "details": e.details}})
        raise (typer.Exit(EXIT_PROBLEMS) if as_json else fail(f"{e} [{e.kind}]", EXIT_PROBLEMS)) from None
    except DeviceUnavailable as e:
        if as_json:
            print_json({"error": {"kind": "unavailable", "reason": str(e)}})
        raise (typer.Exit(EXIT_ERROR) if as_json else fail(str(e))) from None
    except MaikitError as e:
        if as_json:
            print_json({"error": {"kind": "input", "reason": str(e)}})
        raise (typer.Exit(EXIT_PROBLEMS) if as_json else fail(str(e), EXIT_PROBLEMS)) from None
    if as_json:
        print_json(result)
        return
    s = result["stats"]
    console.print(f"[bold]{file.name}[/] on {backend}: {result['statistic']} {result['value_ms']:.3f} ms "
                  f"(runs {result['runs']}, min {s['min_ms']:.3f}, max {s['max_ms']:.3f}"
                  + (f", cv {result['cv']:.1%}" if result.get("cv") is not None else "") + ")")
    from maikit.tflite.runner import delegate_not_applied

    if (dl := result.get("delegate")) and dl.get("applied"):
        console.print(f"  delegate: {dl['name']}, {dl['nodes']} of {dl['ops_total']} nodes", highlight=False)
    if (flag := delegate_not_applied(result.get("delegate"))) is not None:
        err_console.print(f"[yellow]warning:[/] {flag}", highlight=False)
    for n in result.get("notes", []):
        console.print(f"  note: {n}", highlight=False)
    if per_op:
        prof = result["op_profile"]
        if prof is None:
            console.print(f"  per-op profile: none ({result['op_profile_note']})", highlight=False)
        else:
            console.print(f"  per-op profile ({prof['method']}): slowest ops", highlight=False)
            for r in prof["top_ops"]:
                ms = f"{r['ms']:.3f} ms" if r.get("ms") is not None else "not timed"
                node = "—" if r.get("node") is None else r["node"]
                console.print(f"    node {node:>4}  {r['op']:32} {ms}", highlight=False)


@device_app.command("calibrate")
@handle_errors
def calibrate(
    name: str = typer.Option(..., "--name", help="The device's name (the worker's --device)."),
    backend: str = typer.Option("litert-cpu", "--backend", help="litert-cpu, litert-gpu, adb or ssh."),
    option: Optional[List[str]] = typer.Option(None, "--option", help=_OPTION_HELP),
    count: int = typer.Option(5, "--count", min=1, help="How many times the reference is measured."),
    reference: str = typer.Option("isp/smallnet", "--reference", help="Reference model: isp/smallnet or a .tflite file."),
    threads: int = typer.Option(2, "--threads", min=1),
    state: Optional[Path] = typer.Option(None, "--state", help="Folder for the baseline (default: $MAIKIT_STATE/devices or ~/.local/state/maikit/devices)."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Measure the drift reference COUNT times and store the baseline the drift check uses."""
    from dataclasses import replace

    from maikit.runtime.drift import REFERENCE_PROTOCOL, calibrate as run_calibration, default_state_dir

    folder = Path(state) if state else default_state_dir()
    store = folder / f"{name}.json"
    with err_console.status(f"calibrating {name}: reference {reference} x{count}"):
        b = run_calibration(_backend(backend, option), n=count, reference=reference,
                            protocol=replace(REFERENCE_PROTOCOL, threads=threads), store=store, device_name=name)
    b["file"] = str(store)
    if not b["stable"]:
        err_console.print(f"warning: the reference's times spread {b['spread']:.0%} over {count} runs: the device was busy; "
                          "calibrate again on the idle device", highlight=False)
    if as_json:
        print_json(b)
        return
    console.print(f"{name}: baseline {b['baseline_ms']:.3f} ms (spread {b['spread']:.1%} over {count}) -> {store}")
