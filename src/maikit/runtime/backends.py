"""The measuring loop's backends, by name: what :func:`maikit.runtime.loop.measure` can time.

``tflite`` (LiteRT, :class:`maikit.tflite.TfliteBackend`), ``torch`` (PyTorch eager) and
``onnx`` (ONNX Runtime). Each sets its thread count explicitly and runs one fixed input over
and over (as benchmark_model does); none of them times anything. The registry maps a name to
``"module:Class"`` and imports the module only when the backend is asked for, so PyTorch and
ONNX Runtime load only for the backends that need them; a new backend (a device reached
over adb or ssh) plugs in with :func:`register_backend`.
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from typing import Callable

import numpy as np

from maikit.errors import MaikitError
from maikit.tflite.backend import TfliteBackend, random_input  # noqa: F401  (re-exported)

_REGISTRY: dict[str, str] = {
    "tflite": "maikit.tflite.backend:TfliteBackend",
    "torch": "maikit.runtime.backends:TorchBackend",
    "onnx": "maikit.runtime.backends:OnnxBackend",
}


def register_backend(name: str, target: str | type) -> None:
    """Make ``name`` create ``target`` (a class, or ``"module:Class"`` imported on first use)."""
    _REGISTRY[name] = target


def backend_names() -> tuple[str, ...]:
    return tuple(_REGISTRY)


def backend_class(name: str) -> type:
    """The backend class registered as ``name`` (its module imported now)."""
    if name not in _REGISTRY:
        raise MaikitError(f"unknown backend `{name}`; choose from {', '.join(_REGISTRY)}")
    target = _REGISTRY[name]
    if isinstance(target, str):
        module, _, attr = target.partition(":")
        target = getattr(importlib.import_module(module), attr)
    return target


def create_backend(name: str, *args, **kwargs):
    """A backend instance of the class registered as ``name``."""
    return backend_class(name)(*args, **kwargs)


class TorchBackend:
    """PyTorch eager, inference mode, ``threads`` intra-op threads (restored afterwards)."""

    name = "torch"

    def __init__(self, build: Callable[[], "torch.nn.Module"], input_nchw: np.ndarray, threads: int = 2):  # noqa: F821
        import torch

        self.build, self.x_np, self.threads = build, input_nchw, int(threads)
        self.model = None
        self._old_threads = torch.get_num_threads()

    def load(self) -> None:
        import torch

        torch.set_num_threads(self.threads)
        self.model = self.build().eval()

    def prepare(self) -> None:
        import torch

        self.x = torch.from_numpy(np.ascontiguousarray(self.x_np, np.float32))

    def step(self) -> None:
        import torch

        with torch.inference_mode():
            self.model(self.x)

    def close(self) -> None:
        import torch

        self.model = None
        torch.set_num_threads(self._old_threads)


class OnnxBackend:
    """ONNX Runtime with ``threads`` intra-op threads."""

    name = "onnx"

    def __init__(self, path: str | os.PathLike, input: np.ndarray, threads: int = 2):
        self.path, self.x, self.threads = Path(path), input, int(threads)
        self.runner = None

    def load(self) -> None:
        from maikit.export.onnx import OnnxRunner

        self.runner = OnnxRunner(self.path, threads=self.threads)

    def prepare(self) -> None:
        self.feed = {self.runner.input_name: np.ascontiguousarray(self.x, np.float32)}

    def step(self) -> None:
        self.runner.session.run(None, self.feed)

    def close(self) -> None:
        self.runner = None
