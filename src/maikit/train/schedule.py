"""Learning-rate schedules and the recipe's training stages, as pure functions of the step.

The learning rate is recomputed from the step number every step (no scheduler object with
hidden state), so a resumed run continues on exactly the same curve.

Stage options understood by the trainer (``Stage.options``):

* ``heads`` (alias ``outputs``): the model outputs the stage's losses apply to, e.g.
  ``("out", "super")`` for ENERZAi's joint training (default ``("out",)``);
* ``freeze``: module-name prefixes whose parameters are not updated in this stage;
* ``detach_super_at_psnr``: once the validation PSNR of the ``super`` output reaches this
  many dB, the super-network is detached for the rest of the stage (losses on it dropped,
  its parameters frozen) — ISP report §4.4;
* ``distill``: False switches teacher distillation off in this stage (AIIA HIT trained with
  the depth loss first and added distillation in a second stage).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from maikit.errors import MaikitError
from maikit.models.recipe import Recipe, Stage

SCHEDULES = ("constant", "cosine", "poly", "step")


def lr_at(step: int, total: int, lr: float, lr_final: float | None, schedule: str, power: float = 1.0,
          step_size: int | None = None, gamma: float = 0.1) -> float:
    """Learning rate for optimiser step ``step`` (0-based) of ``total``.

    ``cosine``/``poly`` go from ``lr`` to ``lr_final`` (0 when None); ``step`` multiplies by
    ``gamma`` every ``step_size`` steps (a third of the run when None), floored at
    ``lr_final``; ``constant`` ignores ``lr_final``.
    """
    if schedule not in SCHEDULES:
        raise MaikitError(f"unknown learning-rate schedule `{schedule}`; choose one of {', '.join(SCHEDULES)}")
    if schedule == "constant" or total <= 1:
        return lr
    end = 0.0 if lr_final is None else lr_final
    t = min(max(step / (total - 1), 0.0), 1.0)
    if schedule == "cosine":
        return end + (lr - end) * 0.5 * (1.0 + math.cos(math.pi * t))
    if schedule == "poly":
        return end + (lr - end) * (1.0 - t) ** power
    size = step_size or max(1, total // 3)
    return max(lr * gamma ** (step // size), end)


def recipe_lr(recipe: Recipe, step: int, total: int, lr: float | None = None) -> float:
    base = recipe.lr if lr is None else lr
    # an overridden base lr keeps the recipe's final/initial ratio
    final = recipe.lr_final
    if final is not None and lr is not None and recipe.lr:
        final = final * lr / recipe.lr
    return lr_at(step, total, base, final, recipe.schedule, recipe.schedule_power)


@dataclass(frozen=True)
class PlannedStage:
    index: int
    stage: Stage
    start: int  # first step (inclusive)
    end: int  # last step (exclusive)

    @property
    def options(self) -> dict:
        return dict(self.stage.options)

    @property
    def heads(self) -> tuple[str, ...]:
        opts = self.options
        heads = opts.get("heads", opts.get("outputs", ("out",)))
        return (heads,) if isinstance(heads, str) else tuple(heads)

    @property
    def freeze(self) -> tuple[str, ...]:
        f = self.options.get("freeze", ())
        return (f,) if isinstance(f, str) else tuple(f)

    @property
    def distill(self) -> bool:
        return bool(self.options.get("distill", True))

    @property
    def detach_super_at_psnr(self) -> float | None:
        v = self.options.get("detach_super_at_psnr")
        return None if v is None else float(v)


def plan_stages(recipe: Recipe, total: int) -> list[PlannedStage]:
    """Split ``total`` steps over the recipe's stages by their fractions (normalised to sum 1)."""
    stages = recipe.stages or (Stage("main", recipe.losses, 1.0),)
    weights = [max(float(s.fraction), 0.0) for s in stages]
    if sum(weights) <= 0:
        raise MaikitError("the recipe's stage fractions must add up to more than 0")
    planned, start, acc = [], 0, 0.0
    for i, (s, w) in enumerate(zip(stages, weights)):
        acc += w
        end = total if i == len(stages) - 1 else int(round(total * acc / sum(weights)))
        planned.append(PlannedStage(i, s, start, max(end, start)))
        start = max(end, start)
    return planned


def stage_at(plan: list[PlannedStage], step: int) -> PlannedStage:
    for p in plan:
        if p.start <= step < p.end:
            return p
    return plan[-1]
