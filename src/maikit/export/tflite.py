"""PyTorch -> TFLite conversion with litert-torch.

:func:`convert_to_tflite` writes a file atomically (NHWC I/O by default, as the challenge's
TFLite files are), at the sample's fixed shape or with dynamic height/width. Running a file
is :class:`maikit.tflite.TfliteRunner` (torch-free; re-exported here).
"""

from __future__ import annotations

import contextlib
import io
import os
import warnings
from pathlib import Path

import torch
import torch.nn as nn

from maikit.errors import MaikitError
from maikit.export.fold import (
    fold_constant_ops, shuffles_to_depth_to_space, transpose_conv_shapes_from_input, transpose_convs_to_depth_to_space,
)
from maikit.io import atomic_path
from maikit.models.lowering import frozen_for_export, tflite_lowering
from maikit.tflite.runner import TfliteRunner, run_tflite  # noqa: F401  (re-exported)
from maikit.tflite.runner import quiet_tf_logs as _quiet_tf_logs

# The largest height/width a dynamic-shape export accepts (full-resolution ISP RAW is
# 2976x3968, packed 1488x1984; depth frames are 480x640).
DYNAMIC_MAX_SIDE = 8192




@contextlib.contextmanager
def quiet_conversion():
    """Silence litert-torch's progress lines and Python warnings during a conversion."""
    _quiet_tf_logs()
    import litert_torch

    cfg = litert_torch.config
    old = getattr(cfg, "show_progress", None)
    with contextlib.suppress(Exception):
        cfg.show_progress = False
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            yield
    finally:
        if old is not None:
            with contextlib.suppress(Exception):
                cfg.show_progress = old


def _dynamic_spec(sample_shape: tuple[int, ...], layout: str, multiple: int):
    """torch.export Dims for height and width (multiples of ``multiple``)."""
    from torch.export import Dim

    m = max(int(multiple), 1)
    hb = Dim("h_blocks", min=1, max=DYNAMIC_MAX_SIDE // m)
    wb = Dim("w_blocks", min=1, max=DYNAMIC_MAX_SIDE // m)
    h, w = (m * hb, m * wb) if m > 1 else (Dim("height", min=1, max=DYNAMIC_MAX_SIDE), Dim("width", min=1, max=DYNAMIC_MAX_SIDE))
    axes = {1: h, 2: w} if layout == "nhwc" else {2: h, 3: w}
    return axes


def convert_to_tflite(
    model: nn.Module,
    sample_nchw: torch.Tensor,
    path: str | os.PathLike,
    *,
    layout: str = "nhwc",
    dynamic_hw: bool = False,
    size_multiple: int = 1,
) -> Path:
    """Convert ``model`` (NCHW in/out) and write ``path`` atomically.

    ``layout="nhwc"`` gives NHWC input and output tensors; ``"nchw"`` keeps PyTorch's. With
    ``dynamic_hw`` the input's height and width are dynamic (-1 in the file's shape
    signature; multiples of ``size_multiple``); otherwise the file has the sample's shape.
    Weight transforms left to run at inference time are folded
    (:func:`maikit.export.fold.fold_constant_ops`), and pixel shuffles become DEPTH_TO_SPACE
    where the file's shapes are static (:func:`maikit.export.fold.shuffles_to_depth_to_space`);
    in a dynamic file, transposed convolutions become 1x1 convolutions and DEPTH_TO_SPACE
    where their kernel is their stride, and the rest compute their output shape from their
    input (:func:`maikit.export.fold.transpose_convs_to_depth_to_space`,
    :func:`~maikit.export.fold.transpose_conv_shapes_from_input`), so that the file runs at
    other sizes without XNNPACK too.
    """
    if layout not in ("nhwc", "nchw"):
        raise MaikitError(f"`layout` must be nhwc or nchw, got {layout!r}")
    with quiet_conversion():
        import litert_torch

        model = model.eval()
        if layout == "nhwc":
            wrapped = litert_torch.to_channel_last_io(model, args=[0], outputs=[0]).eval()
            sample = sample_nchw.permute(0, 2, 3, 1).contiguous()
        else:
            wrapped, sample = model, sample_nchw
        kwargs = {}
        if dynamic_hw:
            axes = _dynamic_spec(tuple(sample.shape), layout, size_multiple)
            # the channel-last wrapper takes *args, a plain module one positional tensor
            kwargs["dynamic_shapes"] = ((axes,),) if layout == "nhwc" else (axes,)
        with torch.no_grad(), tflite_lowering(), frozen_for_export(model):
            edge_model = litert_torch.convert(wrapped, (sample,), **kwargs)
        path = Path(path)
        with atomic_path(path, suffix=".tflite") as tmp:
            edge_model.export(str(tmp))
            # weight transforms the converter did not fold (large transposed convolutions), and
            # pixel shuffles as one DEPTH_TO_SPACE instead of a RESHAPE/TRANSPOSE chain
            data, folded = fold_constant_ops(tmp.read_bytes())
            data, shuffles = shuffles_to_depth_to_space(data)
            computed = 0
            if dynamic_hw:  # the traced output shapes of transposed convolutions hold at no other size
                data, moved = transpose_convs_to_depth_to_space(data)
                data, computed = transpose_conv_shapes_from_input(data)
                computed += moved
            if folded or shuffles or computed:
                tmp.write_bytes(data)
    return path
