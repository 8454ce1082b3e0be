"""Depth fidelity metrics of the MAI 2021/2022 challenges: si-RMSE, RMSE, LOG10, REL.

The organisers' definitions (their ``losses_python.py``, docs/references.md#metrics), inputs in MILLIMETRES
(the unit of the uint16 depth PNGs):

* on float64 copies (inputs are never modified): ``pred = max(pred, 1)``,
  ``gt = max(gt, 1)``; ``mask = gt_raw > 1`` (0 = unknown, and 1 mm is invalid too);
  ``N = mask.sum()``;
* RMSE in metres ``= sqrt(sum(((gt - pred) * mask / 1000)^2) / N)``;
* si-RMSE: ``d = (ln pred - ln gt) * mask``, ``sqrt(sum(d^2)/N - (sum d)^2/N^2)``
  (natural log, lambda = 1, no x100; the sqrt argument is clamped at 0 against rounding);
* LOG10 ``= sum(|log10 pred - log10 gt| * mask) / N``;
* REL ``= sum(|pred - gt| * mask / gt) / N``.

Every metric is a function of six per-image sums (N, sum of squared metre errors, sum d,
sum d^2, sum |log10 ratio|, sum relative error). Averaging over images is not published:
``pooled=False`` (default) computes each image's metrics and averages them;
``pooled=True`` adds the sums of all images first, i.e. treats every valid pixel of the
set as one image. An image whose ground truth has no valid pixel is skipped and counted
in ``"skipped"``; if no image has one, that is an error.

Not to be confused with "silog" training losses (x100, lambda 0.85 or 0.5): those live in
``maikit.losses``.
"""

from __future__ import annotations

from typing import Any, Iterable, Sequence

import numpy as np

from maikit.errors import MaikitError
from maikit.metrics._base import (
    MetricAccumulator,
    check_finite,
    check_same_shape,
    is_torch_tensor,
    torch_to_numpy,
)
from maikit.taskspec import DEPTH, DEPTH_MODEL_UNIT_TO_MM, TaskSpec

DEPTH_METRIC_NAMES = ("si_rmse", "rmse", "log10", "rel")
_SUM_NAMES = ("n", "sq_err_m", "d", "d2", "abs_log10", "rel")
_UNIT_TO_MM = {"mm": 1.0, "m": DEPTH_MODEL_UNIT_TO_MM}


# --------------------------------------------------------------------------------------
# Input handling
# --------------------------------------------------------------------------------------
def _to_maps(depth: Any, name: str, to_mm: float = 1.0) -> tuple[np.ndarray, bool]:
    """A float64 NxHxW copy in millimetres, and whether the input was a batch.

    NumPy: HxW, HxWx1, NxHxW or NxHxWx1. PyTorch: HxW, NxHxW or Nx1xHxW.
    """
    torch_in = is_torch_tensor(depth)
    arr = torch_to_numpy(depth) if torch_in else np.asarray(depth)
    shape = arr.shape
    if arr.ndim == 2:
        arr, batched = arr[None], False
    elif arr.ndim == 3 and not torch_in and shape[2] == 1:
        arr, batched = arr[None, :, :, 0], False
    elif arr.ndim == 3:
        batched = True
    elif arr.ndim == 4 and torch_in and shape[1] == 1:
        arr, batched = arr[:, 0], True
    elif arr.ndim == 4 and not torch_in and shape[3] == 1:
        arr, batched = arr[..., 0], True
    else:
        layouts = "HxW, NxHxW or Nx1xHxW" if torch_in else "HxW, HxWx1, NxHxW or NxHxWx1"
        raise MaikitError(f"`{name}` must be a depth map ({layouts}), got shape {shape}")
    if arr.dtype.kind not in "uif":
        raise MaikitError(f"`{name}` must be numeric, got dtype {arr.dtype}")
    out = arr.astype(np.float64)  # always a copy: inputs are never modified
    check_finite(out, name)
    if to_mm != 1.0:
        out *= to_mm
    return out, batched


# --------------------------------------------------------------------------------------
# Functional core
# --------------------------------------------------------------------------------------
def depth_sums(pred_mm: np.ndarray, gt_mm: np.ndarray) -> dict[str, np.ndarray]:
    """The six per-image sums of NxHxW maps in mm (arrays of shape (N,)); inputs untouched."""
    mask = gt_mm > 1.0  # on the raw ground truth, before clamping
    pred = np.maximum(np.asarray(pred_mm, dtype=np.float64), 1.0)  # new arrays, never in place
    gt = np.maximum(np.asarray(gt_mm, dtype=np.float64), 1.0)
    axes = (1, 2)
    err_m = (gt - pred) * mask / 1000.0
    d = (np.log(pred) - np.log(gt)) * mask
    return {
        "n": mask.sum(axis=axes).astype(np.float64),
        "sq_err_m": np.sum(err_m * err_m, axis=axes),
        "d": np.sum(d, axis=axes),
        "d2": np.sum(d * d, axis=axes),
        "abs_log10": np.sum(np.abs(np.log10(pred) - np.log10(gt)) * mask, axis=axes),
        "rel": np.sum(np.abs(pred - gt) * mask / gt, axis=axes),
    }


def metrics_from_sums(sums: dict[str, Any]) -> dict[str, np.ndarray]:
    """si-RMSE, RMSE (m), LOG10 and REL from per-image (or pooled) sums with ``n > 0``."""
    n = np.asarray(sums["n"], dtype=np.float64)
    mean_d = np.asarray(sums["d"]) / n
    si_var = np.asarray(sums["d2"]) / n - mean_d * mean_d
    return {
        "si_rmse": np.sqrt(np.maximum(si_var, 0.0)),
        "rmse": np.sqrt(np.asarray(sums["sq_err_m"]) / n),
        "log10": np.asarray(sums["abs_log10"]) / n,
        "rel": np.asarray(sums["rel"]) / n,
    }


def _aggregate(sums: dict[str, np.ndarray], pooled: bool) -> dict:
    """Average per-image sums into the final dict (+ ``images`` and ``skipped``)."""
    valid = sums["n"] > 0
    images, skipped = int(valid.sum()), int((~valid).sum())
    if images == 0:
        raise MaikitError(
            f"no image has a valid ground-truth depth pixel (> 1 mm) in {skipped} image(s)"
        )
    if pooled:
        values = metrics_from_sums({k: v[valid].sum() for k, v in sums.items()})
    else:
        per_image = metrics_from_sums({k: v[valid] for k, v in sums.items()})
        values = {k: v.mean() for k, v in per_image.items()}
    return {**{k: float(values[k]) for k in DEPTH_METRIC_NAMES}, "images": images, "skipped": skipped}


# --------------------------------------------------------------------------------------
# Public functions
# --------------------------------------------------------------------------------------
def depth_metrics(pred_mm: Any, gt_mm: Any) -> dict[str, float]:
    """``{"si_rmse", "rmse", "log10", "rel"}`` of ONE depth map pair in millimetres.

    Raises MaikitError if the ground truth has no valid pixel (all <= 1 mm).
    """
    p, _ = _to_maps(pred_mm, "pred_mm")
    g, _ = _to_maps(gt_mm, "gt_mm")
    check_same_shape(p, g)
    if p.shape[0] != 1:
        raise MaikitError(f"`pred_mm` must be one depth map, got a batch of {p.shape[0]}; "
                          "use `depth_metrics_batch`")
    sums = depth_sums(p, g)
    if sums["n"][0] == 0:
        raise MaikitError("`gt_mm` has no valid depth pixel (all values <= 1 mm)")
    return {k: float(v[0]) for k, v in metrics_from_sums(sums).items()}


def _pairs(preds: Any, gts: Any) -> Iterable[tuple[Any, Any]]:
    batch_like = isinstance(preds, np.ndarray) or is_torch_tensor(preds)
    if batch_like:
        return [(preds, gts)]
    preds, gts = list(preds), list(gts)
    if len(preds) != len(gts):
        raise MaikitError(f"`preds` and `gts` must have the same length, got {len(preds)} and {len(gts)}")
    return zip(preds, gts)


def depth_metrics_batch(preds_mm: Any | Sequence[Any], gts_mm: Any | Sequence[Any],
                        pooled: bool = False) -> dict:
    """Metrics over a set of depth maps in mm: a batch array or lists of maps (any sizes).

    Returns ``{"si_rmse", "rmse", "log10", "rel", "images", "skipped"}``; ``pooled=False``
    averages per-image metrics, ``pooled=True`` pools the valid pixels of all images.
    """
    acc = DepthMetrics(pooled=pooled)
    for p, g in _pairs(preds_mm, gts_mm):
        acc.update(p, g)
    return acc.compute()


# --------------------------------------------------------------------------------------
# Stateful wrapper
# --------------------------------------------------------------------------------------
class DepthMetrics(MetricAccumulator):
    """Accumulates depth metrics over batches; ``compute()`` averages them.

    ``update(pred, gt)`` takes one map or a batch (NumPy HxW / HxWx1 / NxHxW / NxHxWx1, or
    PyTorch HxW / NxHxW / Nx1xHxW). Values are millimetres with ``unit="mm"`` (the files'
    unit) or metres with ``unit="m"`` (the models' output unit; both arrays are then
    multiplied by 1000 before the official formulas). ``compute()`` returns
    ``{"si_rmse", "rmse", "log10", "rel", "images", "skipped"}``: per-image mean by default,
    pooled pixels with ``pooled=True``; ``images`` counts images that had valid pixels.
    """

    task = DEPTH

    @classmethod
    def for_task(cls, task: TaskSpec, pooled: bool = False) -> "DepthMetrics":
        return cls(pooled=pooled, unit=task.target_file_unit)

    def __init__(self, pooled: bool = False, unit: str = "mm") -> None:
        if unit not in _UNIT_TO_MM:
            raise MaikitError(f"`unit` must be one of {', '.join(_UNIT_TO_MM)}, got {unit!r}")
        self.pooled = bool(pooled)
        self.unit = unit
        super().__init__()

    def reset(self) -> None:
        self.sums: dict[str, list[float]] = {k: [] for k in _SUM_NAMES}

    @property
    def images(self) -> int:
        return len(self.sums["n"])

    def update(self, pred: Any, gt: Any) -> dict[str, np.ndarray]:
        """Add one map or a batch; returns this update's per-image metrics (NaN if no valid pixel)."""
        to_mm = _UNIT_TO_MM[self.unit]
        p, _ = _to_maps(pred, "pred", to_mm)
        g, _ = _to_maps(gt, "gt", to_mm)
        check_same_shape(p, g)
        sums = depth_sums(p, g)
        for k, v in sums.items():
            self.sums[k].extend(float(x) for x in v)
        with np.errstate(invalid="ignore", divide="ignore"):
            return metrics_from_sums(sums)

    def compute(self) -> dict:
        self._require_images()
        return _aggregate({k: np.asarray(v, dtype=np.float64) for k, v in self.sums.items()}, self.pooled)


__all__ = [
    "DEPTH_METRIC_NAMES", "DepthMetrics", "depth_metrics", "depth_metrics_batch",
    "depth_sums", "metrics_from_sums",
]
