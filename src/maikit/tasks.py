"""The task objects callers hold: each task's specification with its behaviour attached.

:mod:`maikit.taskspec` holds the numbers at the bottom of the import graph; the data
formats (:mod:`maikit.data`), the metrics (:mod:`maikit.metrics`) and the scores
(:mod:`maikit.scoring`) read them there. This module sits above all three and attaches what
needs them: reading an input or target file, writing a synthetic or real sample, a fresh
metrics accumulator and the final score. Each piece of behaviour stays owned by its package
(the readers by ``data``, which accumulator belongs to a task by ``metrics``, the formulas by
``scoring``); a task object only points to it, so callers hold a task and never ask for its
name. The packages are imported where a method needs them, so that importing this module
(every ``mai`` command does) costs no more than the specification.

A name (``isp``, ``mai21``) becomes its object once, where it enters: a command-line option,
a job or challenge definition, a checkpoint, an export.json, a training config
(:func:`get_task`, :func:`get_raw_convention`). Every library function takes the objects.
The specification's names are re-exported here, so ``from maikit.tasks import ISP,
RawConvention`` serves every module above the data layer.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields

import numpy as np

from maikit.errors import MaikitError
from maikit.taskspec import (
    DEPTH_MODEL_UNIT_TO_MM, LAYOUTS, MAI21, MAI22_4095, MAI22_4096, RAW_CONVENTIONS, TASK_NAMES,
    DepthSpec, IspSpec, MetricSpec, RawConvention, SensorRange, TaskSpec, get_raw_convention, shape_in_layout,
    shape_to_nhwc,
)
from maikit.taskspec import DEPTH as DEPTH_SPEC
from maikit.taskspec import ISP as ISP_SPEC


@dataclass(frozen=True)
class Task(TaskSpec):
    """A task's specification with the behaviour that needs the data readers, metrics and scores."""

    @classmethod
    def of(cls, spec: TaskSpec) -> "Task":
        """The task object for ``spec``: the same numbers, this class's behaviour."""
        return cls(**{f.name: getattr(spec, f.name) for f in fields(spec)})

    # ---------------------------------------------------------------- input and target files
    def read_input(self, path: str | os.PathLike, convention: RawConvention | None = None) -> np.ndarray:
        """One input file as the model's float32 HWC input, checked against the task's file rules."""
        raise NotImplementedError

    def read_target(self, path: str | os.PathLike, input_hw: tuple[int, int]) -> np.ndarray:
        """One target file as the metrics compare it, checked against its model input's H, W."""
        raise NotImplementedError

    # ---------------------------------------------------------------- datasets
    def synthesize(self, out: str | os.PathLike, count: int, *, seed: int = 0, val_fraction: float = 0.1,
                   progress=None, **options) -> dict:
        """Write ``count`` synthetic pairs in the task's layout under ``out``; returns a summary."""
        raise NotImplementedError

    def sample_real(self, out: str | os.PathLike) -> dict:
        """Write the real sample that ships offline for this task, in its layout."""
        raise MaikitError(f"no real `{self.name}` sample ships offline; use `mai data synth {self.name}`")

    # ---------------------------------------------------------------- metrics and score
    def new_metrics(self, pooled: bool = False):
        """A fresh accumulator of the official metrics; ``update(pred, gt)`` takes model-output
        values (see :meth:`output_to_target_units`) and target files' values. ``pooled``
        (pool every valid pixel instead of averaging per image) where :attr:`pooled_metrics`."""
        from maikit.metrics.evaluate import metrics_for_task

        return metrics_for_task(self, pooled)

    def score(self, fidelity: float, runtime_ms: float) -> float:
        """The challenge's final score from the primary metric's value and the runtime (ms)."""
        from maikit import scoring

        return scoring.score(self, fidelity, runtime_ms)


@dataclass(frozen=True)
class IspTask(Task, IspSpec):
    """Learned ISP: RAW PNGs packed per a :class:`RawConvention`; uint8 RGB targets."""

    def read_input(self, path: str | os.PathLike, convention: RawConvention | None = None) -> np.ndarray:
        from maikit.data.isp import read_packed

        return read_packed(path, self.convention(convention))

    def read_target(self, path: str | os.PathLike, input_hw: tuple[int, int]) -> np.ndarray:
        from maikit.data.isp import read_rgb_target

        raw_hw = (input_hw[0] * self.scale, input_hw[1] * self.scale)
        return read_rgb_target(path, raw_hw).astype(np.float32) / 255.0

    def synthesize(self, out, count, *, seed=0, val_fraction=0.1, progress=None, photos=None, full_res=None, patch=None):
        from maikit.data.synth_isp import synth_isp

        return synth_isp(out, count, seed=seed, val_fraction=val_fraction, photos=photos, full_res=full_res or 0,
                         patch=256 if patch is None else patch, progress=progress)


@dataclass(frozen=True)
class DepthTask(Task, DepthSpec):
    """Depth estimation: RGB photos in; uint16 millimetre depth maps as targets."""

    def read_input(self, path: str | os.PathLike, convention: RawConvention | None = None) -> np.ndarray:
        from maikit.data.depth import read_rgb

        return read_rgb(path).astype(np.float32)

    def read_target(self, path: str | os.PathLike, input_hw: tuple[int, int]) -> np.ndarray:
        from maikit.data.depth import read_depth_mm

        gt = read_depth_mm(path)
        if gt.shape != tuple(input_hw):
            raise MaikitError(f"depth map {gt.shape[1]}x{gt.shape[0]} does not match its RGB image "
                              f"{input_hw[1]}x{input_hw[0]}", path)
        return gt

    def synthesize(self, out, count, *, seed=0, val_fraction=0.1, progress=None, **options):
        given = [f"--{k.replace('_', '-')}" for k, v in options.items() if v is not None]
        if given:
            raise MaikitError(f"{', '.join(given)} only apply to `isp`, not `{self.name}`")
        from maikit.data.synth_depth import synth_depth

        return synth_depth(out, count, seed=seed, val_fraction=val_fraction, progress=progress)

    def sample_real(self, out):
        from maikit.data.real import sample_real_depth

        return sample_real_depth(out)


ISP = IspTask.of(ISP_SPEC)
DEPTH = DepthTask.of(DEPTH_SPEC)

TASKS: dict[str, Task] = {task.name: task for task in (ISP, DEPTH)}


def get_task(name: str | TaskSpec) -> Task:
    """The task called ``name`` (or the task object of a specification); MaikitError listing
    the tasks for an unknown name."""
    if isinstance(name, Task):
        return name
    key = name.name if isinstance(name, TaskSpec) else name
    try:
        return TASKS[key]
    except KeyError:
        raise MaikitError(f"unknown task `{key}`; choose one of {', '.join(TASKS)}") from None


__all__ = [
    "DEPTH", "DEPTH_MODEL_UNIT_TO_MM", "ISP", "LAYOUTS", "MAI21", "MAI22_4095", "MAI22_4096", "RAW_CONVENTIONS",
    "TASKS", "TASK_NAMES", "DepthTask", "IspTask", "MetricSpec", "RawConvention", "SensorRange", "Task", "TaskSpec",
    "get_raw_convention", "get_task", "shape_in_layout", "shape_to_nhwc",
]
