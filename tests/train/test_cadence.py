"""The training loop's cadence: validation, loss rows, checkpoints and the time budget, on an injected clock."""

from __future__ import annotations

import pytest

from maikit.errors import MaikitError
from maikit.train.cadence import Cadence
from maikit.train.config import TrainConfig


def _cfg(**kw) -> TrainConfig:
    return TrainConfig(task="isp", model="smallnet", data="d", out="o", **kw)


def _walk(cadence: Cadence, steps: int) -> dict[str, list[int]]:
    seen: dict[str, list[int]] = {"validate": [], "log": [], "checkpoint": []}
    step = 0
    while cadence.running(step):
        step += 1
        due = cadence.after_step(step)
        if due.validate:
            seen["validate"].append(step)
            cadence.validated()
        elif due.log:
            seen["log"].append(step)
            cadence.logged()
        if due.checkpoint:
            seen["checkpoint"].append(step)
        if due.over_budget or step >= steps:
            break
    return seen


def test_step_cadence_defaults():
    seen = _walk(Cadence(_cfg(), total=100), 100)
    assert seen["validate"] == list(range(10, 101, 10))  # a tenth of the run
    assert seen["checkpoint"] == seen["validate"]
    assert seen["log"] == [s for s in range(2, 101, 2) if s % 10]  # five rows per validation


def test_stop_at_and_explicit_cadence():
    cadence = Cadence(_cfg(stop_at=7, val_every=3, ckpt_every=5), total=20)
    seen = _walk(cadence, 20)
    assert seen["validate"] == [3, 6, 7] and seen["checkpoint"] == [5, 7]
    assert cadence.stop_reason(7, False) == "stop_at" and cadence.stop_reason(20, False) == "completed"


def test_time_budget_validates_every_tenth_on_the_injected_clock():
    now = [0.0]

    def clock() -> float:
        return now[0]

    cadence = Cadence(_cfg(max_minutes=1.0), total=10**9, clock=clock)  # 60 s, no val_every: by the clock
    seen: list[int] = []
    for step in range(1, 1000):
        now[0] += 1.0  # each step takes one second of the injected clock
        due = cadence.after_step(step)
        if due.validate:
            seen.append(step)
            cadence.validated()
        if due.over_budget:
            break
    assert seen == [6, 12, 18, 24, 30, 36, 42, 48, 54, 60] and step == 60
    assert cadence.stop_reason(step, True) == "time budget"


def test_unknown_budget_clock_is_refused():
    with pytest.raises(MaikitError, match="budget_clock"):
        Cadence(_cfg(budget_clock="sundial"), total=10)
