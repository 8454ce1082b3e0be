"""A recipe's weighted sum of loss terms: ``build_loss(terms) -> loss(outputs, batch)``.

``outputs`` is what the model returned: a tensor (= ``{"out": tensor}``) or the dict of
``forward_train`` (``"out"``, optionally ``"super"``, ``"features"``). ``batch`` is a dict with
``"y"`` (and optionally ``"mask"``) or an ``(x, y)`` pair. Each term reads the output named by
its ``output`` keyword (default ``"out"``); ``build_loss(..., outputs=("out", "super"))``
applies every term without its own ``output`` to each of those outputs (joint training of a
sub-net and a super-net, ENERZAi, ISP report §4.4). With ``masked=True`` (depth) the mask is
``target > 0`` unless the batch brings its own.
"""

from __future__ import annotations

import inspect
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Iterable

import torch
import torch.nn as nn

from maikit.errors import MaikitError
from maikit.losses._registry import get_loss_info

if TYPE_CHECKING:
    from maikit.taskspec import TaskSpec


@dataclass(frozen=True)
class _Term:
    key: str  # name in the parts dict, e.g. "l1" or "l1@super"
    name: str
    weight: float
    output: str


def _term_fields(term: Any) -> tuple[str, float, dict]:
    """Accept a recipe LossTerm, a ``(name, weight[, kwargs])`` tuple or a dict."""
    if isinstance(term, dict):
        return term["name"], float(term.get("weight", 1.0)), dict(term.get("kwargs", {}))
    if isinstance(term, (tuple, list)):
        name, weight = term[0], term[1] if len(term) > 1 else 1.0
        return name, float(weight), dict(term[2]) if len(term) > 2 else {}
    return term.name, float(term.weight), dict(getattr(term, "kwargs", ()) or ())


class CompositeLoss(nn.Module):
    """Weighted sum of image losses; returns ``(total, {term key: value})``."""

    def __init__(self, terms: list[_Term], modules: list[nn.Module], masked: bool = False):
        super().__init__()
        self.terms = terms
        self.losses = nn.ModuleList(modules)
        self.masked = masked

    @property
    def outputs_used(self) -> set[str]:
        return {t.output for t in self.terms}

    def forward(self, outputs: Any, batch: Any) -> tuple[torch.Tensor, dict[str, float]]:
        if torch.is_tensor(outputs):
            outputs = {"out": outputs}
        if isinstance(batch, dict):
            target, mask = batch["y"], batch.get("mask")
        else:
            target, mask = batch[1], None
        if mask is None and self.masked:
            mask = target > 0
        total = None
        parts: dict[str, float] = {}
        for term, loss in zip(self.terms, self.losses):
            if term.output not in outputs:
                raise MaikitError(
                    f"loss `{term.name}` is applied to the model output `{term.output}`, which this model's "
                    f"forward_train does not return (it returns {', '.join(outputs)})"
                )
            pred = outputs[term.output]
            if pred.shape[-2:] != target.shape[-2:]:
                raise MaikitError(
                    f"model output `{term.output}` is {tuple(pred.shape[-2:])} but the target is "
                    f"{tuple(target.shape[-2:])}"
                )
            value = loss(pred.float() if pred.dtype != target.dtype else pred, target, mask)
            parts[term.key] = float(value.detach())
            weighted = term.weight * value
            total = weighted if total is None else total + weighted
        if total is None:
            raise MaikitError("the recipe has no loss terms")
        return total, parts


def build_loss(
    terms: Iterable[Any],
    *,
    task: TaskSpec | None = None,
    vgg_weights: str | os.PathLike | None = None,
    outputs: tuple[str, ...] = ("out",),
) -> CompositeLoss:
    """Build the weighted sum of ``terms`` (recipe ``LossTerm``s or ``(name, weight[, kwargs])``).

    A ``task`` with masked targets (depth) masks unknown depth (target 0); ``vgg_weights`` is handed to the VGG-19
    loss; ``outputs`` lists the model outputs a term without ``output=`` applies to.
    """
    resolved: list[_Term] = []
    modules: list[nn.Module] = []
    seen: dict[str, int] = {}
    for term in terms:
        name, weight, kwargs = _term_fields(term)
        info = get_loss_info(name)
        if info.kind != "image":
            raise MaikitError(f"`{name}` is a distillation loss; set it as the recipe's `distill`, not as a loss term")
        fixed_output = kwargs.pop("output", None)
        if "weights" in inspect.signature(info.cls.__init__).parameters and "weights" not in kwargs:
            kwargs["weights"] = vgg_weights
        module = info.build(**kwargs)
        for out in (fixed_output,) if fixed_output else outputs:
            key = name if out == "out" else f"{name}@{out}"
            seen[key] = seen.get(key, 0) + 1
            if seen[key] > 1:
                key = f"{key}#{seen[key]}"
            resolved.append(_Term(key, name, weight, out))
            modules.append(module)
    if not resolved:
        raise MaikitError("the recipe has no loss terms")
    masked = task is not None and task.masked_targets
    return CompositeLoss(resolved, modules, masked=masked)


def build_distill_loss(name: str, **kwargs) -> nn.Module:
    """A distillation loss by recipe name (``feature_l2`` or ``pairwise``)."""
    info = get_loss_info(name)
    if info.kind != "distill":
        raise MaikitError(f"`{name}` is not a distillation loss; use feature_l2 or pairwise")
    return info.build(**kwargs)
