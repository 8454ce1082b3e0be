"""CVML — "Mobile compatible Convolution Neural Network for Learned Smartphone ISP" (ISP report
Table 1: 76 KB, 22.84 dB, 167 ms).

The seed text has only the team's title and Table 1 row (its method section is not in
the available text). What "mobile compatible" demands on the Dimensity APU (NNAPI /
Neuron delegate, §2.3) is a net of plain, well-supported ops: 3×3 convolutions, ReLU,
element-wise adds and depth-to-space.

Choices: a 3×3 conv 4→20 + ReLU at the packed resolution, two residual blocks of 20
channels, a global skip around them, a 3×3 conv to 12 channels, depth-to-space ×2 and a
sigmoid. 17,392 parameters → 69.6 KB (published 76 KB). Training: L1 + 0.2·(1-SSIM),
Adam 1e-4 → 1e-6 cosine, batch 16, 100k steps (all chosen).
"""

from __future__ import annotations

import torch
import torch.nn as nn

from maikit.models._registry import register_model
from maikit.models.blocks import ConvAct, ResidualBlock, conv
from maikit.models.isp._recipes import fast_recipe
from maikit.models.recipe import Recipe, Recipes, terms


class MobileISPNet(nn.Module):
    def __init__(self, width: int = 20, n_res: int = 2, in_chans: int = 4):
        super().__init__()
        self.head = ConvAct(in_chans, width, 3, act="relu")
        self.body = nn.Sequential(*[ResidualBlock(width, 3, act="relu") for _ in range(n_res)])
        self.tail = conv(width, 12, 3)
        self.d2s = nn.PixelShuffle(2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f = self.head(x)
        return torch.sigmoid(self.d2s(self.tail(f + self.body(f))))


_PAPER = Recipe(
    losses=terms(("l1", 1.0), ("ssim", 0.2)),
    optimizer="adam", lr=1e-4, lr_final=1e-6, schedule="cosine", batch_size=16, steps=100_000, augment=("flip",),
    notes="method section not in the available report text; all settings chosen",
)
_FAST = fast_recipe(("l1", 1.0), ("ssim", 0.2), lr=5e-4)


# no dynamic H, W: litert-torch 0.10 cannot convert PixelShuffle with symbolic sizes (docs/references.md#lowering)
@register_model("isp", paper="cvml", recipes=Recipes(paper=_PAPER, fast=_FAST), size_multiple=1,
                dynamic_shapes=False)
def cvml(**kwargs) -> nn.Module:
    """CVML: mobile-compatible residual CNN (conv/ReLU/add/depth-to-space only)."""
    return MobileISPNet(**kwargs)
