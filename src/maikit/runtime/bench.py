"""``benchmark_tflite``: maikit's local "AI Benchmark" for a .tflite file, and the same loop
for PyTorch eager and ONNX Runtime (``benchmark_compare``) and for the machine's SGEMM
speed (``measure_sgemm_flops``, the compute-bound reference).

All numbers come from :func:`maikit.runtime.loop.measure`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable

import numpy as np

from maikit.errors import MaikitError, describe
from maikit.runtime.backends import create_backend
from maikit.runtime.loop import DEFAULTS, LoopSettings, measure, settings_for
from maikit.runtime.system import machine_info
from maikit.tflite.backend import TfliteBackend, random_input
from maikit.tflite.files import read_export_json
from maikit.tflite.model import read_tflite

COMPARE_BACKENDS = ("torch", "onnx")


def load_input(input: str | os.PathLike | np.ndarray | None) -> np.ndarray | None:
    """An input array, or a .npy file holding one."""
    if input is None or isinstance(input, np.ndarray):
        return input
    path = Path(input)
    try:
        arr = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise MaikitError("file not found", path) from None
    except (OSError, ValueError) as e:
        raise MaikitError(f"not a readable .npy array ({describe(e)})", path) from None
    if not isinstance(arr, np.ndarray):
        raise MaikitError("expected a single array in the .npy file", path)
    return arr


def _default_shape(path: Path) -> tuple[int, ...] | None:
    """For a dynamic file written by `mai export`: the task's latency shape in its layout."""
    from maikit.tasks import get_task

    record = read_export_json(path)
    if not record or not record.get("task"):
        return None
    shape = get_task(record["task"]).latency_input_shape
    if record.get("layout") == "nchw":
        n, h, w, c = shape
        shape = (n, c, h, w)
    return tuple(shape)


def load_inputs(inputs: dict | None) -> dict[str, np.ndarray]:
    """Input name -> array (a .npy path or an array) for each input given by name."""
    return {str(k): load_input(v) for k, v in (inputs or {}).items()}


def _tflite_backend(path: Path, threads: int, xnnpack: bool, x: np.ndarray | None, shape, *,
                    inputs: dict | None = None, shapes: dict | None = None, signature: str | None = None,
                    resize: bool = False) -> TfliteBackend:
    if x is None and shape is None and not inputs and not shapes and signature is None:
        main = read_tflite(path)["subgraphs"][0]
        sigs = [main["tensors"][i]["shape_signature"] for i in main["inputs"]]
        if len(sigs) == 1 and any(v < 0 for v in sigs[0]):
            shape = _default_shape(path)
    return TfliteBackend(path, threads=threads, xnnpack=xnnpack, input=x, shape=shape,
                         inputs=load_inputs(inputs), shapes=shapes, signature=signature, resize=resize)


def benchmark_tflite(
    path: str | os.PathLike,
    threads: int = 2,
    runs: int = DEFAULTS.runs,
    min_seconds: float = DEFAULTS.min_seconds,
    max_seconds: float = DEFAULTS.max_seconds,
    warmup_runs: int = DEFAULTS.warmup_runs,
    warmup_seconds: float = DEFAULTS.warmup_seconds,
    xnnpack: bool = True,
    input: str | os.PathLike | np.ndarray | None = None,
    profile: str | None = None,
    *,
    shape: Iterable[int] | None = None,
    settings: LoopSettings | None = None,
    inputs: dict[str, str | os.PathLike | np.ndarray] | None = None,
    shapes: dict[str, Iterable[int]] | None = None,
    signature: str | None = None,
    resize: bool = False,
) -> dict:
    """Measure one .tflite with LiteRT (benchmark_model semantics, see ``runtime.loop``).

    Any model runs: every input of the main subgraph (or of ``signature``'s) is taken from
    ``inputs`` (name -> array or .npy file; ``input`` for a model with one input) or filled
    with random values of its type (:func:`maikit.tflite.runner.fill_input`). A dynamic input
    runs at its ``shapes`` entry (``shape`` for a model with one input), at the given array's
    shape, or at the task's latency shape when its export.json says which task it is for. A
    fixed-shape input is measured at its own shape: another one is an error unless
    ``resize`` is True.

    ``profile`` (``quick``/``normal``) replaces ``runs``/``min_seconds``/``max_seconds`` with
    MLPerf Mobile's values; ``settings`` replaces all loop settings.
    """
    path = Path(path)
    if settings is None:
        if profile is not None:
            settings = settings_for(profile, warmup_runs=warmup_runs, warmup_seconds=warmup_seconds)
        else:
            settings = LoopSettings(runs, min_seconds, max_seconds, warmup_runs, warmup_seconds)
    if int(threads) < 1:
        raise MaikitError(f"`threads` must be at least 1, got {threads}")
    x = load_input(input)
    shapes = {k: tuple(int(v) for v in s) for k, s in (shapes or {}).items()}
    backend = _tflite_backend(path, threads, xnnpack, x, tuple(shape) if shape is not None else None,
                              inputs=inputs, shapes=shapes, signature=signature, resize=resize)
    result = measure(backend, settings)
    return {
        "file": str(path),
        "size_bytes": path.stat().st_size,
        **result.as_dict(),
        "threads": int(threads),
        "xnnpack": bool(xnnpack),
        "delegate": backend.delegate,  # what ran: XNNPACK asked for may not have applied
        "input_shape": list(backend.input_shape),
        "inputs": backend.inputs,
        "outputs": backend.outputs,
        "signature": signature,
        "resized": bool(resize),
        "profile": profile,
        **machine_info(),
    }


def _nchw_from(x: np.ndarray, layout: str) -> np.ndarray:
    return np.ascontiguousarray(x.transpose(0, 3, 1, 2) if layout == "nhwc" else x)


def benchmark_compare(
    path: str | os.PathLike,
    backends: Iterable[str] = COMPARE_BACKENDS,
    threads: int = 2,
    xnnpack: bool = True,
    input: str | os.PathLike | np.ndarray | None = None,
    settings: LoopSettings | None = None,
    *,
    shape: Iterable[int] | None = None,
) -> dict:
    """Measure a .tflite and the same model in PyTorch eager / ONNX Runtime, same loop and threads.

    The PyTorch model is rebuilt from the export.json next to the file (written by
    ``mai export``); the ONNX file is ``<stem>.onnx`` next to it, exported on the fly
    (in the file's layout and shape) when missing. PyTorch gets the same values in NCHW.
    """
    from maikit.export.source import rebuild_model

    path = Path(path)
    backends = tuple(backends)
    for b in backends:
        if b not in COMPARE_BACKENDS:
            raise MaikitError(f"unknown comparison backend `{b}`; choose from {', '.join(COMPARE_BACKENDS)}")
    settings = settings or DEFAULTS
    record = read_export_json(path)
    if backends and (record is None or not record.get("source")):
        raise MaikitError(
            "--compare needs the PyTorch model: no export.json from `mai export` next to this file", path
        )
    x = load_input(input)
    tfl = _tflite_backend(path, threads, xnnpack, x, tuple(shape) if shape is not None else None)
    results = {"tflite": measure(tfl, settings)}
    x_in = tfl.input
    if x_in.dtype.kind != "f":  # int8 file: compare the float models on float data
        x_in = random_input(x_in.shape, np.float32)
    layout = record.get("layout", "nhwc") if record else "nhwc"
    x_nchw = _nchw_from(x_in.astype(np.float32), layout)
    source = record.get("source") if record else None

    def build():
        return rebuild_model(source)

    if "torch" in backends:
        results["torch"] = measure(create_backend("torch", build, x_nchw, threads), settings)
    if "onnx" in backends:
        onnx_path = path.with_suffix(".onnx")
        if not onnx_path.is_file():
            import torch

            from maikit.export.onnx import export_onnx

            export_onnx(build(), torch.from_numpy(x_nchw), onnx_path, layout=layout)
        results["onnx"] = measure(create_backend("onnx", onnx_path, x_in.astype(np.float32), threads), settings)
    return {
        "file": str(path),
        "threads": int(threads),
        "input_shape": list(x_in.shape),
        "settings": results["tflite"].settings,
        "backends": {k: m.as_dict() for k, m in results.items()},
        **machine_info(),
    }


class _SgemmBackend:
    name = "sgemm"

    def __init__(self, n: int, threads: int):
        self.n, self.threads = int(n), int(threads)

    def load(self) -> None:
        import torch

        self._old = torch.get_num_threads()
        torch.set_num_threads(self.threads)
        g = torch.Generator().manual_seed(0)
        self.a = torch.rand(self.n, self.n, generator=g)
        self.b = torch.rand(self.n, self.n, generator=g)

    def prepare(self) -> None:
        pass

    def step(self) -> None:
        import torch

        torch.mm(self.a, self.b)

    def close(self) -> None:
        import torch

        torch.set_num_threads(getattr(self, "_old", torch.get_num_threads()))
        self.a = self.b = None


def measure_sgemm_flops(n: int = 4096, threads: int = 2, settings: LoopSettings | None = None) -> dict:
    """FLOP/s of an n x n float32 matrix product (2 n^3 FLOPs per run), from the median run."""
    settings = settings or LoopSettings(runs=3, min_seconds=0.0, max_seconds=60.0, warmup_runs=1, warmup_seconds=0.0)
    r = measure(_SgemmBackend(n, threads), settings)
    flops = 2.0 * n**3 / (r["p50_ms"] / 1000.0)
    return {"n": n, "threads": threads, "p50_ms": r["p50_ms"], "flops": flops, "gflops": flops / 1e9}
