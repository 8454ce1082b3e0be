"""The model zoo registry (in the spirit of timm's ``create_model``).

Each solution lives in one module under ``maikit/models/isp/`` or ``maikit/models/depth/``
and registers a builder with :func:`register_model`; the registry key is
``"<task>/<function name>"`` (no name strings to keep in sync). This module imports no
model: ``maikit/models/__init__.py`` imports the zoo packages (one line per package), so
any import of ``maikit.models`` fills the registry and no model module imports it back. Metadata — the paper row,
the recipes, export constraints — sits beside the builder, so export, runtime, training
and leaderboards read it from the entry without building the model.

Model contracts (see ``maikit.taskspec``):

* ISP: ``forward(x)`` with x = packed RAW, N x 4 x H x W float normalised per the task's
  RawConvention; returns RGB N x 3 x 2H x 2W in [0, 1].
* Depth: ``forward(x)`` with x = RGB N x 3 x H x W float in 0-255 (normalisation and every
  resize inside the graph); returns depth in metres, N x 1 x H x W.
* ``forward`` is what gets exported. A model that trains extra heads or exposes features
  for distillation also defines ``forward_train(x) -> dict[str, Tensor]`` with key "out"
  (the exported output) plus e.g. "super" (an auxiliary head) or "features".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import torch.nn as nn

from maikit.errors import MaikitError
from maikit.models.recipe import Recipes
from maikit.scoring.paper import PaperRow, paper_row


@dataclass(frozen=True)
class ModelEntry:
    name: str  # "isp/smallnet"
    task: str
    builder: Callable[..., nn.Module]
    paper: PaperRow | None
    recipes: Recipes | None  # None for non-learned models
    trainable: bool = True
    size_multiple: int = 1  # input H, W must be divisible by this (model side, NCHW)
    dynamic_shapes: bool = True  # can export with dynamic H, W
    description: str = ""
    extra: dict = field(default_factory=dict)

    @property
    def short_name(self) -> str:
        return self.name.split("/", 1)[1]

    def build(self, **kwargs) -> nn.Module:
        return self.builder(**kwargs)


_REGISTRY: dict[str, ModelEntry] = {}


def register_model(
    task: str,
    *,
    paper: str | None = None,
    recipes: Recipes | None = None,
    trainable: bool = True,
    size_multiple: int = 1,
    dynamic_shapes: bool = True,
    **extra,
) -> Callable[[Callable[..., nn.Module]], Callable[..., nn.Module]]:
    """Decorator: register ``fn`` as ``"<task>/<fn.__name__>"``.

    ``paper`` is the key of the model's row in ``maikit.scoring.paper``.
    """

    def deco(fn: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        name = f"{task}/{fn.__name__}"
        if name in _REGISTRY:
            raise RuntimeError(f"model `{name}` registered twice")
        doc = (fn.__doc__ or "").strip().splitlines()
        _REGISTRY[name] = ModelEntry(
            name=name,
            task=task,
            builder=fn,
            paper=paper_row(task, paper) if paper else None,
            recipes=recipes,
            trainable=trainable,
            size_multiple=size_multiple,
            dynamic_shapes=dynamic_shapes,
            description=doc[0] if doc else "",
            extra=extra,
        )
        return fn

    return deco


def list_models(task: str | None = None) -> list[str]:
    return sorted(n for n, e in _REGISTRY.items() if task is None or e.task == task)


def resolve_model_name(name: str) -> str:
    """The registry key for ``name``: ``isp/smallnet`` as is, or a short name such as
    ``smallnet`` when exactly one task has a model of that name."""
    if name in _REGISTRY:
        return name
    matches = sorted(n for n, e in _REGISTRY.items() if "/" not in name and e.short_name == name)
    if len(matches) == 1:
        return matches[0]
    if matches:
        raise MaikitError(f"model name `{name}` is ambiguous: give one of {', '.join(matches)}")
    known = ", ".join(sorted(_REGISTRY)) or "(none)"
    raise MaikitError(f"unknown model `{name}` in the model registry; known: {known}")


def get_model_entry(name: str) -> ModelEntry:
    """The entry of a registered model, by full name or unambiguous short name."""
    return _REGISTRY[resolve_model_name(name)]


def create_model(name: str, **kwargs) -> nn.Module:
    """Build a registered model by name, e.g. ``create_model("isp/smallnet")``."""
    return get_model_entry(name).build(**kwargs)
