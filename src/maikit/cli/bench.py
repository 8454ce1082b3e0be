"""``mai bench``: runtime of a .tflite with LiteRT benchmark_model's rules (our "AI Benchmark")."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from maikit.cli._common import console, err_console, non_negative, parse_shape, positive, print_json, quiet_libraries
from maikit.errors import MaikitError
from maikit.runtime.loop import DEFAULTS as D, PROFILES


def register(app: typer.Typer) -> None:
    app.command("bench")(bench)


_ROW = ("init_ms", "first_ms", "avg_ms", "std_ms", "min_ms", "max_ms", "p50_ms", "p90_ms", "runs", "peak_rss_mb")


def _named(values: list[str] | None, option: str, parse) -> tuple[object | None, dict[str, object]]:
    """``NAME=VALUE`` entries by name, and the one entry without a name (for a one-input model)."""
    bare, named = None, {}
    for text in values or []:
        name, sep, value = text.partition("=")
        if sep and name and "/" not in name and not Path(text).exists():
            if name in named:
                raise MaikitError(f"`{option}` names input `{name}` twice")
            named[name] = parse(value)
        elif bare is None:
            bare = parse(text)
        else:
            raise MaikitError(f"`{option}` is given twice without an input name: use NAME=... for each input")
    return bare, named


def _positive_shape(text: str) -> list[int]:
    shape = parse_shape(text, "--shape")
    if not shape or any(v < 1 for v in shape):
        raise MaikitError(f"`--shape` must be positive sizes like 1x544x960x4, got {text!r}")
    return shape


def bench(
    file: Path = typer.Argument(..., help="A .tflite file: any model (several inputs and outputs, signatures, fp16 or sparse weights)."),
    threads: int = typer.Option(2, "--threads", min=1, help="CPU threads (always set explicitly)."),
    runs: Optional[int] = typer.Option(None, "--runs", min=1, help=f"Minimum number of timed runs (default {D.runs}, or the profile's)."),
    min_seconds: Optional[float] = typer.Option(None, "--min-seconds", callback=non_negative, help=f"Minimum timed duration (default {D.min_seconds:g}, or the profile's)."),
    max_seconds: Optional[float] = typer.Option(None, "--max-seconds", callback=positive, help=f"Stop after this long whatever the count (default {D.max_seconds:g}, or the profile's)."),
    warmup: int = typer.Option(D.warmup_runs, "--warmup", min=0, help=f"Minimum warm-up runs (and at least --warmup-seconds, {D.warmup_seconds:g} s)."),
    warmup_seconds: float = typer.Option(D.warmup_seconds, "--warmup-seconds", callback=non_negative, help="Minimum warm-up duration."),
    no_xnnpack: bool = typer.Option(False, "--no-xnnpack", help="Builtin kernels only (no XNNPACK delegate)."),
    profile: Optional[str] = typer.Option(None, "--profile", help="MLPerf Mobile profile: " + " or ".join(
        f"{k} ({p.runs} / {p.min_seconds:g} s / {p.max_seconds:g} s)" for k, p in PROFILES.items()) + "."),
    input: Optional[list[str]] = typer.Option(None, "--input", help="NAME=FILE.npy for an input (repeat per input), or FILE.npy for a one-input model. Inputs not given get random values of their type."),
    shape: Optional[list[str]] = typer.Option(None, "--shape", help="NAME=1x544x960x4 (or the shape alone for a one-input model): the shape of a dynamic input (default: the task's latency shape from export.json)."),
    signature: Optional[str] = typer.Option(None, "--signature", help="Measure this signature's subgraph (default: the main subgraph)."),
    resize: bool = typer.Option(False, "--resize", help="Allow --shape / --input to resize a fixed-shape model (an error otherwise)."),
    compare: Optional[str] = typer.Option(None, "--compare", help="Also measure torch and/or onnx (comma-separated), same loop and threads."),
    per_op: bool = typer.Option(False, "--per-op", help="Also time every op alone (as its own one-op model, same threads and delegate) and rank ops and op types."),
    top: int = typer.Option(10, "--top", min=0, help="With --per-op: how many of the slowest ops to list."),
    as_json: bool = typer.Option(False, "--json", help="Print the results as JSON."),
) -> None:
    """Measure init time, first inference and steady-state latency of a .tflite, like LiteRT's benchmark_model.

    Warm-up runs until both --warmup runs and the warm-up time are reached; the timed
    runs continue until BOTH --runs and --min-seconds are reached, capped by --max-seconds.
    """
    from maikit.runtime import benchmark_compare, benchmark_tflite, settings_for

    if per_op and (compare or shape or resize):
        raise MaikitError("`--per-op` times the file as stored: use it without --compare, --shape and --resize")
    if top < 0:
        raise MaikitError(f"`--top` must be 0 or more, got {top}")
    settings = settings_for(profile, runs=runs, min_seconds=min_seconds, max_seconds=max_seconds,
                            warmup_runs=warmup, warmup_seconds=warmup_seconds)
    one_input, inputs = _named(input, "--input", Path)
    one_shape, shapes = _named(shape, "--shape", _positive_shape)
    with quiet_libraries(), err_console.status(f"measuring {file.name}"):
        if compare:
            if inputs or shapes or signature:
                raise MaikitError("`--compare` takes the model's one image input: use --input FILE.npy / --shape SHAPE without names")
            backends = [b.strip() for b in compare.split(",") if b.strip()]
            result = benchmark_compare(file, backends, threads=threads, xnnpack=not no_xnnpack, input=one_input,
                                       settings=settings, shape=one_shape)
        else:
            result = benchmark_tflite(file, threads=threads, xnnpack=not no_xnnpack, input=one_input, profile=profile,
                                      settings=settings, shape=one_shape, inputs=inputs, shapes=shapes,
                                      signature=signature, resize=resize)
    if per_op:
        from maikit.runtime.opprofile import profile_ops

        with quiet_libraries(), err_console.status("timing each op alone") as status:
            result["op_profile"] = profile_ops(
                file, threads=threads, xnnpack=not no_xnnpack, signature=signature, model_ms=result["avg_ms"],
                progress=lambda done, total: status.update(f"timing each op alone: {done}/{total}"))
    if as_json:
        print_json(result)
        return
    from rich.table import Table

    rows = result["backends"] if compare else {"tflite": result}
    what = f"signature `{signature}`" if signature else ""
    table = Table(title=f"{file.name}  {'x'.join(map(str, result['input_shape']))}{', ' + what if what else ''}, "
                        f"{threads} threads", show_header=True)
    table.add_column("")
    for name in rows:
        table.add_column(name, justify="right")
    for k in _ROW:
        table.add_row(k, *[f"{r[k]:.2f}" if isinstance(r[k], float) else str(r[k]) for r in rows.values()])
    console.print(table)
    for role in ("inputs", "outputs"):
        for t in result.get(role) or []:
            src = f" ({t['source']})" if "source" in t else ""
            console.print(f"  {role[:-1]:6} {t['name']}: {'x'.join(map(str, t['shape']))} {t['dtype']}{src}", highlight=False)
    simd = f" ({result['simd']})" if result.get("simd") else ""
    from maikit.tflite.runner import delegate_not_applied, describe_delegation

    ran = f", {describe_delegation(result['delegate'])}" if result.get("delegate") else ""
    console.print(f"{result['cpu']}{simd}, ai-edge-litert {result['runtime_version']}{ran}", highlight=False)
    if (flag := delegate_not_applied(result.get("delegate"))) is not None:
        err_console.print(f"[yellow]warning:[/] {flag}", highlight=False)
    if per_op:
        _print_op_profile(result["op_profile"], top)


def _print_op_profile(prof: dict, top: int) -> None:
    from rich.table import Table

    kinds = Table(title=f"op types (each op timed alone; sum {prof['sum_ms']:.3f} ms)", show_header=True)
    for col in ("op", "count", "ms", "share"):
        kinds.add_column(col, justify="left" if col == "op" else "right")
    for name, t in prof["by_type"].items():
        untimed = t["count"] - t["timed"]
        ms = "not timed" if t["ms"] is None else f"{t['ms']:.3f}" + (f" ({untimed} not timed)" if untimed else "")
        share = "-" if t["share"] is None else f"{100 * t['share']:.1f} %"
        kinds.add_row(name, str(t["count"]), ms, share)
    console.print(kinds)
    slow = sorted((r for r in prof["ops"] if r["ms"] is not None), key=lambda r: -r["ms"])[:top]
    nodes = Table(title=f"slowest {len(slow)} ops", show_header=True)
    for col in ("node", "op", "output shape", "ms", "share", "XNNPACK"):
        nodes.add_column(col, justify="left" if col in ("op", "output shape") else "right")
    for r in slow:
        nodes.add_row(str(r["node"]), r["op"], "x".join(map(str, r["shape"])), f"{r['ms']:.3f}",
                      f"{100 * r['share']:.1f} %", "yes" if r["delegated"] else "no")
    console.print(nodes)
    untimed: dict[str, list[dict]] = {}
    for r in prof["ops"]:
        if r["ms"] is None:
            untimed.setdefault(r["reason"], []).append(r)
    for reason, group in untimed.items():
        names = sorted({r["op"] for r in group})
        console.print(f"not timed alone: {len(group)} op(s) ({', '.join(names)}): {reason}", highlight=False)
    if prof.get("model_ms"):
        console.print(f"sum of the per-op times {prof['sum_ms']:.3f} ms = {prof['sum_over_model']:.2f}x the whole-model "
                      f"run ({prof['model_ms']:.3f} ms): ops timed alone lose cross-op fusion and each includes one "
                      "invoke's fixed cost; rank them, do not add them up.", highlight=False)
