"""PyTorch -> TFLite conversion with litert-torch, and running a .tflite with LiteRT.

The core every exporter and test uses: :func:`convert_to_tflite` writes a file atomically
(NHWC I/O by default, as the challenge's TFLite files are), at the sample's fixed shape or
with dynamic height/width; :class:`TfliteRunner` wraps the LiteRT interpreter with the
thread count always set explicitly (the Python interpreter defaults to 1 thread otherwise,
FACTS §7) and feeds float data to quantised (int8) inputs by their scale and zero point.
"""

from __future__ import annotations

import contextlib
import io
import os
import warnings
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

from maikit.errors import MaikitError, first_line
from maikit.export.fold import fold_constant_ops, shuffles_to_depth_to_space
from maikit.io import atomic_path
from maikit.models.blocks import frozen_for_export, tflite_lowering

# The largest height/width a dynamic-shape export accepts (full-resolution ISP RAW is
# 2976x3968, packed 1488x1984; depth frames are 480x640).
DYNAMIC_MAX_SIDE = 8192


def _quiet_tf_logs() -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


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
    where the file's shapes are static (:func:`maikit.export.fold.shuffles_to_depth_to_space`).
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
            if folded or shuffles:
                tmp.write_bytes(data)
    return path


class TfliteRunner:
    """A LiteRT interpreter for one .tflite file with one input and one output.

    ``run`` takes and returns float arrays also for quantised models: a float input is
    quantised with the input's scale/zero point, a quantised output dequantised.
    """

    def __init__(self, path: str | os.PathLike, threads: int = 2, xnnpack: bool = True):
        _quiet_tf_logs()
        from ai_edge_litert.interpreter import Interpreter, OpResolverType

        self.path = Path(path)
        if not self.path.is_file():
            raise MaikitError("file not found", self.path)
        kwargs = {"num_threads": int(threads)}
        if not xnnpack:
            kwargs["experimental_op_resolver_type"] = OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
        try:
            self.interpreter = Interpreter(model_path=str(self.path), **kwargs)
        except (ValueError, RuntimeError) as e:
            first = first_line(e)
            raise MaikitError(f"not a loadable TFLite model ({first})", self.path) from None
        self._refresh()
        self._allocated = False
        try:
            self.interpreter.allocate_tensors()
            self._allocated = True
        except (ValueError, RuntimeError) as e:
            # A dynamic file is stored at 1x1 height/width, which some graphs cannot prepare
            # (traced constants); it is allocated again at the real size in `resize`.
            if not self.dynamic:
                first = first_line(e)
                raise MaikitError(f"not a loadable TFLite model ({first})", self.path) from None

    def _refresh(self) -> None:
        inputs, outputs = self.interpreter.get_input_details(), self.interpreter.get_output_details()
        if len(inputs) != 1 or len(outputs) != 1:
            raise MaikitError(
                f"expected a model with one input and one output, got {len(inputs)} and {len(outputs)}", self.path
            )
        self.input, self.output = inputs[0], outputs[0]

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(int(v) for v in self.input["shape"])

    @property
    def output_shape(self) -> tuple[int, ...]:
        return tuple(int(v) for v in self.output["shape"])

    @property
    def input_signature(self) -> tuple[int, ...]:
        """The input shape as stored, -1 for dynamic dimensions."""
        return tuple(int(v) for v in self.input.get("shape_signature", self.input["shape"]))

    @property
    def dynamic(self) -> bool:
        return any(v < 0 for v in self.input_signature)

    @property
    def input_dtype(self) -> np.dtype:
        return np.dtype(self.input["dtype"])

    def resize(self, shape: tuple[int, ...]) -> None:
        """Resize the input (for files with dynamic height/width)."""
        shape = tuple(int(v) for v in shape)
        if shape == self.input_shape and self._allocated:
            return
        # strict=False as before: fixed-shape files may be resized too (callers that must
        # respect the stored shape, like eval, check `input_signature` themselves)
        try:
            self.interpreter.resize_tensor_input(self.input["index"], list(shape), strict=False)
            self.interpreter.allocate_tensors()
            self._allocated = True
        except (ValueError, RuntimeError) as e:
            first = first_line(e)
            raise MaikitError(f"cannot run at input shape {list(shape)} ({first})", self.path) from None
        self._refresh()

    def _quantise_input(self, x: np.ndarray) -> np.ndarray:
        dtype = self.input_dtype
        scale, zero = self.input.get("quantization", (0.0, 0))
        if dtype.kind in "iu" and np.asarray(x).dtype.kind == "f" and scale:
            info = np.iinfo(dtype)
            q = np.rint(np.asarray(x, np.float32) / np.float32(scale)) + zero
            return np.clip(q, info.min, info.max).astype(dtype)
        return np.ascontiguousarray(x, dtype=dtype)

    def set_input(self, x: np.ndarray) -> None:
        self.interpreter.set_tensor(self.input["index"], np.ascontiguousarray(self._quantise_input(x)))

    def invoke(self) -> None:
        self.interpreter.invoke()

    def get_output(self, dequantise: bool = True) -> np.ndarray:
        out = self.interpreter.get_tensor(self.output["index"]).copy()
        scale, zero = self.output.get("quantization", (0.0, 0))
        if dequantise and out.dtype.kind in "iu" and scale:
            out = (out.astype(np.float32) - np.float32(zero)) * np.float32(scale)
        return out

    def run(self, x: np.ndarray) -> np.ndarray:
        """Run one input (resizing dynamic inputs as needed) and return a copy of the output."""
        self.resize(tuple(x.shape))
        self.set_input(x)
        self.invoke()
        return self.get_output()


def run_tflite(path: str | os.PathLike, x: np.ndarray, threads: int = 2) -> np.ndarray:
    return TfliteRunner(path, threads=threads).run(x)
