"""``export_model``: a model, run or checkpoint -> the challenge's two submission files.

* ``model.tflite`` at the fixed latency shape of the task (ISP 1x544x960x4 -> 1x1088x1920x3,
  depth 1x480x640x3 -> 1x480x640x1, from :mod:`maikit.tasks`), for the runtime measurement;
* ``model_none.tflite`` for fidelity at any size: dynamic height/width where the model
  exports that way (retrying with pixel shuffles rewritten as transposed convolutions, see
  :mod:`maikit.export.rewrite`), else fixed at the task's full-resolution shape or at the
  ``fidelity_hw`` asked for (the participant's data size); ``export.json`` says which
  (``"dynamic"``, ``"none_input_shape"``) and the note why.

Everything between the packed/RGB input and the output is inside the graph (the models'
contract), so each file alone reproduces the model. ``precision`` ``fp16`` / ``int8``
quantises both files with ai-edge-quantizer (int8 calibrated on data, or random inputs).

Every file is verified against PyTorch on the same inputs before anything is written:
``verify_psnr_db`` is the PSNR between the two outputs, peak 1 for ISP (its output range
is [0, 1]) and the reference's maximum for depth (metres have no fixed range, so the
largest reference depth plays the role of the peak). The inputs (``verify_inputs`` in
export.json) are images of the calibration data for an int8 file calibrated on data —
its activation ranges hold for images, not for noise — and uniform random inputs
otherwise (no ranges to leave, and noise covers the whole input range). FP32 must reach
:data:`MIN_FP32_PSNR_DB` or the export fails with nothing written. Files are staged in a
temporary folder and moved into place atomically only after every check passed.
"""

from __future__ import annotations

import contextlib
import math
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
import torch.nn as nn

from maikit.errors import MaikitError, first_line
from maikit.export.calib import DEFAULT_CALIBRATION_SAMPLES, check_calibration_data, data_inputs, random_inputs, verification_inputs
from maikit.export.quantize import PRECISIONS, quantize_fp16, quantize_int8
from maikit.export.rewrite import check_same_outputs, lower_for_gpu, rewrite_pixel_shuffles
from maikit.export.source import ModelSource, resolve_source
from maikit.export.tflite import TfliteRunner, convert_to_tflite
from maikit.io import write_bytes, write_json
from maikit.tasks import RawConvention, TaskSpec, shape_in_layout
from maikit.tflite.files import EXPORT_JSON, FIXED_FILE, FLEX_FILE, read_export_json  # noqa: F401  (re-exported)

MIN_FP32_PSNR_DB = 60.0
IDENTICAL_PSNR_DB = 999.0  # reported when the outputs are bit-identical (infinite PSNR)
FORMATS = ("tflite", "onnx")
LAYOUTS = ("nhwc", "nchw")

Progress = Callable[[str], None] | None


# --------------------------------------------------------------------------------------
# Shapes and comparisons (pure)
# --------------------------------------------------------------------------------------
def verify_psnr(ref: np.ndarray, test: np.ndarray, task: TaskSpec) -> float:
    """PSNR (dB) of ``test`` against ``ref`` with the task's peak (:meth:`TaskSpec.verify_peak`):
    1 for ISP, ``max(ref)`` for depth."""
    ref = np.asarray(ref, np.float64)
    test = np.asarray(test, np.float64)
    if ref.shape != test.shape:
        raise MaikitError(f"verification outputs differ in shape: PyTorch {list(ref.shape)}, file {list(test.shape)}")
    if not np.isfinite(test).all():
        return 0.0
    mse = float(np.mean((ref - test) ** 2))
    if mse == 0.0:
        return IDENTICAL_PSNR_DB
    peak = task.verify_peak(ref)
    return min(10.0 * math.log10(peak * peak / mse), IDENTICAL_PSNR_DB)


def _round_up(v: int, m: int) -> int:
    return -(-int(v) // m) * m


def probe_hw(spec: TaskSpec, multiple: int) -> tuple[int, int]:
    """A small valid input size used to trace dynamic models and check rewrites."""
    m = max(int(multiple), 1)
    h, w = spec.probe_hw
    return _round_up(h, m), _round_up(w, m)


def to_layout(x_nhwc: np.ndarray, layout: str) -> np.ndarray:
    return np.ascontiguousarray(x_nhwc if layout == "nhwc" else x_nhwc.transpose(0, 3, 1, 2))


def _nchw(shape_nhwc: tuple[int, ...]) -> tuple[int, ...]:
    n, h, w, c = shape_nhwc
    return (n, c, h, w)


def _torch_reference(model: nn.Module, x_nhwc: np.ndarray, layout: str) -> np.ndarray:
    with torch.no_grad():
        y = model(torch.from_numpy(np.ascontiguousarray(x_nhwc.transpose(0, 3, 1, 2))))
    y = y.numpy()
    return y.transpose(0, 2, 3, 1) if layout == "nhwc" else y


def _check_torch_contract(model: nn.Module, spec: TaskSpec, multiple: int) -> None:
    """Fail early (before any conversion) when the model's output does not fit the task."""
    h, w = probe_hw(spec, multiple)
    x = torch.rand(1, spec.input_channels, h, w) * spec.input_range()[1]
    try:
        with torch.no_grad():
            y = model(x)
    except Exception as e:
        first = first_line(e)
        raise MaikitError(f"the model does not run on a {spec.name} input {list(x.shape)} ({type(e).__name__}: {first[:160]})") from None
    want = list(_nchw(spec.output_shape((1, h, w, spec.input_channels))))
    if not isinstance(y, torch.Tensor) or list(y.shape) != want:
        got = list(y.shape) if isinstance(y, torch.Tensor) else type(y).__name__
        raise MaikitError(f"the model's output {got} does not fit the {spec.name} task: expected {want} for input {list(x.shape)} (NCHW)")


# --------------------------------------------------------------------------------------
# The export
# --------------------------------------------------------------------------------------
def _say(progress: Progress, msg: str) -> None:
    if progress is not None:
        progress(msg)


def _model_limits(source: ModelSource) -> tuple[int, bool]:
    if not source.name:
        return 1, True
    from maikit.models import get_model_entry

    entry = get_model_entry(source.name)
    return max(int(entry.size_multiple), 1), bool(entry.dynamic_shapes)


def _calibration(
    spec: TaskSpec, source: ModelSource, calib: Any, shape_nhwc: tuple[int, ...], n: int, convention: RawConvention | None,
    warnings: list[str],
) -> tuple[list[np.ndarray], dict]:
    root = Path(calib) if calib is not None else source.data_root
    if root is not None:
        xs = data_inputs(spec, root, shape_nhwc, n, convention)
        return xs, {"source": "data", "root": str(root), "samples": len(xs)}
    warnings.append("int8 calibration on random inputs (no `calib` data given): expect lower fidelity")
    return random_inputs(spec, shape_nhwc, n, convention, seed=1), {"source": "random", "samples": n}


class _VerifyData:
    """Where verification inputs come from: a data root (with the calibration's sample count) or noise."""

    def __init__(self, root: Path | None = None, n_calib: int = 0):
        self.root, self.n_calib = root, n_calib
        self.files: list[str] = []

    @property
    def label(self) -> str:
        return "calibration data" if self.root is not None else "random"


def _verification_inputs(
    spec: TaskSpec, shapes: list[tuple[int, ...]], convention: RawConvention | None, data: _VerifyData | None = None
) -> list[np.ndarray]:
    if data is not None and data.root is not None:
        xs, names = verification_inputs(spec, data.root, shapes, data.n_calib, convention)
        data.files += [n for n in names if n not in data.files]
        return xs
    return [random_inputs(spec, s, 1, convention, seed=100 + i)[0] for i, s in enumerate(shapes)]


class _Staged:
    """One staged file: its bytes path, role and verification record."""

    def __init__(self, name: str, path: Path, dynamic: bool, input_nhwc: tuple[int, ...]):
        self.name, self.path, self.dynamic, self.input_nhwc = name, path, dynamic, input_nhwc
        self.verify: list[dict] = []
        self.builtin_ok: bool | None = None


def _convert_flexible(
    model: nn.Module, spec: TaskSpec, out: Path, layout: str, multiple: int, allow_dynamic: bool,
    rewrites: dict, progress: Progress, fixed_shape: tuple[int, ...], same_as: Path | None,
) -> tuple[bool, str | None, dict]:
    """Write the fidelity file: dynamic if possible, else at ``fixed_shape`` (NHWC), or as a copy
    of ``same_as`` where given (the latency file: the same model at that shape)."""
    ph, pw = probe_hw(spec, multiple)
    probe = torch.rand(1, spec.input_channels, ph, pw)
    errors = []
    if allow_dynamic:
        # A symbolic reshape (how PyTorch writes pixel shuffle) does not lower with dynamic
        # height/width in this toolchain, so the rewritten form goes first when it exists.
        candidates = [("as is", model, {})]
        rewritten, counts = rewrite_pixel_shuffles(model, probe)
        if counts and not rewrites:
            candidates.insert(0, ("pixel shuffles as transposed convolutions", rewritten, counts))
        for label, m, counts in candidates:
            _say(progress, f"converting {FLEX_FILE} with dynamic height/width ({label})")
            try:
                if counts:
                    check_same_outputs(model, m, probe)
                convert_to_tflite(m, probe, out, layout=layout, dynamic_hw=True, size_multiple=multiple)
                _check_runs_dynamically(out, spec, layout, (1, ph, pw, spec.input_channels), multiple)
                return True, None, counts
            except Exception as e:  # torch.export, lowering or runtime failures: try the next form
                errors.append(f"{label}: {_why_not_dynamic(e)}")
    full = tuple(fixed_shape) == tuple(spec.full_res_input_shape)
    what = "the full-resolution shape" if full else "the shape asked for"
    if same_as is not None:
        _say(progress, f"{FLEX_FILE} at {what} {list(fixed_shape)} is {same_as.name}'s graph: copied, not converted again")
        shutil.copyfile(same_as, out)
    else:
        _say(progress, f"converting {FLEX_FILE} at {what} {list(fixed_shape)}")
        convert_to_tflite(model, torch.rand(*_nchw(fixed_shape)), out, layout=layout)
    reason = "the model is registered without dynamic-shape support" if not allow_dynamic else "; ".join(errors)
    shown = "x".join(str(v) for v in shape_in_layout(fixed_shape, layout))
    hint = ": give `--shape H,W` (its input height and width) to fix it at your data's size instead" if full else ""
    return False, f"dynamic height/width export failed ({reason}); {FLEX_FILE} is fixed at {shown}, {what}{hint}", {}


def _why_not_dynamic(e: Exception) -> str:
    """Why a dynamic-shape conversion failed, in words: torch.export's internal constraint
    dumps ("Constraints violated ... Suggested fixes ...") are not for the user."""
    first = first_line(e)
    if "Constraints violated" in first or "specialized" in first or type(e).__name__ in ("UserError", "ConstraintViolationError"):
        return "torch.export cannot keep height and width free (the model fixes them somewhere)"
    return f"{type(e).__name__}: {first[:160]}"


def _second_shape(shape_nhwc: tuple[int, ...], multiple: int) -> tuple[int, ...]:
    """A second, differently shaped input: proves the dynamic height/width really work."""
    n, h, w, c = shape_nhwc
    return (n, _round_up(h * 3 // 2, multiple), _round_up(w * 5 // 4, multiple), c)


def _check_runs_dynamically(path: Path, spec: TaskSpec, layout: str, shape_nhwc: tuple[int, ...], multiple: int) -> None:
    """Raise (any exception) unless the converted file runs at two sizes with the right output shapes."""
    runner = TfliteRunner(path, threads=2)
    for s in (shape_nhwc, _second_shape(shape_nhwc, multiple)):
        x = np.zeros(shape_in_layout(s, layout), np.float32)
        runner.run(x)
        spec.check_io(runner.input_shape, runner.output_shape, layout, path.name)


def _quantise_file(
    path: Path, precision: str, calib_inputs: Callable[[tuple[int, ...]], list[np.ndarray]], shape_nhwc: tuple[int, ...], layout: str
) -> None:
    if precision == "fp32":
        return
    data = path.read_bytes()
    if precision == "fp16":
        q = quantize_fp16(data)
    else:
        try:
            q = quantize_int8(data, [to_layout(x, layout) for x in calib_inputs(shape_nhwc)])
        except MaikitError as e:  # name the file being written, not the staging copy
            raise MaikitError(e.reason, path.name) from None
    path.write_bytes(q)  # inside the private staging folder


def _verify_file(
    staged: _Staged, reference: nn.Module, spec: TaskSpec, layout: str, convention: RawConvention | None, fmt: str, multiple: int,
    data: _VerifyData | None = None,
) -> None:
    from maikit.export.onnx import OnnxRunner

    if staged.dynamic:
        shapes = [staged.input_nhwc, _second_shape(staged.input_nhwc, multiple)]
    else:
        shapes = [staged.input_nhwc]
    runner = TfliteRunner(staged.path, threads=2) if fmt == "tflite" else OnnxRunner(staged.path, threads=2)
    inputs = _verification_inputs(spec, shapes, convention, data)
    for x in inputs:
        ref = _torch_reference(reference, x, layout)
        got = runner.run(to_layout(x, layout))
        if fmt == "tflite":
            spec.check_io(runner.input_shape, runner.output_shape, layout, staged.name)
        staged.verify.append({"input_shape": shape_in_layout(x.shape, layout), "psnr_db": verify_psnr(ref, got, spec)})
    if fmt == "tflite" and staged.dynamic:
        # A traced constant left in the graph (as TRANSPOSE_CONV's output shape was) is
        # recomputed by XNNPACK but refused by the builtin kernels at other sizes: record
        # whether runtimes without XNNPACK (boards, delegates' CPU fallback) run the file too.
        staged.builtin_ok = _runs_without_xnnpack(staged.path, [to_layout(x, layout) for x in inputs], spec, layout)


def _runs_without_xnnpack(path: Path, xs: list[np.ndarray], spec: TaskSpec, layout: str) -> bool:
    """Whether LiteRT's builtin kernels run the file at each input's size, with the right output shape."""
    try:
        runner = TfliteRunner(path, threads=1, xnnpack=False)
        for x in xs:
            runner.run(x)
            spec.check_io(runner.input_shape, runner.output_shape, layout, path.name)
        return True
    except (MaikitError, RuntimeError, ValueError):
        return False


def export_model(
    model_or_run: Any,
    out_dir: str | os.PathLike,
    task: TaskSpec | None = None,
    precision: str = "fp32",
    calib: str | os.PathLike | None = None,
    layout: str = "nhwc",
    fmt: str = "tflite",
    gpu_friendly: bool = False,
    progress: Progress = None,
    *,
    convention: RawConvention | None = None,
    calib_samples: int = DEFAULT_CALIBRATION_SAMPLES,
    input_hw: tuple[int, int] | None = None,
    fidelity_hw: tuple[int, int] | None = None,
) -> dict:
    """Export a model (nn.Module, RUN folder, checkpoint, or zoo name) to ``out_dir``.

    ``input_hw`` replaces the task's latency (and full-resolution fallback) input size, for
    quick checks and tests; the challenge's files use the defaults. ``fidelity_hw`` is the
    input height and width of ``model_none`` where it cannot be dynamic (the data's size,
    packed RAW for ISP) instead of the full-resolution one. Returns the export record that
    is also written to ``out_dir/export.json``.
    """
    if precision not in PRECISIONS:
        raise MaikitError(f"`precision` must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    if layout not in LAYOUTS:
        raise MaikitError(f"`layout` must be one of {', '.join(LAYOUTS)}, got {layout!r}")
    if fmt not in FORMATS:
        raise MaikitError(f"`fmt` must be one of {', '.join(FORMATS)}, got {fmt!r}")
    if fmt == "onnx" and precision != "fp32":
        raise MaikitError(f"ONNX export is for fp32 comparison runs only, got precision {precision!r}")

    source = resolve_source(model_or_run, task)
    if task and source.task and task.name != source.task.name:
        raise MaikitError(f"`task` {task.name!r} does not match the model's task {source.task.name!r}")
    if not (task or source.task):
        raise MaikitError("the task is unknown for a plain module: pass `task` (isp or depth)")
    spec = task or source.task
    if input_hw is not None:
        spec = spec.with_input_hw(input_hw)
    raw_convention = spec.convention(convention or source.convention)  # None for tasks without RAW input
    # The registry's `dynamic_shapes` flag is a hint: the rewrite below often makes a model
    # marked static export dynamically, so the dynamic export is always tried first.
    multiple, registry_dynamic = _model_limits(source)
    allow_dynamic = True
    warnings: list[str] = []
    fixed_flex_shape = spec.full_res_input_shape
    if fidelity_hw is not None:
        fh, fw = (int(v) for v in fidelity_hw)
        if fh < 1 or fw < 1 or fh % multiple or fw % multiple:
            raise MaikitError(f"the fidelity shape {fh}x{fw} must be positive multiples of the model's size multiple {multiple}")
        fixed_flex_shape = (1, fh, fw, spec.input_channels)
    if not source.trained:
        warnings.append(f"`{source.name}` has random weights (no run or checkpoint given): fine for runtime, not for fidelity")
    if any(v % multiple for v in spec.latency_input_shape[1:3]):
        raise MaikitError(f"the latency shape {list(spec.latency_input_shape)} is not a multiple of the model's size multiple {multiple}")

    reference = source.model.eval()
    _check_torch_contract(reference, spec, multiple)
    model, rewrites = reference, {}
    if gpu_friendly:
        probe = torch.rand(1, spec.input_channels, *probe_hw(spec, multiple))
        model, rewrites = rewrite_pixel_shuffles(reference, probe)
        model, clamps = lower_for_gpu(model, probe)
        rewrites = {**rewrites, **clamps}
        if rewrites:
            check_same_outputs(reference, model, probe)
        else:
            warnings.append("--gpu-friendly: nothing to rewrite (no nn.PixelShuffle/PixelUnshuffle module, no [0, 1] clamp, no nearest resize)")

    calib_root = Path(calib) if calib is not None else source.data_root
    if fmt == "tflite" and precision == "int8" and calib_root is not None:
        check_calibration_data(spec, calib_root, calib_samples, raw_convention)  # before minutes of converting
    out_dir = Path(out_dir)
    created = _make_dirs(out_dir)  # removed again if the export fails: no empty folder left behind
    stage = Path(tempfile.mkdtemp(prefix=".export-", dir=out_dir))
    calib_record: dict | None = None
    calib_cache: dict[tuple, list[np.ndarray]] = {}

    def calib_inputs(shape_nhwc: tuple[int, ...]) -> list[np.ndarray]:
        nonlocal calib_record
        if shape_nhwc not in calib_cache:
            xs, rec = _calibration(spec, source, calib, shape_nhwc, calib_samples, raw_convention, warnings if calib_record is None else [])
            calib_cache[shape_nhwc], calib_record = xs, rec
        return calib_cache[shape_nhwc]

    verify_data = _VerifyData()
    try:
        ext = "." + fmt
        fixed = _Staged(FIXED_FILE + ext, stage / (FIXED_FILE + ext), False, spec.latency_input_shape)
        flex_path = stage / (FLEX_FILE + ext)
        note = None
        if fmt == "tflite":
            _say(progress, f"converting {fixed.name} at {list(spec.latency_input_shape)}")
            convert_to_tflite(model, torch.rand(*_nchw(spec.latency_input_shape)), fixed.path, layout=layout)
            # fixed at the latency shape, the fidelity file is the latency file's graph: a second
            # conversion (about 30 CPU seconds for a depth model), quantisation and verification
            # would make and check the same file again
            same_as = fixed.path if tuple(fixed_flex_shape) == tuple(spec.latency_input_shape) else None
            dynamic, note, flex_rewrites = _convert_flexible(model, spec, flex_path, layout, multiple, allow_dynamic, rewrites,
                                                             progress, fixed_flex_shape, same_as=same_as)
            copied = not dynamic and same_as is not None
        else:
            from maikit.export.onnx import export_onnx

            _say(progress, f"exporting {fixed.name}")
            export_onnx(model, torch.rand(*_nchw(spec.latency_input_shape)), fixed.path, layout=layout)
            ph, pw = probe_hw(spec, multiple)
            export_onnx(model, torch.rand(1, spec.input_channels, ph, pw), flex_path, layout=layout, dynamic_hw=True)
            dynamic, flex_rewrites, copied = True, {}, False
        if dynamic and fidelity_hw is not None:
            warnings.append(f"{FLEX_FILE}{ext} takes any height/width: the fidelity shape asked for "
                            f"({fixed_flex_shape[1]}x{fixed_flex_shape[2]}) was not needed")
        flex_shape = (1, *probe_hw(spec, multiple), spec.input_channels) if dynamic else fixed_flex_shape
        flex = _Staged(FLEX_FILE + ext, flex_path, dynamic, flex_shape)

        for staged in (fixed, flex):
            if staged is flex and copied:
                _say(progress, f"{flex.name} is {fixed.name}'s graph: its {precision} file and verification taken from it")
                shutil.copyfile(fixed.path, flex.path)
                flex.verify = [dict(v) for v in fixed.verify]
                continue
            if fmt == "tflite" and precision != "fp32":
                _say(progress, f"quantising {staged.name} to {precision}")
                calib_shape = staged.input_nhwc
                _quantise_file(staged.path, precision, calib_inputs, calib_shape, layout)
                if precision == "int8" and verify_data.root is None and calib_record and calib_record["source"] == "data":
                    verify_data = _VerifyData(Path(calib_record["root"]), calib_samples)
            _say(progress, f"verifying {staged.name} against PyTorch ({verify_data.label} inputs)")
            _verify_file(staged, reference, spec, layout, raw_convention, fmt, multiple, verify_data)

        worst = min(v["psnr_db"] for s in (fixed, flex) for v in s.verify)
        if precision == "fp32" and worst < MIN_FP32_PSNR_DB:
            raise MaikitError(
                f"verification failed: the {fmt} output differs from PyTorch ({worst:.1f} dB < {MIN_FP32_PSNR_DB:.0f} dB); nothing was written",
                out_dir,
            )

        versions = _versions()
        none_sig = (
            shape_in_layout((1, -1, -1, spec.input_channels), layout) if dynamic else shape_in_layout(fixed_flex_shape, layout)
        )
        none_out = (
            shape_in_layout((1, -1, -1, spec.output_channels), layout)
            if dynamic
            else shape_in_layout(spec.output_shape(fixed_flex_shape), layout)
        )
        record = {
            "files": [fixed.name, flex.name],
            "format": fmt,
            "precision": precision,
            "verify_psnr_db": worst,
            "verify": {s.name: s.verify for s in (fixed, flex)},
            "verify_inputs": verify_data.label,
            "verify_input_files": verify_data.files or None,
            "dynamic": dynamic,
            "registry_dynamic_shapes": registry_dynamic if source.name else None,
            # False: other sizes run with XNNPACK (LiteRT's default CPU path) only
            "dynamic_builtin_kernels": flex.builtin_ok,
            "layout": layout,
            "input_shape": shape_in_layout(spec.latency_input_shape, layout),
            "output_shape": shape_in_layout(spec.latency_output_shape, layout),
            "none_input_shape": none_sig,
            "none_output_shape": none_out,
            "model": source.name,
            "task": spec.name,
            "convention": raw_convention.name if raw_convention else None,
            "source": source.describe(),
            "gpu_friendly": bool(gpu_friendly),
            "rewrites": {FIXED_FILE + ext: rewrites, FLEX_FILE + ext: {**rewrites, **flex_rewrites}},
            "calibration": calib_record,
            "size_bytes": {s.name: s.path.stat().st_size for s in (fixed, flex)},
            "note": note,
            "custom_shape": input_hw is not None,
            "fidelity_shape_asked": list(fidelity_hw) if fidelity_hw is not None else None,
            "warnings": warnings,
            "versions": versions,
            "verify_peak": "ISP: 1.0 (output range [0, 1]); depth: max of the PyTorch reference (metres)",
        }
        _say(progress, f"writing {out_dir}")
        for s in (fixed, flex):
            write_bytes(out_dir / s.name, s.path.read_bytes())
        write_json(out_dir / EXPORT_JSON, record)
        return {**record, "out_dir": str(out_dir)}
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        for folder in created:  # deepest first; only folders this call made, and only when empty
            with contextlib.suppress(OSError):
                folder.rmdir()
        raise
    finally:
        shutil.rmtree(stage, ignore_errors=True)


def _make_dirs(path: Path) -> list[Path]:
    """``mkdir -p path``; returns the folders it created, deepest first."""
    missing = []
    p = path
    while not p.exists():
        missing.append(p)
        if p.parent == p:
            break
        p = p.parent
    path.mkdir(parents=True, exist_ok=True)
    return missing


def _versions() -> dict:
    from importlib import metadata

    out = {}
    for pkg in ("torch", "litert-torch", "ai-edge-litert", "ai-edge-quantizer", "onnxruntime"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = None
    return out
