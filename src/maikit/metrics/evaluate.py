"""Folder evaluation: predicted PNGs against ground-truth PNGs, paired by file name.

The files are the challenge's own formats (``maikit.taskspec``): ISP outputs and targets are
uint8 RGB PNGs; depth maps are single-channel uint16 PNGs in millimetres. Every problem
(missing or empty folder, a name on one side only, a different size, dtype or channel
count, an unreadable file) is a MaikitError naming the file.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

from maikit.errors import MaikitError
from maikit.io import list_pngs, read_png
from maikit.metrics._base import MetricAccumulator
from maikit.metrics.depth import DepthMetrics
from maikit.metrics.isp import IspMetrics
from maikit.taskspec import TaskSpec

Progress = Callable[[int, int, str], None]  # (done, total, file name)


# each task's accumulator, by the name of the task its class declares
ACCUMULATORS: dict[str, type[MetricAccumulator]] = {acc.task.name: acc for acc in (IspMetrics, DepthMetrics)}


def metrics_for_task(task: TaskSpec, pooled: bool = False) -> MetricAccumulator:
    """A fresh accumulator of ``task``'s official metrics, taking the values of its target
    files; ``pooled`` (pool all valid pixels) where the task's metrics pool (depth)."""
    return ACCUMULATORS[task.name].for_task(task, pooled)


def _png_folder(folder: str | os.PathLike, role: str) -> dict[str, Path]:
    folder = Path(folder)
    if not folder.exists():
        raise MaikitError(f"{role} folder not found", folder)
    if not folder.is_dir():
        raise MaikitError(f"{role} path is not a folder", folder)
    files = list_pngs(folder)
    if not files:
        raise MaikitError(f"{role} folder has no PNG files", folder)
    return files


def _only_in(names: list[str], folder: dict[str, Path], other_role: str, other: Path) -> MaikitError:
    more = f" (and {len(names) - 1} more)" if len(names) > 1 else ""
    return MaikitError(f"no {other_role} file with this name in {other}{more}", folder[names[0]])


def pair_pngs(pred_dir: str | os.PathLike, gt_dir: str | os.PathLike) -> list[tuple[str, Path, Path]]:
    """``(name, pred_path, gt_path)`` for every PNG, natural order; names must match exactly."""
    preds = _png_folder(pred_dir, "prediction")
    gts = _png_folder(gt_dir, "ground-truth")
    extra = [n for n in preds if n not in gts]
    if extra:
        raise _only_in(extra, preds, "ground-truth", Path(gt_dir))
    missing = [n for n in gts if n not in preds]
    if missing:
        raise _only_in(missing, gts, "prediction", Path(pred_dir))
    return [(name, preds[name], gts[name]) for name in gts]


def _describe(img) -> str:
    channels = 1 if img.ndim == 2 else img.shape[2]
    return f"{img.dtype} with {channels} channel(s)"


def _read_checked(path: Path, spec: TaskSpec):
    img = read_png(path)
    channels = 1 if img.ndim == 2 else img.shape[2]
    if str(img.dtype) != spec.target_file_dtype or channels != spec.target_file_channels:
        want = f"{spec.target_file_dtype} with {spec.target_file_channels} channel(s)"
        raise MaikitError(f"expected a {want} PNG for the {spec.name} task, got {_describe(img)}", path)
    return img


def evaluate_dirs(pred_dir: str | os.PathLike, gt_dir: str | os.PathLike, task: TaskSpec,
                  pooled: bool = False, progress: Progress | None = None,
                  per_image: bool = False) -> dict:
    """Official metrics of a folder of predictions against a folder of ground truths.

    Returns the accumulator's ``compute()`` dict: isp ``{"psnr", "ssim", "ms_ssim",
    "images"}``, depth ``{"si_rmse", "rmse", "log10", "rel", "images", "skipped"}``; with
    ``per_image=True`` also ``"per_image": {file name: {metric: value}}``. ``progress``
    is called after each image with ``(done, total, file name)``.
    """
    acc = metrics_for_task(task, pooled)
    pairs = pair_pngs(pred_dir, gt_dir)
    rows: dict[str, dict[str, float]] = {}
    for done, (name, pred_path, gt_path) in enumerate(pairs, start=1):
        gt = _read_checked(gt_path, task)
        pred = _read_checked(pred_path, task)
        if pred.shape[:2] != gt.shape[:2]:
            raise MaikitError(
                f"size {pred.shape[1]}x{pred.shape[0]} does not match the ground truth "
                f"{gt.shape[1]}x{gt.shape[0]} (width x height)", pred_path)
        try:
            values = acc.update(pred, gt)
        except MaikitError as e:
            raise MaikitError(e.reason, pred_path) from None
        if per_image:
            rows[name] = {k: float(v[0]) for k, v in values.items()}
        if progress is not None:
            progress(done, len(pairs), name)
    result = acc.compute()
    if per_image:
        result["per_image"] = rows
    return result
