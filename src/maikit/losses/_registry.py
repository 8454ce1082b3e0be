"""The loss registry and the masking helpers every loss shares.

Every loss is an ``nn.Module`` registered under the names the recipes use
(``LossTerm("charbonnier", 1.0)``). Image losses are called as ``loss(pred, target, mask=None)``
and return a scalar; ``mask`` (N x 1 x H x W bool, broadcast over channels) marks the pixels
that count: depth training passes ``target > 0`` (0 = unknown, docs/references.md#depth-data), ISP passes none.
Distillation losses are called as ``loss(student_features, teacher_features)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn as nn

from maikit.errors import MaikitError


@dataclass(frozen=True)
class LossInfo:
    name: str
    cls: type[nn.Module]
    kind: str  # "image" (pred, target, mask) | "distill" (student, teacher)
    defaults: tuple[tuple[str, object], ...] = ()  # preset kwargs for an alias (e.g. gradient_l1)
    description: str = ""

    def build(self, **kwargs) -> nn.Module:
        params = {**dict(self.defaults), **kwargs}
        if "lambda" in params:  # recipes may spell SILog's λ as the reserved word
            params["lam"] = params.pop("lambda")
        try:
            return self.cls(**params)
        except TypeError as e:
            raise MaikitError(f"bad arguments for loss `{self.name}`: {e}") from None


LOSSES: dict[str, LossInfo] = {}


def register_loss(*names: str, kind: str = "image", **defaults) -> Callable[[type[nn.Module]], type[nn.Module]]:
    """Class decorator: register a loss under one or more recipe names (same preset kwargs)."""

    def deco(cls: type[nn.Module]) -> type[nn.Module]:
        doc = (cls.__doc__ or "").strip().splitlines()
        for n in names:
            if n in LOSSES:
                raise RuntimeError(f"loss `{n}` registered twice")
            LOSSES[n] = LossInfo(n, cls, kind, tuple(sorted(defaults.items())), doc[0] if doc else "")
        return cls

    return deco


def register_alias(name: str, target: str, **defaults) -> None:
    """A further recipe name for a registered loss, with preset keyword arguments."""
    base = LOSSES[target]
    LOSSES[name] = LossInfo(name, base.cls, base.kind, tuple(sorted({**dict(base.defaults), **defaults}.items())),
                            base.description)


def get_loss_info(name: str) -> LossInfo:
    try:
        return LOSSES[name]
    except KeyError:
        raise MaikitError(f"unknown loss `{name}` in the loss registry; known: {', '.join(sorted(LOSSES))}") from None


def create_loss(name: str, **kwargs) -> nn.Module:
    """Build one registered loss, e.g. ``create_loss("silog", lam=0.85)``."""
    return get_loss_info(name).build(**kwargs)


# --------------------------------------------------------------------------------------
# Masking helpers
# --------------------------------------------------------------------------------------
def expand_mask(mask: torch.Tensor | None, like: torch.Tensor) -> torch.Tensor:
    """``mask`` as a float tensor broadcast to ``like``'s shape (all ones when None)."""
    if mask is None:
        return torch.ones_like(like)
    if mask.shape[-2:] != like.shape[-2:]:
        raise MaikitError(f"`mask` must match the prediction's size, got {tuple(mask.shape)} and {tuple(like.shape)}")
    return mask.to(like.dtype).expand_as(like)


def masked_mean(values: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """Mean of ``values`` over the masked elements, pooled over the batch.

    With no valid element the result is ``0 * values.sum()``: zero, still attached to the graph
    so a batch without known depth neither crashes nor produces NaN.
    """
    if mask is None:
        return values.mean()
    m = expand_mask(mask, values)
    count = m.sum()
    if count.item() == 0:
        return values.sum() * 0.0
    return (values * m).sum() / count


def per_image_stats(d: torch.Tensor, mask: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per image: (count of valid pixels, mean of d, mean of d²) over the valid pixels.

    Images with no valid pixel get count 0 and means 0; callers drop them.
    """
    m = expand_mask(mask, d)
    dims = tuple(range(1, d.ndim))
    count = m.sum(dims)
    safe = count.clamp_min(1.0)
    mean = (d * m).sum(dims) / safe
    mean_sq = (d * d * m).sum(dims) / safe
    return count, mean, mean_sq


def mean_over_valid_images(values: torch.Tensor, count: torch.Tensor) -> torch.Tensor:
    """Average per-image ``values`` over the images that have at least one valid pixel."""
    keep = count > 0
    if not bool(keep.any()):
        return values.sum() * 0.0
    return values[keep].mean()
