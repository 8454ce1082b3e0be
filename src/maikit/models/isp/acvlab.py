"""ACVLab — a very compact residual network with a local fusion block (ISP report §4.7; Table 1:
7 KB, 22.03 dB, 76.3 ms). Title: "Lightweight Residual Learning Network for Learned ISP".

What the report (as available; its §4.7 is cut short in the seed text) says: a very
compact CNN with a local fusion block made of two parts — multiple stacked *adaptive
weight residual units* (termed RRDB) and a *local residual fusion unit* (LRFU).

Choices:

* head: 3×3 conv 4→6 + ReLU at the packed resolution;
* adaptive weight residual unit: ``y = a·x + b·ReLU(conv3×3(x))`` with learnable scalars
  ``a`` (init 1) and ``b`` (init 0.1), three stacked;
* LRFU: concatenate the head output and every unit's output, 1×1 conv back to 6 channels,
  then an adaptive residual with the head features (``c·head + fused``);
* tail: 3×3 conv to 12 channels, depth-to-space ×2, sigmoid.

2,029 parameters → 8.1 KB (published 7 KB). The training is not described in the
available text: L1 + 0.2·(1-SSIM), Adam 1e-3 → 1e-5 cosine, batch 16, 100k steps chosen
(typical for so small a net).
"""

from __future__ import annotations

import torch
import torch.nn as nn

from maikit.models._registry import register_model
from maikit.models.blocks import ConvAct, conv
from maikit.models.isp._recipes import fast_recipe
from maikit.models.recipe import Recipe, Recipes, terms


class AdaptiveResidualUnit(nn.Module):
    """y = a·x + b·ReLU(conv(x)), a and b learned scalars."""

    def __init__(self, channels: int):
        super().__init__()
        self.body = ConvAct(channels, channels, 3, act="relu")
        self.a = nn.Parameter(torch.ones(1))
        self.b = nn.Parameter(torch.full((1,), 0.1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.a * x + self.b * self.body(x)


class LocalFusionBlock(nn.Module):
    """Stacked adaptive residual units + LRFU (1×1 fusion of all unit outputs, adaptive skip)."""

    def __init__(self, channels: int, n_units: int):
        super().__init__()
        self.units = nn.ModuleList(AdaptiveResidualUnit(channels) for _ in range(n_units))
        self.fuse = conv(channels * (n_units + 1), channels, 1)
        self.c = nn.Parameter(torch.ones(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feats, f = [x], x
        for unit in self.units:
            f = unit(f)
            feats.append(f)
        return self.c * x + self.fuse(torch.cat(feats, dim=1))


class ACVLabNet(nn.Module):
    def __init__(self, width: int = 6, n_units: int = 3, in_chans: int = 4):
        super().__init__()
        self.head = ConvAct(in_chans, width, 3, act="relu")
        self.fusion = LocalFusionBlock(width, n_units)
        self.tail = conv(width, 12, 3)
        self.d2s = nn.PixelShuffle(2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.d2s(self.tail(self.fusion(self.head(x)))))


_PAPER = Recipe(
    losses=terms(("l1", 1.0), ("ssim", 0.2)),
    optimizer="adam", lr=1e-3, lr_final=1e-5, schedule="cosine", batch_size=16, steps=100_000, augment=("flip",),
    notes="training not described in the available report text; all settings chosen",
)
_FAST = fast_recipe(("l1", 1.0), ("ssim", 0.2), lr=2e-3, batch_size=16)


# no dynamic H, W: litert-torch 0.10 cannot convert PixelShuffle with symbolic sizes (docs/references.md#lowering)
@register_model("isp", paper="acvlab", recipes=Recipes(paper=_PAPER, fast=_FAST), size_multiple=1,
                dynamic_shapes=False)
def acvlab(**kwargs) -> nn.Module:
    """ACVLab: compact net with a local fusion block (adaptive residual units + LRFU)."""
    return ACVLabNet(**kwargs)
