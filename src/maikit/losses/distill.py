"""Distillation losses between a student's and a frozen teacher's intermediate features.

Features are what ``forward_train(x)["features"]`` returns: one N x C x H x W tensor, or a
list / tuple / dict of them (multi-level distillation, pairs matched in order). The teacher's
side is always detached.

* ``feature_l2`` (Tencent GY-Lab, depth report §4): mean squared distance per level. Where the
  shapes differ the student's map is first resized to the teacher's spatial size (bilinear)
  and then mapped to the teacher's channel count with a learnable 1×1 convolution (an
  adapter, trained with the student and discarded at export). Call :meth:`prepare` once
  with sample features before building the optimiser so the adapters exist and are trained.
* ``pairwise`` (SmartLab, structured knowledge distillation, Liu et al. 2019): both maps are
  average-pooled to a common grid of at most ``grid`` × ``grid`` cells, each cell's feature
  vector is L2-normalised, and the squared difference of the two cosine-affinity matrices
  (cells × cells) is averaged. Channel counts may differ; no parameters.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F

from maikit.errors import MaikitError
from maikit.losses._registry import register_loss


def feature_list(features: Any) -> list[torch.Tensor]:
    """A tensor, a list/tuple or a dict of tensors -> list of N x C x H x W tensors."""
    if torch.is_tensor(features):
        items = [features]
    elif isinstance(features, dict):
        items = list(features.values())
    elif isinstance(features, (list, tuple)):
        items = list(features)
    else:
        raise MaikitError(f"distillation features must be a tensor, list or dict, got {type(features).__name__}")
    for f in items:
        if not torch.is_tensor(f) or f.ndim != 4:
            raise MaikitError("distillation features must be N x C x H x W tensors")
    return items


def _pair_up(student: Any, teacher: Any) -> list[tuple[torch.Tensor, torch.Tensor]]:
    s, t = feature_list(student), feature_list(teacher)
    if len(s) != len(t):
        raise MaikitError(
            f"student and teacher give different numbers of feature maps ({len(s)} and {len(t)}); "
            "distillation pairs them in order"
        )
    return list(zip(s, t))


@register_loss("feature_l2", kind="distill")
class FeatureL2Loss(nn.Module):
    """Mean squared distance between student and teacher features (resize + 1×1 adapter if needed)."""

    def __init__(self, adapter: bool = True):
        super().__init__()
        self.use_adapter = bool(adapter)
        self.adapters = nn.ModuleList()
        self._prepared = False

    def prepare(self, student: Any, teacher: Any) -> "FeatureL2Loss":
        """Create the 1×1 adapters for these feature shapes (idempotent)."""
        if self._prepared:
            return self
        for s, t in _pair_up(student, teacher):
            if s.shape[1] == t.shape[1]:
                self.adapters.append(nn.Identity())
            elif self.use_adapter:
                self.adapters.append(nn.Conv2d(s.shape[1], t.shape[1], 1).to(device=s.device, dtype=s.dtype))
            else:
                raise MaikitError(
                    f"student features have {s.shape[1]} channels, the teacher's {t.shape[1]}; "
                    "enable the 1x1 adapter (adapter=True)"
                )
        self._prepared = True
        return self

    def forward(self, student: Any, teacher: Any) -> torch.Tensor:
        pairs = _pair_up(student, teacher)
        self.prepare(student, teacher)
        if len(self.adapters) != len(pairs):
            raise MaikitError(f"distillation adapters were prepared for {len(self.adapters)} feature maps, got {len(pairs)}")
        losses = []
        for (s, t), adapter in zip(pairs, self.adapters):
            t = t.detach()
            if s.shape[-2:] != t.shape[-2:]:
                s = F.interpolate(s, size=t.shape[-2:], mode="bilinear", align_corners=False)
            losses.append(F.mse_loss(adapter(s), t.to(s.dtype)))
        return torch.stack(losses).mean()


def affinity(features: torch.Tensor) -> torch.Tensor:
    """Cosine affinity between all spatial cells: N x (H·W) x (H·W)."""
    f = F.normalize(features.flatten(2), dim=1, eps=1e-8)  # N x C x P
    return f.transpose(1, 2) @ f


@register_loss("pairwise", kind="distill")
class PairwiseDistillLoss(nn.Module):
    """Squared difference of the cosine-affinity matrices of pooled student and teacher features."""

    def __init__(self, grid: int = 16):
        super().__init__()
        if grid < 1:
            raise MaikitError(f"`grid` must be at least 1, got {grid}")
        self.grid = int(grid)

    def forward(self, student: Any, teacher: Any) -> torch.Tensor:
        losses = []
        for s, t in _pair_up(student, teacher):
            size = (min(self.grid, s.shape[-2], t.shape[-2]), min(self.grid, s.shape[-1], t.shape[-1]))
            a_s = affinity(F.adaptive_avg_pool2d(s, size))
            a_t = affinity(F.adaptive_avg_pool2d(t.detach().to(s.dtype), size))
            losses.append(((a_s - a_t) ** 2).mean())
        return torch.stack(losses).mean()
