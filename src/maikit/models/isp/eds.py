"""EdS — "Fast learned ISP using Resnet Variant with Transposed Convolutions", the PIRM 2018
Image Enhancement runner-up (de Stoutz et al., "Fast perceptual image enhancement") shown
for reference (ISP report Table 1: 1017 KB, 23.23 dB, 1861 ms; §3.1: it was deliberately not
tuned for the APU and uses ops NNAPI runs poorly, hence ~2 s).

A ResNet variant of the DPED generator in which strided convolutions take the residual
blocks to a lower resolution and transposed convolutions bring it back.

Choices (the report has no method section for it): 5×5 conv 4→32 + ReLU; 4×4 stride-2
conv 32→64 + ReLU; two residual blocks of 64 channels (3×3, ReLU, no normalisation); 4×4
stride-2 transposed conv 64→32 + ReLU with a skip add from the first features; 4×4
stride-2 transposed conv 32→16 + ReLU to full resolution; 5×5 conv to RGB and DPED's
``tanh·0.58 + 0.5`` output. ``forward`` clips it to [0, 1], ``forward_train`` does not.
225,987 parameters → 903.9 KB (published 1017 KB). Training follows DPED/PIRM practice:
MSE + 0.1·VGG-19 content + 0.5·(1-SSIM), Adam 5e-4 → 1e-5, batch 32 (chosen).
Packed H, W must be even.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from maikit.models._registry import register_model
from maikit.models.blocks import ConvAct, ResidualBlock, clamp01, conv, up_conv
from maikit.models.isp._recipes import fast_recipe
from maikit.models.recipe import Recipe, Recipes, terms


class EdSNet(nn.Module):
    def __init__(self, width: int = 64, n_res: int = 2, in_chans: int = 4):
        super().__init__()
        half = width // 2
        self.head = ConvAct(in_chans, half, 5, act="relu")
        self.down = ConvAct(half, width, 4, stride=2, act="relu")
        self.body = nn.Sequential(*[ResidualBlock(width, 3, act="relu") for _ in range(n_res)])
        self.up1 = nn.Sequential(up_conv(width, half, 4, stride=2), nn.ReLU())
        self.up2 = nn.Sequential(up_conv(half, half // 2, 4, stride=2), nn.ReLU())
        self.to_rgb = conv(half // 2, 3, 5)

    def forward_train(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        f = self.head(x)
        y = self.up1(self.body(self.down(f))) + f
        return {"out": torch.tanh(self.to_rgb(self.up2(y))) * 0.58 + 0.5}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return clamp01(self.forward_train(x)["out"])


_PAPER = Recipe(
    losses=terms(("mse", 1.0), ("vgg", 0.1), ("ssim", 0.5)),
    optimizer="adam", lr=5e-4, lr_final=1e-5, schedule="cosine", batch_size=32, steps=100_000,
    augment=("flip", "rot90"),
    notes="no training description in the report; DPED/PIRM-style content + VGG + SSIM chosen",
)
_FAST = fast_recipe(("mse", 1.0), ("ssim", 0.5), lr=1e-3)


@register_model("isp", paper="eds", recipes=Recipes(paper=_PAPER, fast=_FAST), size_multiple=2,
                dynamic_shapes=True)
def eds(**kwargs) -> nn.Module:
    """EdS (PIRM 2018): ResNet variant with strided convs and transposed convolutions."""
    return EdSNet(**kwargs)
