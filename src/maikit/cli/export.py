"""``mai export``: a run, checkpoint or zoo model -> the challenge's TFLite files."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Optional

import typer

from maikit.cli._common import console, err_console, print_json, quiet_libraries, raw_convention_arg, usage_error


def register(app: typer.Typer) -> None:
    app.command("export")(export)


def _stage(status, message: str) -> None:
    """A stage of the export (convert, quantise, verify): the spinner's text on a terminal,
    one line per stage on stderr otherwise (a log, CI, `--json` piped on)."""
    status.update(message)
    if not err_console.is_terminal:
        err_console.print(message, highlight=False)


def export(
    source: Optional[str] = typer.Argument(None, metavar="[RUN|CKPT]", help="A training run folder or a checkpoint (.pt)."),
    model: Optional[str] = typer.Option(None, "--model", help="A zoo model name (random weights), e.g. isp/smallnet."),
    out: Path = typer.Option(..., "--out", help="Output folder for model.tflite, model_none.tflite and export.json."),
    task: Optional[str] = typer.Option(None, "--task", help="isp or depth (default: from the run or model)."),
    precision: str = typer.Option("fp32", "--precision", help="fp32, fp16 (float16 weights) or int8 (static, calibrated)."),
    calib: Optional[Path] = typer.Option(None, "--calib", help="Calibration data ROOT or split folder for int8 (default: the run's training data; random inputs otherwise)."),
    calib_samples: int = typer.Option(8, "--calib-samples", min=1, help="Number of calibration inputs."),
    layout: str = typer.Option("nhwc", "--layout", help="Tensor layout of the files: nhwc (TFLite's) or nchw."),
    fmt: str = typer.Option("tflite", "--format", help="tflite (the challenge's) or onnx (for comparison runs)."),
    gpu_friendly: bool = typer.Option(False, "--gpu-friendly", help="Lower for older mobile GPU delegates: pixel (un)shuffle modules as (transposed) convolutions (in the dynamic-shape file, which a CPU evaluates, a kernel = stride transposed convolution is written as DEPTH_TO_SPACE, to run at any size), nearest resizes as RESIZE_NEAREST_NEIGHBOR instead of GATHER_ND, single-op bilinear resizes and transposed convolutions."),
    shape: Optional[str] = typer.Option(None, "--shape", metavar="H,W", help="Input height,width of model_none.tflite where it cannot take any size (the dynamic export failed): your data's size (packed RAW for ISP, RGB for depth) instead of the task's full resolution."),
    raw_convention: Optional[str] = typer.Option(None, "--raw-convention", help="ISP RAW convention recorded for eval (default: the run's, else mai21)."),
    convention: Optional[str] = typer.Option(None, "--convention", hidden=True, help="Old name of --raw-convention."),
    as_json: bool = typer.Option(False, "--json", help="Print the export record as JSON."),
) -> None:
    """Export a model to the two challenge files, verified against PyTorch.

    model.tflite has the fixed latency shape (runtime); model_none.tflite takes any height/width where the model allows it, else the full-resolution shape (fidelity).
    """
    from maikit.errors import MaikitError
    from maikit.export import export_model
    from maikit.tasks import get_task

    if (source is None) == (model is None):
        raise usage_error("give either a RUN folder / checkpoint or --model NAME")
    if model is not None:
        from maikit.models import resolve_model_name

        model = resolve_model_name(model)
    elif not Path(source).exists():  # a zoo name given as SOURCE is accepted
        from maikit.models import resolve_model_name

        try:
            source = resolve_model_name(source)
        except MaikitError:
            if re.fullmatch(r"\w+/\w+", source):  # looks like a model name: the error lists the known ones
                raise
            raise MaikitError("no such run folder or checkpoint (the path does not exist)", source) from None
    fidelity_hw = _fidelity_hw(shape)
    with quiet_libraries(), err_console.status("exporting") as status:
        record = export_model(
            source if source is not None else model, out, task=get_task(task) if task else None, precision=precision, calib=calib,
            layout=layout, fmt=fmt, gpu_friendly=gpu_friendly, convention=raw_convention_arg(raw_convention, convention), calib_samples=calib_samples,
            progress=lambda msg: _stage(status, msg), fidelity_hw=fidelity_hw,
        )
    for w in record.get("warnings", []):
        err_console.print(f"[yellow]warning:[/] {w}", highlight=False)
    if not record["dynamic"] and record.get("note"):
        err_console.print(f"[yellow]note:[/] {record['note']}", highlight=False)
    if as_json:
        print_json(record)
        return
    from rich.table import Table

    table = Table(title=f"export -> {out}", show_header=True)
    table.add_column("file")
    table.add_column("input")
    table.add_column("bytes", justify="right")
    table.add_column("PyTorch vs file", justify="right")
    for name in record["files"]:
        runs = record["verify"][name]
        shapes = ", ".join("x".join(str(v) for v in r["input_shape"]) for r in runs)
        psnr = min(r["psnr_db"] for r in runs)
        table.add_row(name, shapes, f"{record['size_bytes'][name]:,}", f"{psnr:.1f} dB")
    console.print(table)
    kind = "dynamic height/width" if record["dynamic"] else "fixed at " + "x".join(str(v) for v in record["none_input_shape"])
    console.print(f"{record['precision']} {record['layout']}; model_none: {kind}", highlight=False)


def _fidelity_hw(text: str | None) -> tuple[int, int] | None:
    """``--shape H,W`` (or HxW) -> (H, W)."""
    from maikit.errors import MaikitError

    if text is None:
        return None
    parts = text.lower().replace("x", ",").split(",")
    try:
        h, w = (int(v) for v in parts)
    except ValueError:
        raise MaikitError(f"`--shape` must be H,W (model_none's input height and width, e.g. 480,640), got {text!r}") from None
    if h < 1 or w < 1:
        raise MaikitError(f"`--shape` must be positive, got {text!r}")
    return h, w
