"""The measuring loop's LiteRT backend: any .tflite in the LiteRT interpreter, fixed inputs.

Used by :func:`maikit.runtime.loop.measure` like every backend (``load`` / ``prepare`` /
``step`` / ``close``); it times nothing itself. Like benchmark_model it takes any model:
every input of the main subgraph (or of a signature's), each given by name or filled with
random values of its type; ``step`` is one invoke and nothing else.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from maikit.errors import MaikitError
from maikit.tflite.runner import ModelRunner


class TfliteBackend:
    """``input`` is the array for a model with one input; ``inputs`` / ``shapes`` give arrays
    and shapes by input name. ``resize`` allows measuring a fixed-shape model at another
    shape (an error otherwise)."""

    name = "tflite"

    def __init__(self, path: str | os.PathLike, threads: int = 2, xnnpack: bool = True,
                 input: np.ndarray | None = None, shape: tuple[int, ...] | None = None, seed: int = 0, *,
                 inputs: dict[str, np.ndarray] | None = None, shapes: dict[str, tuple[int, ...]] | None = None,
                 signature: str | None = None, resize: bool = False):
        self.path, self.threads, self.xnnpack = Path(path), int(threads), bool(xnnpack)
        self._input, self.shape, self.seed = input, shape, seed
        self.given, self.shapes = dict(inputs or {}), dict(shapes or {})
        self.signature, self.resize = signature, bool(resize)
        self.runner: ModelRunner | None = None
        self._first: np.ndarray | None = None
        self.inputs: list[dict] = []
        self.outputs: list[dict] = []
        self.delegate: dict | None = None  # the delegate that actually ran (tflite.runner.delegation)

    def load(self) -> None:
        self.runner = ModelRunner(self.path, threads=self.threads, xnnpack=self.xnnpack, signature=self.signature)
        if self._input is not None or self.shape is not None:
            if len(self.runner.inputs) != 1:
                names = ", ".join(f"`{t.key or t.name}`" for t in self.runner.inputs)
                raise MaikitError(f"the model has {len(self.runner.inputs)} inputs ({names}): give each by name "
                                  "(NAME=FILE.npy, NAME=SHAPE)", self.path)
            key = self.runner.inputs[0].key or self.runner.inputs[0].name
            if self._input is not None:
                self.given.setdefault(key, self._input)
            if self.shape is not None:
                self.shapes.setdefault(key, tuple(self.shape))

    def prepare(self) -> None:
        r = self.runner
        r.prepare(self.given, self.shapes, resize=self.resize, seed=self.seed)
        given = lambda t: t.name in self.given or (t.key is not None and t.key in self.given)  # noqa: E731
        self.inputs = [{**t.describe(), "source": "given" if given(t) else "random"} for t in r.inputs]
        self.outputs = [t.describe() for t in r.outputs]
        self._first = r.values[r.inputs[0].key or r.inputs[0].name] if r.inputs else None
        self.delegate = r.delegate

    def step(self) -> None:
        self.runner.invoke()

    def close(self) -> None:
        self.runner = None

    @property
    def input(self) -> np.ndarray | None:
        """The first input's values (after :meth:`prepare`), or the array given."""
        return self._first if self._first is not None else self._input

    @property
    def input_shape(self) -> tuple[int, ...]:
        if self.inputs:
            return tuple(self.inputs[0]["shape"])
        return tuple(self._input.shape) if self._input is not None else tuple(self.shape or ())


def random_input(shape: tuple[int, ...], dtype=np.float32, seed: int = 0) -> np.ndarray:
    """A fixed random input: uniform [0, 1) floats, or the full range of an integer type."""
    rng = np.random.default_rng(seed)
    dtype = np.dtype(dtype)
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        return rng.integers(info.min, info.max, size=shape, endpoint=True).astype(dtype)
    return rng.random(shape, dtype=np.float32).astype(dtype)
