"""Challenge final-score formulas (the ranking rule of each challenge).

* ISP (ISP report §2.5, exact): ``score = PSNR + alpha * (0.2 - clip(t))`` with ``t`` in
  seconds, ``clip(t) = min(max(t, 0.03), 5)`` and ``alpha = 20 if t <= 0.2 else 0.5``.
* Depth (depth report §2.5): ``score = 2^(-20 * si-RMSE) / (C * t)`` with ``t`` in seconds.
  The report prints the formula but not the constant C. ``C = 1/640`` is DERIVED here from
  the depth report's Table 1: it reproduces all eight published scores to the printed integer
  (e.g. TCL 0.2773, 46 ms -> 298). It is not an official number.

Both take the runtime in milliseconds, as every runtime in maikit is reported. Which formula
ranks which task is :data:`FORMULAS`; a task object's ``score`` (:mod:`maikit.tasks`) and
:func:`score` both read it.
"""

from __future__ import annotations

import math
from typing import Callable

from maikit.errors import MaikitError
from maikit.taskspec import DEPTH, ISP, TaskSpec

# Derived constant (see module docstring): not published in the report.
DEPTH_SCORE_C: float = 1.0 / 640.0
DEPTH_SCORE_C_IS_DERIVED: bool = True

ISP_RUNTIME_CLIP_S = (0.03, 5.0)
ISP_ALPHA_FAST, ISP_ALPHA_SLOW, ISP_ALPHA_THRESHOLD_S = 20.0, 0.5, 0.2


def _check_runtime(runtime_ms: float) -> float:
    t = float(runtime_ms)
    if not math.isfinite(t) or t <= 0:
        raise MaikitError(f"`runtime_ms` must be a positive number, got {runtime_ms!r}")
    return t / 1000.0


def isp_score(psnr: float, runtime_ms: float) -> float:
    """MAI 2021 ISP final score from PSNR (dB) and runtime (ms)."""
    psnr = float(psnr)
    if not math.isfinite(psnr):
        raise MaikitError(f"`psnr` must be a finite number, got {psnr!r}")
    t = _check_runtime(runtime_ms)
    alpha = ISP_ALPHA_FAST if t <= ISP_ALPHA_THRESHOLD_S else ISP_ALPHA_SLOW
    lo, hi = ISP_RUNTIME_CLIP_S
    return psnr + alpha * (0.2 - min(max(t, lo), hi))


def depth_score(si_rmse: float, runtime_ms: float) -> float:
    """MAI 2022 depth final score from si-RMSE and runtime (ms); C = 1/640 is derived."""
    si_rmse = float(si_rmse)
    if not math.isfinite(si_rmse) or si_rmse < 0:
        raise MaikitError(f"`si_rmse` must be a non-negative number, got {si_rmse!r}")
    t = _check_runtime(runtime_ms)
    return 2.0 ** (-20.0 * si_rmse) / (DEPTH_SCORE_C * t)


# (primary metric value, runtime in ms) -> final score, by task name
FORMULAS: dict[str, Callable[[float, float], float]] = {ISP.name: isp_score, DEPTH.name: depth_score}


def score(task: TaskSpec, fidelity: float, runtime_ms: float) -> float:
    """Final score of ``task`` from its primary fidelity metric and runtime (ms)."""
    try:
        formula = FORMULAS[task.name]
    except KeyError:
        raise MaikitError(f"no final-score formula for the `{task.name}` task") from None
    return formula(fidelity, runtime_ms)
