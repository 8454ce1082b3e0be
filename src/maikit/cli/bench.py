"""``mai bench``: runtime of a .tflite with LiteRT benchmark_model's rules (our "AI Benchmark")."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from maikit.cli._common import console, err_console, non_negative, parse_shape, positive, print_json, quiet_libraries, usage_error
from maikit.runtime.loop import DEFAULTS as D, PROFILES


def register(app: typer.Typer) -> None:
    app.command("bench")(bench)


_ROW = ("init_ms", "first_ms", "avg_ms", "std_ms", "min_ms", "max_ms", "p50_ms", "p90_ms", "runs", "peak_rss_mb")


def bench(
    file: Path = typer.Argument(..., help="A .tflite file."),
    threads: int = typer.Option(2, "--threads", min=1, help="CPU threads (always set explicitly)."),
    runs: Optional[int] = typer.Option(None, "--runs", min=1, help=f"Minimum number of timed runs (default {D.runs}, or the profile's)."),
    min_seconds: Optional[float] = typer.Option(None, "--min-seconds", callback=non_negative, help=f"Minimum timed duration (default {D.min_seconds:g}, or the profile's)."),
    max_seconds: Optional[float] = typer.Option(None, "--max-seconds", callback=positive, help=f"Stop after this long whatever the count (default {D.max_seconds:g}, or the profile's)."),
    warmup: int = typer.Option(D.warmup_runs, "--warmup", min=0, help=f"Minimum warm-up runs (and at least --warmup-seconds, {D.warmup_seconds:g} s)."),
    warmup_seconds: float = typer.Option(D.warmup_seconds, "--warmup-seconds", callback=non_negative, help="Minimum warm-up duration."),
    no_xnnpack: bool = typer.Option(False, "--no-xnnpack", help="Builtin kernels only (no XNNPACK delegate)."),
    profile: Optional[str] = typer.Option(None, "--profile", help="MLPerf Mobile profile: " + " or ".join(
        f"{k} ({p.runs} / {p.min_seconds:g} s / {p.max_seconds:g} s)" for k, p in PROFILES.items()) + "."),
    input: Optional[Path] = typer.Option(None, "--input", help="A .npy input (default: fixed random values)."),
    shape: Optional[str] = typer.Option(None, "--shape", help="Input shape for a dynamic model, e.g. 1x544x960x4 (default: the task's latency shape from export.json)."),
    compare: Optional[str] = typer.Option(None, "--compare", help="Also measure torch and/or onnx (comma-separated), same loop and threads."),
    per_op: bool = typer.Option(False, "--per-op", help="Also time every op alone (as its own one-op model) and rank ops and op types."),
    top: int = typer.Option(10, "--top", min=1, help="With --per-op: how many of the slowest ops to list."),
    as_json: bool = typer.Option(False, "--json", help="Print the results as JSON."),
) -> None:
    """Measure init time, first inference and steady-state latency of a .tflite.

    Warm-up runs until both --warmup runs and the warm-up time are reached; the timed
    runs continue until BOTH --runs and --min-seconds are reached, capped by --max-seconds.
    """
    from maikit.runtime import benchmark_compare, benchmark_tflite, settings_for

    if per_op and (compare or shape):
        raise usage_error("--per-op times the file as stored: use it without --compare and --shape")
    settings = settings_for(profile, runs=runs, min_seconds=min_seconds, max_seconds=max_seconds,
                            warmup_runs=warmup, warmup_seconds=warmup_seconds)
    input_shape = parse_shape(shape)
    with quiet_libraries(), err_console.status(f"measuring {file.name}"):
        if compare:
            backends = [b.strip() for b in compare.split(",") if b.strip()]
            result = benchmark_compare(file, backends, threads=threads, xnnpack=not no_xnnpack, input=input,
                                       settings=settings, shape=input_shape)
        else:
            result = benchmark_tflite(file, threads=threads, xnnpack=not no_xnnpack, input=input, profile=profile,
                                      settings=settings, shape=input_shape)
    if per_op:
        from maikit.runtime.opprofile import profile_ops

        with quiet_libraries(), err_console.status("timing each op alone") as status:
            result["op_profile"] = profile_ops(
                file, threads=threads, xnnpack=not no_xnnpack,
                progress=lambda done, total: status.update(f"timing each op alone: {done}/{total}"))
    if as_json:
        print_json(result)
        return
    from rich.table import Table

    rows = result["backends"] if compare else {"tflite": result}
    table = Table(title=f"{file.name}  {'x'.join(map(str, result['input_shape']))}, {threads} threads", show_header=True)
    table.add_column("")
    for name in rows:
        table.add_column(name, justify="right")
    for k in _ROW:
        table.add_row(k, *[f"{r[k]:.2f}" if isinstance(r[k], float) else str(r[k]) for r in rows.values()])
    console.print(table)
    console.print(f"{result['cpu']}, ai-edge-litert {result['runtime_version']}", highlight=False)
    if per_op:
        _print_op_profile(result["op_profile"], top)


def _print_op_profile(prof: dict, top: int) -> None:
    from rich.table import Table

    kinds = Table(title=f"op types (each op timed alone; sum {prof['sum_ms']:.2f} ms)", show_header=True)
    for col in ("op", "count", "ms", "share"):
        kinds.add_column(col, justify="left" if col == "op" else "right")
    for name, t in prof["by_type"].items():
        kinds.add_row(name, str(t["count"]), f"{t['ms']:.3f}", f"{100 * (t['share'] or 0):.1f} %")
    console.print(kinds)
    slow = sorted((r for r in prof["ops"] if r["ms"] is not None), key=lambda r: -r["ms"])[:max(top, 0)]
    nodes = Table(title=f"slowest {len(slow)} ops", show_header=True)
    for col in ("node", "op", "output shape", "ms", "share", "XNNPACK"):
        nodes.add_column(col, justify="left" if col in ("op", "output shape") else "right")
    for r in slow:
        nodes.add_row(str(r["node"]), r["op"], "x".join(map(str, r["shape"])), f"{r['ms']:.3f}",
                      f"{100 * r['share']:.1f} %", "yes" if r["delegated"] else "no")
    console.print(nodes)
    failed = [r for r in prof["ops"] if r["ms"] is None]
    if failed:
        console.print(f"{len(failed)} op(s) could not run alone: " + "; ".join(f"#{r['node']} {r['op']}: {r['error']}" for r in failed[:3]), highlight=False)
    console.print("Ops timed alone lose cross-op fusion and each includes one invoke's fixed cost: rank them, do not sum them.", highlight=False)
