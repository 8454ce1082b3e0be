"""PUNET — the official MAI 2021 Learned Smartphone ISP baseline (docs/references.md#punet).

A U-Net over the packed RAW (half resolution): base width 16, so 16/32/64/128/256 channels
over five levels; every block is two 3×3 convolutions each followed by LeakyReLU(0.2);
2×2 max-pooling between encoder levels; level 5 stacks four blocks with residual adds
around the 2nd and 3rd. The decoder upsamples with 3×3 stride-2 transposed convolutions
+ LeakyReLU, concatenates the encoder skip and runs a block. A last transposed conv
(16 → 4 channels) brings the packed resolution to full resolution, a 3×3 conv gives RGB,
and the output is ``tanh(x)·0.58 + 0.5``.

Training (official): Adam 5e-5, batch 32, 100k iterations, 20·MSE + VGG-19 (relu5_4)
content + 20·(1 − SSIM), rot90 + flip augmentation. Reported 23.03 dB PSNR on the 256×256
validation patches. The baseline has no row in Table 1 of the ISP report.

Output range: ``tanh·0.58 + 0.5`` spans [-0.08, 1.08] so that 0 and 1 are reachable
without saturating tanh. ``forward`` clips to [0, 1] (the model contract; the official
PSNR clips the same way), while ``forward_train`` returns the unclipped value so that
losses keep their gradient near the ends of the range.

Four 2×2 poolings: packed H, W must be divisible by 16 (RAW by 32).
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from maikit.models._registry import register_model
from maikit.models.blocks import clamp01, conv, up_conv
from maikit.models.isp._recipes import fast_recipe
from maikit.models.recipe import Recipe, Recipes, terms

PUNET_REPORTED_PSNR = 23.03  # dB, 256x256 validation patches (docs/references.md#punet)


# ----------------------------------------------------------------------------- blocks
class DoubleConv(nn.Sequential):
    """Two 3×3 convs, each followed by LeakyReLU(0.2)."""

    def __init__(self, cin: int, cout: int):
        super().__init__(conv(cin, cout, 3), nn.LeakyReLU(0.2), conv(cout, cout, 3), nn.LeakyReLU(0.2))


class UpBlock(nn.Module):
    """3×3 stride-2 transposed conv + LeakyReLU, concat with the skip, DoubleConv."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.up = up_conv(cin, cout, 3, stride=2)
        self.block = DoubleConv(2 * cout, cout)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        return self.block(torch.cat([F.leaky_relu(self.up(x), 0.2), skip], dim=1))


# ----------------------------------------------------------------------------- model
class PUNet(nn.Module):
    def __init__(self, base: int = 16, in_chans: int = 4):
        super().__init__()
        w = [base * 2**i for i in range(5)]  # 16, 32, 64, 128, 256
        self.enc = nn.ModuleList([DoubleConv(in_chans, w[0])] + [DoubleConv(w[i - 1], w[i]) for i in range(1, 4)])
        self.bottom = nn.ModuleList([DoubleConv(w[3], w[4])] + [DoubleConv(w[4], w[4]) for _ in range(3)])
        self.dec = nn.ModuleList(UpBlock(w[i + 1], w[i]) for i in reversed(range(4)))
        self.to_full = up_conv(w[0], 4, 3, stride=2)
        self.to_rgb = conv(4, 3, 3)

    def forward_train(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        skips = []
        for i, block in enumerate(self.enc):
            x = block(x if i == 0 else F.max_pool2d(x, 2))
            skips.append(x)
        x = F.max_pool2d(x, 2)
        for i, block in enumerate(self.bottom):
            # residual adds on the 2nd and 3rd level-5 blocks
            x = x + block(x) if i in (1, 2) else block(x)
        for block, skip in zip(self.dec, reversed(skips)):
            x = block(x, skip)
        x = self.to_rgb(self.to_full(x))
        return {"out": torch.tanh(x) * 0.58 + 0.5}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return clamp01(self.forward_train(x)["out"])


# ----------------------------------------------------------------------------- recipes + registration
_PAPER = Recipe(
    losses=terms(("mse", 20.0), ("vgg", 1.0), ("ssim", 20.0)),  # "ssim" = 1 - SSIM
    optimizer="adam", lr=5e-5, schedule="constant", batch_size=32, steps=100_000,
    augment=("flip", "rot90"),
    notes="official baseline: 20*MSE + VGG-19 relu5_4 content + 20*(1-SSIM), Adam 5e-5, batch 32, 100k it",
)
_FAST = fast_recipe(("mse", 20.0), ("ssim", 20.0), lr=2e-4)


# no dynamic H, W: litert-torch 0.10 converts it, but a deep TRANSPOSE_CONV keeps the traced
# output size and fails to prepare at other sizes; write model_none at a fixed size instead
@register_model("isp", paper=None, recipes=Recipes(paper=_PAPER, fast=_FAST), size_multiple=16,
                dynamic_shapes=False, reported_psnr=PUNET_REPORTED_PSNR, team="baseline (PUNET)")
def punet(**kwargs) -> nn.Module:
    """PUNET: the official MAI 2021 U-Net baseline (16-256 channels, tanh*0.58+0.5 output); 23.03 dB."""
    return PUNet(**kwargs)
