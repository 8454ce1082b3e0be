"""When the training loop validates, writes a loss row, saves ``last.pt`` and stops on time.

By steps (``val_every``, default a tenth of the run; ``ckpt_every``, default the validation
cadence; a loss row five times per validation), or, for a time-budgeted run without
``val_every``, by the clock: validation every tenth of the budget, a loss row every
fiftieth (the step count such a run reaches is not known in advance). The budget's clock
is wall time or the process's own CPU time (all its threads), so that a budget means the
same work whatever else the machine is doing. Decisions that differ between ranks are
broadcast from rank 0.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable

from maikit.errors import MaikitError
from maikit.train.config import TrainConfig


@dataclass(frozen=True)
class Due:
    """What is due after a step."""

    validate: bool
    log: bool
    checkpoint: bool
    last: bool  # the run ends after this step
    over_budget: bool


class Cadence:
    def __init__(self, cfg: TrainConfig, total: int, broadcast: Callable[[Any], Any] = lambda v: v,
                 clock: Callable[[], float] | None = None):
        """``clock`` replaces the config's budget clock (tests inject one)."""
        self.total = total
        self.stop_at = cfg.stop_at if cfg.stop_at is not None else total
        self.val_every = cfg.val_every or max(1, total // 10)
        self.ckpt_every = cfg.ckpt_every or self.val_every
        self.log_every = max(1, self.val_every // 5)  # loss rows between validations show on short runs too
        self.budget_s = None if cfg.max_minutes is None else float(cfg.max_minutes) * 60.0
        if cfg.budget_clock not in ("wall", "cpu"):
            raise MaikitError(f"`budget_clock` must be wall or cpu, got {cfg.budget_clock!r}")
        self.clock = clock or (time.process_time if cfg.budget_clock == "cpu" else time.perf_counter)
        self.timed = self.budget_s is not None and cfg.val_every is None
        self.broadcast = broadcast
        self.start = self.last_val_t = self.last_log_t = self.clock()

    def running(self, step: int) -> bool:
        return step < min(self.total, self.stop_at)

    def after_step(self, step: int) -> Due:
        over_budget = False
        if self.budget_s is not None:
            over_budget = bool(self.broadcast(self.clock() - self.start >= self.budget_s))
        last = step >= self.total or step >= self.stop_at or over_budget
        if self.timed:
            now = self.clock()
            due_val = bool(self.broadcast(now - self.last_val_t >= self.budget_s / 10))
            due_log = bool(self.broadcast(now - self.last_log_t >= self.budget_s / 50))
        else:
            due_val, due_log = step % self.val_every == 0, step % self.log_every == 0
        return Due(validate=due_val or last, log=due_log, checkpoint=step % self.ckpt_every == 0 or last,
                   last=last, over_budget=over_budget)

    def validated(self) -> None:
        self.last_val_t = self.last_log_t = self.clock()

    def logged(self) -> None:
        self.last_log_t = self.clock()

    def stop_reason(self, step: int, over_budget: bool) -> str:
        if over_budget:
            return "time budget"
        return "stop_at" if self.stop_at <= step < self.total else "completed"
