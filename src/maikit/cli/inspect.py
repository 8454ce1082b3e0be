"""``mai inspect``: what is inside a .tflite file and what will not run on a target."""

from __future__ import annotations

from pathlib import Path

import typer

from maikit.cli._common import check_shape, console, fail, parse_shape, print_json


def register(app: typer.Typer) -> None:
    app.command("inspect")(inspect)


def _shape(s) -> str:
    return "x".join("?" if v < 0 else str(v) for v in s)


def inspect(
    file: Path = typer.Argument(..., help="A .tflite file."),
    target: str = typer.Option("all", "--target", help="cpu, gpu, npu or all."),
    shape: str = typer.Option(None, "--shape", help="Input shape for the MACs estimate, e.g. 1x544x960x4 (a fixed-shape model is resized for the estimate only)."),
    verify: bool = typer.Option(False, "--verify", help="With --target gpu: also compile the file with LiteRT's GPU accelerator (a child process) and show where the delegate's verdict and the static findings disagree."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """Size, inputs/outputs, op histogram, params, MACs and compatibility findings."""
    if verify and target != "gpu":
        raise typer.BadParameter("--verify runs the GPU delegate: use it with --target gpu")
    from maikit.export.inspect import inspect_tflite
    from maikit.export.targets import TARGETS

    targets = TARGETS if target == "all" else (target,)
    input_shape = parse_shape(shape)
    if input_shape is not None:
        # a fixed-shape model may be resized in height and width for the estimate, never in
        # batch-free rank or channels
        sig = inspect_tflite(file, targets=())["inputs"]
        if len(sig) == 1:
            s = [int(v) for v in sig[0]["shape"]]
            if len(input_shape) != len(s) or (s[-1] >= 0 and input_shape[-1] != s[-1]):
                check_shape(input_shape, s)
    report = inspect_tflite(file, targets=targets, input_shape=input_shape)
    unavailable = None
    if verify:
        from maikit.runtime.devices import DeviceUnavailable
        from maikit.runtime.devices.litert_gpu import verify_gpu

        try:
            report["gpu_check"] = verify_gpu(file, report["findings"], input_shape)
        except DeviceUnavailable as e:
            unavailable = f"GPU check not run: {e}"
    if as_json:
        print_json(report)
        if unavailable:
            raise fail(unavailable)
        return
    console.print(f"[bold]{file}[/]  {report['size_bytes']:,} bytes, {report['op_count']} ops, "
                  f"{report['params']:,} params, "
                  + (f"{report['macs'] / 1e9:.3f} GMACs" + (f" {report['macs_note']}" if report["macs_note"] else "")
                     if report["macs"] is not None else f"MACs: {report['macs_note']}"))
    for role in ("inputs", "outputs"):
        for t in report[role]:
            q = t.get("quantization")
            qs = f"  scale {q['scale'][0]:.4g} zero {q['zero_point'][0]}" if q else ""
            console.print(f"  {role[:-1]:6} {t['name']}: {_shape(t['shape'])} {t['dtype']}{qs}", highlight=False)
    console.print("  ops: " + ", ".join(f"{k} {v}" for k, v in report["ops"].items()), highlight=False)
    if len(report["signatures"]) > 1 or report["subgraphs"] > 1:
        console.print("  signatures: " + (", ".join(
            f"{k} (subgraph {v['subgraph']}: {', '.join(t['key'] for t in v['inputs'])} -> {', '.join(t['key'] for t in v['outputs'])})"
            for k, v in report["signatures"].items()) or "none") + f"; {report['subgraphs']} subgraphs (inputs and outputs above: subgraph 0)",
            highlight=False)
    if report["rank_gt4_tensors"]:
        console.print(f"  tensors of rank > 4: {len(report['rank_gt4_tensors'])}")
    if not report["findings"]:
        console.print(f"no findings for {', '.join(targets)}")
    else:
        _findings_table(report)
    if "gpu_check" in report:
        from maikit.cli._gpu_check import print_gpu_check

        print_gpu_check(report["gpu_check"])
    if unavailable:
        raise fail(unavailable)


def _findings_table(report) -> None:
    from rich.table import Table

    table = Table(show_header=True, title="findings")
    for col in ("target", "node", "op", "severity", "reason"):
        table.add_column(col, overflow="fold")
    for f in report["findings"]:
        table.add_row(f["target"], "-" if f["node"] is None else str(f["node"]), f["op"], f["severity"], f["reason"])
    console.print(table)
