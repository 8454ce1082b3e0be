"""Shared plumbing of the metrics: array layouts and the stateful accumulator base.

Metric functions take NumPy arrays in NHWC / HWC layout (the layout of the PNG files and
of the TFLite tensors). Training loops hold PyTorch tensors in NCHW layout; those are
converted here, once, so the math in ``isp.py`` / ``depth.py`` only ever sees NumPy.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from maikit.errors import MaikitError
from maikit.taskspec import TaskSpec


def is_torch_tensor(x: Any) -> bool:
    # Checked by type name so that importing the metrics never imports torch.
    return type(x).__module__.split(".")[0] == "torch" and hasattr(x, "detach")


def torch_to_numpy(x: Any) -> np.ndarray:
    """A torch tensor as a NumPy array in the SAME layout (detached, on the CPU)."""
    t = x.detach().cpu()
    # uint8 keeps its meaning (0..255 -> /255 later); half types have no NumPy twin (bfloat16).
    if str(t.dtype) != "torch.uint8" and (not t.dtype.is_floating_point or t.dtype.itemsize < 4):
        t = t.float()
    return t.numpy()


def check_finite(x: np.ndarray, name: str) -> None:
    if x.dtype.kind == "f" and not np.isfinite(x).all():
        raise MaikitError(f"`{name}` contains non-finite values (NaN or inf)")


def check_same_shape(pred: np.ndarray, gt: np.ndarray) -> None:
    if pred.shape != gt.shape:
        raise MaikitError(f"`pred` and `gt` must have the same shape, got {pred.shape} and {gt.shape}")


class MetricAccumulator:
    """Base of the stateful wrappers: ``update(pred, gt)`` per batch, ``compute()`` at the end.

    Subclasses keep per-image values only; every formula lives in the functional core.
    ``higher_is_better`` maps each metric name to its sort direction, read from the task's
    :class:`~maikit.taskspec.MetricSpec` so that a leaderboard can sort by it.
    """

    task: TaskSpec  # set by each subclass

    @classmethod
    def for_task(cls, task: TaskSpec, pooled: bool = False) -> "MetricAccumulator":
        """A fresh accumulator for ``task``'s files; ``pooled`` only where the task's metrics pool."""
        if pooled:
            raise MaikitError(f"`pooled` does not apply to the {task.name} metrics")
        return cls()

    def __init__(self) -> None:
        self.higher_is_better: dict[str, bool] = {m.name: m.higher_is_better for m in self.task.metrics}
        self.reset()

    def reset(self) -> None:
        raise NotImplementedError

    @property
    def images(self) -> int:
        raise NotImplementedError

    def update(self, pred: Any, gt: Any) -> None:
        raise NotImplementedError

    def compute(self) -> dict:
        raise NotImplementedError

    def _require_images(self) -> None:
        if self.images == 0:
            raise MaikitError(f"no images were added to the {self.task.name} metrics; call `update` first")
