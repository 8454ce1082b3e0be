"""isp_forever — a lightweight, truncated U-Net with channel attention (ISP report §4.5, Fig. 8;
Table 1: 175 KB, 22.78 dB, 77 ms). Title: "A Lightweight U-Net Model for Learned Smartphone
ISP".

The report says only: a truncated U-Net augmented with a channel attention module, trained
with L1 + SSIM + VGG losses, Adam 1e-4, batch 16.

Choices: three levels (the U-Net is "truncated" to two poolings) with widths 10/20/40,
two 3×3 conv + ReLU per encoder level; a squeeze-excite channel attention on the
bottleneck; decoder = 2×2 stride-2 transposed conv, concat skip, two 3×3 convs (the last
level one conv); the head is a 3×3 conv to 12 channels, depth-to-space ×2 and a sigmoid.
47,022 parameters → 188.1 KB (published 175 KB). Loss weights 1 / 0.2 (1-SSIM) / 0.05
(VGG) and 100k steps at a constant rate are choices. Packed H, W divisible by 4.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from maikit.models._registry import register_model
from maikit.models.blocks import ConvAct, SqueezeExcite, conv
from maikit.models.isp._recipes import fast_recipe
from maikit.models.recipe import Recipe, Recipes, terms


def _double(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(ConvAct(cin, cout, 3), ConvAct(cout, cout, 3))


class IspForeverUNet(nn.Module):
    def __init__(self, widths: tuple[int, int, int] = (10, 20, 40), in_chans: int = 4):
        super().__init__()
        w1, w2, w3 = widths
        self.enc1, self.enc2 = _double(in_chans, w1), _double(w1, w2)
        self.bottom = _double(w2, w3)
        self.attention = SqueezeExcite(w3, 4)
        self.up2, self.dec2 = nn.ConvTranspose2d(w3, w2, 2, stride=2), _double(2 * w2, w2)
        self.up1, self.dec1 = nn.ConvTranspose2d(w2, w1, 2, stride=2), ConvAct(2 * w1, w1, 3)
        self.head = conv(w1, 12, 3)
        self.d2s = nn.PixelShuffle(2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        e1 = self.enc1(x)
        e2 = self.enc2(F.max_pool2d(e1, 2))
        b = self.attention(self.bottom(F.max_pool2d(e2, 2)))
        d2 = self.dec2(torch.cat([self.up2(b), e2], dim=1))
        d1 = self.dec1(torch.cat([self.up1(d2), e1], dim=1))
        return torch.sigmoid(self.d2s(self.head(d1)))


_PAPER = Recipe(
    losses=terms(("l1", 1.0), ("ssim", 0.2), ("vgg", 0.05)),
    optimizer="adam", lr=1e-4, schedule="constant", batch_size=16, steps=100_000, augment=("flip",),
    notes="L1 + SSIM + VGG, Adam 1e-4, batch 16 (report); weights and steps chosen",
)
_FAST = fast_recipe(("l1", 1.0), ("ssim", 0.2), lr=5e-4)


# no dynamic H, W: litert-torch 0.10 cannot convert PixelShuffle with symbolic sizes (docs/references.md#lowering)
@register_model("isp", paper="isp_forever", recipes=Recipes(paper=_PAPER, fast=_FAST), size_multiple=4,
                dynamic_shapes=False)
def isp_forever(**kwargs) -> nn.Module:
    """isp_forever: truncated 3-level U-Net with a channel attention bottleneck."""
    return IspForeverUNet(**kwargs)
