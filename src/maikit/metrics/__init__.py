"""Official fidelity metrics of both challenges, exact to the organisers' definitions.

* ``isp``: PSNR, SSIM, MS-SSIM (MAI 2021 learned ISP; SSIM/MS-SSIM as TensorFlow's).
* ``depth``: si-RMSE, RMSE, LOG10, REL (MAI 2021/2022 depth; inputs in millimetres).
* ``evaluate``: a folder of predicted PNGs against a folder of ground-truth PNGs, and
  ``metrics_for_task``: which accumulator each task uses (a task's ``new_metrics`` asks it).

Each task has a functional core (NumPy, float64) and a stateful accumulator
(``IspMetrics`` / ``DepthMetrics``: ``update(pred, gt)`` per batch, ``compute()``) for
training and evaluation loops. Training losses are separate (``maikit.losses``).
"""

from __future__ import annotations

from maikit.metrics.depth import DepthMetrics, depth_metrics, depth_metrics_batch
from maikit.metrics.evaluate import evaluate_dirs, metrics_for_task
from maikit.metrics.isp import IspMetrics, average_psnr, isp_metrics, ms_ssim, psnr, ssim

__all__ = [
    "DepthMetrics", "IspMetrics", "average_psnr", "depth_metrics", "depth_metrics_batch",
    "evaluate_dirs", "isp_metrics", "metrics_for_task", "ms_ssim", "psnr", "ssim",
]
