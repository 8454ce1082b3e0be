"""The measuring loop's LiteRT backend: a .tflite in the LiteRT interpreter, one fixed input.

Used by :func:`maikit.runtime.loop.measure` like every backend (``load`` / ``prepare`` /
``step`` / ``close``); it times nothing itself.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from maikit.errors import MaikitError
from maikit.tflite.runner import TfliteRunner


class TfliteBackend:
    name = "tflite"

    def __init__(self, path: str | os.PathLike, threads: int = 2, xnnpack: bool = True,
                 input: np.ndarray | None = None, shape: tuple[int, ...] | None = None, seed: int = 0):
        self.path, self.threads, self.xnnpack = Path(path), int(threads), bool(xnnpack)
        self.input, self.shape, self.seed = input, shape, seed
        self.runner = None

    def load(self) -> None:
        self.runner = TfliteRunner(self.path, threads=self.threads, xnnpack=self.xnnpack)
        shape = tuple(self.input.shape) if self.input is not None else self.shape
        if shape is not None:
            self.runner.resize(shape)
        elif self.runner.dynamic:
            raise MaikitError(
                f"the input shape {list(self.runner.input_signature)} is dynamic: give an input or a shape to measure at",
                self.path,
            )

    def prepare(self) -> None:
        r = self.runner
        if self.input is None:
            self.input = random_input(r.input_shape, r.input_dtype, self.seed)
        elif tuple(self.input.shape) != r.input_shape:
            raise MaikitError(f"input shape {list(self.input.shape)} does not fit the model's input {list(r.input_shape)}", self.path)
        r.set_input(self.input)

    def step(self) -> None:
        self.runner.invoke()

    def close(self) -> None:
        self.runner = None

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.input.shape) if self.input is not None else tuple(self.shape or ())


def random_input(shape: tuple[int, ...], dtype=np.float32, seed: int = 0) -> np.ndarray:
    """A fixed random input: uniform [0, 1) floats, or the full range of an integer type."""
    rng = np.random.default_rng(seed)
    dtype = np.dtype(dtype)
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        return rng.integers(info.min, info.max, size=shape, endpoint=True).astype(dtype)
    return rng.random(shape, dtype=np.float32).astype(dtype)
