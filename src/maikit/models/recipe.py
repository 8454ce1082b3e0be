"""Training recipes as typed code, kept next to each model (no YAML copies).

A :class:`Recipe` says what a team trained with (the reports' §4): loss terms and weights,
optimiser, learning-rate schedule, batch size, augmentation, stages, distillation. Every
registered model has a ``paper`` recipe (as published, where the report says it) and a
``fast`` recipe (CPU-friendly, no VGG perceptual term, used for quick benchmarks/tests).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Callable


@dataclass(frozen=True)
class LossTerm:
    """One weighted loss term; ``name`` is a key of ``maikit.losses`` (e.g. "l1", "ms_ssim")."""

    name: str
    weight: float = 1.0
    kwargs: tuple[tuple[str, object], ...] = ()  # hashable; use dict(term.kwargs)

    def to_dict(self) -> dict:
        return {"name": self.name, "weight": self.weight, **({"kwargs": dict(self.kwargs)} if self.kwargs else {})}


@dataclass(frozen=True)
class Stage:
    """A training stage: its own losses and share of the steps (e.g. L1 then L1 + VGG)."""

    name: str
    losses: tuple[LossTerm, ...]
    fraction: float = 1.0  # share of total steps
    options: tuple[tuple[str, object], ...] = ()  # stage-specific switches (e.g. detach super-net)


class TrainHooks:
    """Model-specific training stages, supplied by a model's recipe (``Recipe.hooks``).

    The one training loop calls these at fixed points; the defaults change nothing. A
    model whose training has its own logic (e.g. ENERZAi's super-network, detached once
    its validation PSNR passes a threshold) subclasses this next to the model. ``trainer``
    is the running :class:`maikit.train.loop.Trainer` (its ``model``, ``stage``, ``dist``,
    ``adapter``, ``entry``); ``stage`` a :class:`maikit.train.schedule.PlannedStage`.
    A hook object lives for one run; :meth:`state_dict` goes into the checkpoint.
    """

    def heads(self, trainer: Any, stage: Any) -> tuple[str, ...]:
        """The model outputs the stage's losses apply to."""
        return stage.heads

    def frozen(self, trainer: Any, stage: Any) -> tuple[str, ...]:
        """Parameter-name prefixes whose gradients are dropped in the stage."""
        return stage.freeze

    def begin_validation(self, trainer: Any) -> None:
        """Called before the validation images are run."""

    def validation_batch(self, trainer: Any, x: Any, y: Any) -> None:
        """Called for each validation pair (``x``, ``y`` on the device, the model in eval mode)."""

    def end_validation(self, trainer: Any) -> dict[str, float]:
        """Extra validation figures (logged as ``val_<name>``)."""
        return {}

    def after_validation(self, trainer: Any, val: dict[str, float]) -> bool:
        """React to the (broadcast) validation figures; True re-enters the current stage."""
        return False

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore from a checkpoint's ``train_state`` (it may hold other keys too)."""


@dataclass(frozen=True)
class Recipe:
    losses: tuple[LossTerm, ...]
    optimizer: str = "adam"
    lr: float = 1e-4
    lr_final: float | None = None  # None = constant
    schedule: str = "constant"  # constant | cosine | poly | step
    schedule_power: float = 1.0  # for poly
    batch_size: int = 4
    steps: int = 100_000
    weight_decay: float = 0.0
    augment: tuple[str, ...] = ("flip",)
    stages: tuple[Stage, ...] = ()  # empty = one stage with `losses`
    distill: str | None = None  # name of a distillation loss when trained with --teacher
    distill_weight: float = 1.0
    notes: str = ""
    hooks: Callable[[], TrainHooks] | None = None  # model-specific stages (a TrainHooks factory)

    def replace(self, **changes) -> "Recipe":
        return replace(self, **changes)

    def needs_vgg(self) -> bool:
        terms = list(self.losses) + [t for s in self.stages for t in s.losses]
        return any(t.name.startswith("vgg") for t in terms)

    def to_dict(self) -> dict:
        return {
            "losses": [t.to_dict() for t in self.losses],
            "optimizer": self.optimizer,
            "lr": self.lr,
            "lr_final": self.lr_final,
            "schedule": self.schedule,
            "batch_size": self.batch_size,
            "steps": self.steps,
            "weight_decay": self.weight_decay,
            "augment": list(self.augment),
            "stages": [
                {"name": s.name, "fraction": s.fraction, "losses": [t.to_dict() for t in s.losses],
                 "options": dict(s.options)}
                for s in self.stages
            ],
            "distill": self.distill,
            "notes": self.notes,
        }


def terms(*pairs: tuple[str, float]) -> tuple[LossTerm, ...]:
    """Shorthand: ``terms(("l1", 1.0), ("ms_ssim", 0.2))``."""
    return tuple(LossTerm(n, float(w)) for n, w in pairs)


@dataclass(frozen=True)
class Recipes:
    paper: Recipe
    fast: Recipe
    extra: dict = field(default_factory=dict)

    def get(self, name: str) -> Recipe:
        if name == "paper":
            return self.paper
        if name == "fast":
            return self.fast
        if name in self.extra:
            return self.extra[name]
        from maikit.errors import MaikitError

        raise MaikitError(f"unknown recipe `{name}`; choose paper, fast{''.join(', ' + k for k in self.extra)}")
