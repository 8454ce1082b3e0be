"""PyTorch -> ONNX, for comparison runs with ONNX Runtime (not a challenge format).

Two exporters are tried in turn: PyTorch's TorchScript-based one (fast, and the one most
graphs here were checked with), then the ``torch.export``-based one (``onnxscript``), which
handles what the first cannot trace into ONNX: a kernel built in ``forward`` (the exact
transposed convolution of :class:`maikit.models.blocks.UpConv`), Python arithmetic on
shapes (TCL's 1/10 grid) and half-pixel nearest resizing (``nearest-exact``). Files are
written atomically; the NHWC layout wraps the model in :class:`ChannelLastIO` so the ONNX
file takes the same input tensor as the TFLite file.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import sys
import warnings
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

from maikit.errors import MaikitError, first_line
from maikit.io import atomic_path

ONNX_OPSET = 17


class ChannelLastIO(nn.Module):
    """NHWC in, NHWC out around an NCHW model."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x.permute(0, 3, 1, 2)).permute(0, 2, 3, 1)


def with_layout(model: nn.Module, layout: str) -> nn.Module:
    if layout not in ("nhwc", "nchw"):
        raise MaikitError(f"`layout` must be nhwc or nchw, got {layout!r}")
    return ChannelLastIO(model).eval() if layout == "nhwc" else model.eval()


def export_onnx(
    model: nn.Module, sample_nchw: torch.Tensor, path: str | os.PathLike, *, layout: str = "nhwc", dynamic_hw: bool = False
) -> Path:
    """Write ``model`` as ONNX at the sample's shape (or with dynamic height/width)."""
    wrapped = with_layout(model, layout)
    sample = sample_nchw.permute(0, 2, 3, 1).contiguous() if layout == "nhwc" else sample_nchw
    axes = {1: "height", 2: "width"} if layout == "nhwc" else {2: "height", 3: "width"}
    out_axes = {1: "out_height", 2: "out_width"} if layout == "nhwc" else {2: "out_height", 3: "out_width"}
    path = Path(path)
    errors = []
    for exporter in (_export_torchscript, _export_dynamo):
        try:  # an exception leaves atomic_path's block: the temporary file goes, `path` stays
            with atomic_path(path, suffix=".onnx") as tmp, warnings.catch_warnings(), _quiet():
                warnings.simplefilter("ignore")
                exporter(wrapped, sample, tmp, axes, out_axes, dynamic_hw)
            return path
        except Exception as e:
            first = first_line(e)
            errors.append(f"{exporter.__doc__}: {first[:160]}")
    raise MaikitError(f"ONNX export failed ({'; '.join(errors)})", path)


@contextlib.contextmanager
def _quiet():
    """Silence the exporters: Python prints, logger warnings (e.g. torchvision ops skipped) and
    the TorchScript graph dump that PyTorch's C++ side writes straight to file descriptor 1/2."""
    logger = logging.getLogger("torch.onnx")
    level = logger.level
    logger.setLevel(logging.ERROR)
    saved = []
    try:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        with open(os.devnull, "w") as devnull:
            for fd in (1, 2):
                with contextlib.suppress(OSError):
                    saved.append((fd, os.dup(fd)))
                    os.dup2(devnull.fileno(), fd)
            with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
                yield
    finally:
        for fd, copy in saved:
            os.dup2(copy, fd)
            os.close(copy)
        logger.setLevel(level)


def _export_torchscript(model, sample, tmp, axes, out_axes, dynamic_hw) -> None:
    """torchscript exporter"""
    torch.onnx.export(
        model, (sample,), str(tmp), dynamo=False, opset_version=ONNX_OPSET,
        input_names=["input"], output_names=["output"],
        dynamic_axes={"input": axes, "output": out_axes} if dynamic_hw else None,
    )


def _export_dynamo(model, sample, tmp, axes, out_axes, dynamic_hw) -> None:
    """torch.export exporter"""
    dims = {i: torch.export.Dim.AUTO for i in axes} if dynamic_hw else None
    program = torch.onnx.export(
        model, (sample,), dynamo=True, opset_version=max(ONNX_OPSET, 18),
        input_names=["input"], output_names=["output"],
        dynamic_shapes=(dims,) if dims else None, verbose=False,
    )
    if program is None:
        raise RuntimeError("the exporter returned no program")
    program.save(str(tmp))


class OnnxRunner:
    """An ONNX Runtime CPU session with an explicit thread count (one input, one output)."""

    def __init__(self, path: str | os.PathLike, threads: int = 2, profile_prefix: str | None = None):
        """``profile_prefix``: turn on ONNX Runtime's own profiler, writing ``<prefix>_<time>.json``
        (its path from ``session.end_profiling()``)."""
        import onnxruntime as ort

        self.path = Path(path)
        if not self.path.is_file():
            raise MaikitError("file not found", self.path)
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = int(threads)
        opts.inter_op_num_threads = 1
        opts.log_severity_level = 3
        if profile_prefix is not None:
            opts.enable_profiling = True
            opts.profile_file_prefix = str(profile_prefix)
        try:
            self.session = ort.InferenceSession(str(self.path), sess_options=opts, providers=["CPUExecutionProvider"])
        except Exception as e:
            first = first_line(e)
            raise MaikitError(f"not a loadable ONNX model ({first})", self.path) from None
        self.input_name = self.session.get_inputs()[0].name
        self.input_shape = tuple(self.session.get_inputs()[0].shape)

    def run(self, x: np.ndarray) -> np.ndarray:
        return self.session.run(None, {self.input_name: np.ascontiguousarray(x, np.float32)})[0]
