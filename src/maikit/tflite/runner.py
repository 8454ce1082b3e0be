"""Running a .tflite with the LiteRT interpreter, torch-free.

:class:`TfliteRunner` wraps the interpreter for a model with one input and one output (the
challenge's contract), with the thread count always set explicitly (the Python interpreter
defaults to 1 thread otherwise) and float data fed to quantised (int8) inputs by
their scale and zero point.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from maikit.errors import MaikitError, first_line


def quiet_tf_logs() -> None:
    """Keep LiteRT's native INFO/WARNING lines (delegate creation, ...) off the terminal."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


class TfliteRunner:
    """A LiteRT interpreter for one .tflite file with one input and one output.

    ``run`` takes and returns float arrays also for quantised models: a float input is
    quantised with the input's scale/zero point, a quantised output dequantised.
    """

    def __init__(self, path: str | os.PathLike, threads: int = 2, xnnpack: bool = True):
        quiet_tf_logs()
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
