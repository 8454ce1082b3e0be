"""``evaluate_model``: the challenge's evaluation of one submission, end to end.

1. fidelity: the fidelity file (``model_none.tflite``, or the single file given) runs over
   a split in the official layout — ISP: each RAW packed per the convention recorded in
   export.json (default mai21), output RGB in [0, 1]; depth: RGB as 0-255 floats, output
   metres -> millimetres (``DEPTH_MODEL_UNIT_TO_MM``) — and the official metrics are
   accumulated with :mod:`maikit.metrics`;
2. runtime: the runtime file (``model.tflite``) is measured at the task's latency shape by
   :func:`maikit.runtime.benchmark_tflite` (its average, as AI Benchmark reports);
3. score: :func:`maikit.scoring.score` from the primary metric and the runtime.

The future challenge server calls this unchanged for every submission.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable

import numpy as np

from maikit.errors import MaikitError
from maikit.tflite.files import EXPORT_JSON, FIXED_FILE, FLEX_FILE, read_export_json
from maikit.tflite.runner import TfliteRunner, delegate_not_applied
from maikit.tasks import RawConvention, Task, get_raw_convention, shape_in_layout

Progress = Callable[[int, int, str], None] | None


def _is_run_dir(path: Path) -> bool:
    if not path.is_dir() or not any(path.glob("*.pt")):  # no checkpoint: leave PyTorch unloaded
        return False
    from maikit.export.source import CHECKPOINT_NAMES

    return path.is_dir() and any((path / n).is_file() for n in CHECKPOINT_NAMES)


def resolve_submission(path: str | os.PathLike, task: Task | None = None) -> tuple[Path, Path, dict | None]:
    """(fidelity file, runtime file, export record) for a .tflite, a folder, or a RUN folder.

    A RUN folder is exported (fp32) to ``RUN/export`` first unless that export is newer
    than the checkpoint.
    """
    path = Path(path)
    if not path.exists():
        raise MaikitError("not found", path)
    if path.is_file():
        if path.suffix != ".tflite":
            raise MaikitError("expected a .tflite file, a folder with model.tflite / model_none.tflite, or a run folder", path)
        return path, path, read_export_json(path)
    if _is_run_dir(path) and not (path / f"{FLEX_FILE}.tflite").is_file():
        from maikit.export.exporter import export_model
        from maikit.export.source import run_checkpoint

        ckpt, out = run_checkpoint(path), path / "export"
        fresh = (out / EXPORT_JSON).is_file() and (out / EXPORT_JSON).stat().st_mtime >= ckpt.stat().st_mtime
        if not fresh:
            export_model(path, out, task=task)
        path = out
    flex, fixed = path / f"{FLEX_FILE}.tflite", path / f"{FIXED_FILE}.tflite"
    if not flex.is_file() and not fixed.is_file():
        raise MaikitError(f"no {FLEX_FILE}.tflite or {FIXED_FILE}.tflite in this folder", path)
    fidelity = flex if flex.is_file() else fixed
    runtime = fixed if fixed.is_file() else flex
    return fidelity, runtime, read_export_json(path)


def detect_layout(signature: tuple[int, ...], spec: Task, file: Path) -> str:
    """nhwc or nchw from the input signature; MaikitError when neither fits the task."""
    return spec.detect_layout(signature, file)


def _check_fixed_size(runner: TfliteRunner, x: np.ndarray, name: str, file: Path) -> None:
    sig = runner.input_signature
    if any(s >= 0 and s != v for s, v in zip(sig, x.shape)):
        raise MaikitError(
            f"the fidelity model has a fixed input {list(sig)} but {name} gives {list(x.shape)}; "
            "export it with dynamic shapes (model_none.tflite) or at the data's size",
            file,
        )


def _read_pair(spec: Task, pair, convention: RawConvention | None) -> tuple[np.ndarray, np.ndarray]:
    """(model input NHWC float32, ground truth for the metrics) of one pair."""
    x = spec.read_input(pair.input_path, convention)
    gt = spec.read_target(pair.target_path, x.shape[:2])
    return x[None], gt[None]


def run_fidelity(
    file: str | os.PathLike, task: Task, split_dir: str | os.PathLike,
    convention: RawConvention | None = None,
    threads: int = 2, progress: Progress = None, xnnpack: bool = True,
) -> dict:
    """Official metrics of a .tflite over a split (see the module docstring); ``xnnpack=False``
    runs LiteRT's builtin kernels only, as a runtime without XNNPACK would."""
    from maikit.data.layout import find_pairs

    file = Path(file)
    runner = TfliteRunner(file, threads=threads, xnnpack=xnnpack)
    layout = task.detect_layout(runner.input_signature, file)
    pairs = find_pairs(Path(split_dir), task)
    metrics = task.new_metrics()
    for i, pair in enumerate(pairs):
        x, gt = _read_pair(task, pair, convention)
        xin = x if layout == "nhwc" else x.transpose(0, 3, 1, 2)
        _check_fixed_size(runner, xin, pair.name, file)
        y = runner.run(np.ascontiguousarray(xin))
        task.check_io(tuple(xin.shape), tuple(y.shape), layout, file)
        y = y if layout == "nhwc" else y.transpose(0, 2, 3, 1)
        metrics.update(task.output_to_target_units(y), gt)
        if progress is not None:
            progress(i + 1, len(pairs), pair.name)
    return {**metrics.compute(), "layout": layout}


def run_runtime(file: str | os.PathLike, task: Task, bench_kwargs: dict | None = None,
                input_shape: tuple[int, ...] | list[int] | None = None) -> dict:
    """:func:`maikit.runtime.benchmark_tflite` of a runtime file at ``input_shape`` (NHWC; by
    default the task's latency shape).

    A dynamic file runs at that shape (in its own layout) and its output there must be the
    task's (MaikitError naming both otherwise); a fixed one at its shape, with a warning in
    ``warnings`` when that is not the challenge's.
    """
    from maikit.runtime import benchmark_tflite

    file = Path(file)
    kwargs = dict(bench_kwargs or {})
    probe = TfliteRunner(file, threads=1)
    layout = task.detect_layout(probe.input_signature, file)
    lat = tuple(shape_in_layout(tuple(input_shape) if input_shape is not None else task.latency_input_shape, layout))
    warnings = []
    if probe.dynamic:
        kwargs.setdefault("shape", lat)
    elif probe.input_shape != tuple(lat):
        warnings.append(f"runtime measured at the file's shape {list(probe.input_shape)}, not the challenge's {list(lat)}")
    del probe
    result = benchmark_tflite(file, **kwargs)
    outputs = result.get("outputs") or []
    if len(outputs) == 1:  # the output at the timed shape (a dynamic signature cannot say it before)
        task.check_io(tuple(result["input_shape"]), tuple(outputs[0]["shape"]), layout, file.name)
    if (flag := delegate_not_applied(result["delegate"])) is not None:
        warnings.append(flag)
    return {**result, "warnings": warnings}


def evaluate_model(
    model_path_or_dir_or_run: str | os.PathLike,
    task: Task,
    split_dir: str | os.PathLike,
    bench_kwargs: dict | None = None,
    progress: Progress = None,
    *,
    convention: RawConvention | None = None,
) -> dict:
    """Fidelity, runtime and final score of a submission (file, folder, or run) on a split.

    ISP returns ``psnr, ssim, ms_ssim, runtime_ms, score, images``; depth returns
    ``si_rmse, rmse, log10, rel, runtime_ms, score, images``; both add details.
    """
    fidelity, runtime, record = resolve_submission(model_path_or_dir_or_run, task)
    if record and record.get("task") and record["task"] != task.name:
        raise MaikitError(f"the model was exported for task `{record['task']}`, not `{task.name}`", fidelity)
    saved = (record or {}).get("convention")  # the name export.json stores
    raw_convention = task.convention(convention or (get_raw_convention(saved) if saved else None))
    kwargs = dict(bench_kwargs or {})
    threads = int(kwargs.get("threads", 2))

    metrics = run_fidelity(fidelity, task, split_dir, raw_convention, threads=threads, progress=progress,
                           xnnpack=bool(kwargs.get("xnnpack", True)))
    bench = run_runtime(runtime, task, kwargs)
    warnings = bench.pop("warnings")
    runtime_ms = float(bench["avg_ms"])
    primary = float(metrics[task.primary_metric])
    out = {name: metrics[name] for name in task.metric_names}
    out.update({
        "runtime_ms": runtime_ms,
        "score": task.score(primary, runtime_ms),
        "images": metrics["images"],
        "task": task.name,
        "fidelity_file": str(fidelity),
        "runtime_file": str(runtime),
        "runtime_shape": bench["input_shape"],
        "layout": metrics["layout"],
        "convention": raw_convention.name if raw_convention else None,
        "bench": {k: bench[k] for k in ("init_ms", "first_ms", "avg_ms", "std_ms", "p50_ms", "p90_ms", "runs", "threads", "cpu",
                                        "runtime_version", "xnnpack", "delegate")},
        "warnings": warnings,
    })
    return out
