"""Per-pixel losses: L1, MSE (L2) and Charbonnier; all honour an optional validity mask."""

from __future__ import annotations

import torch
import torch.nn as nn

from maikit.losses._registry import masked_mean, register_alias, register_loss


@register_loss("l1")
class L1Loss(nn.Module):
    """Mean absolute error over the valid pixels."""

    def forward(self, pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        return masked_mean((pred - target).abs(), mask)


@register_loss("mse")
class MSELoss(nn.Module):
    """Mean squared error over the valid pixels (the recipes' "L2" / "MSE")."""

    def forward(self, pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        return masked_mean((pred - target) ** 2, mask)


register_alias("l2", "mse")


@register_loss("charbonnier")
class CharbonnierLoss(nn.Module):
    """Charbonnier loss ``sqrt((pred − target)² + eps²)``, a differentiable L1 (ISP report §4).

    ``eps`` defaults to 1e-3, the value commonly used with images in [0, 1].
    """

    def __init__(self, eps: float = 1e-3):
        super().__init__()
        self.eps = float(eps)

    def forward(self, pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        return masked_mean(torch.sqrt((pred - target) ** 2 + self.eps**2), mask)
