"""Tuned U-Net — the organisers' U-Net baseline tuned for the Dimensity 1000+ APU (ISP report
§4.3; Table 1: 13,313 KB, 23.30 dB, 78 ms).

The report lists its hardware-driven changes to a standard U-Net [44]: fewer feature maps,
modified filter sizes and activations, and extra skip connections to keep accuracy. Its
discussion (§3.1) adds the key point: weights and depth are cheap when most processing
happens at low scales — the model is 1000× bigger than ENERZAi's yet about as fast.

This implementation follows that recipe:

* five levels at packed 1/1, 1/2, 1/4, 1/8, 1/16 resolution with widths 16/32/64/160/
  256 — thin at high resolution, with most of the weights (two 3×3 convs plus a
  residual block of 256 channels) at 1/16 where they cost little time;
* ReLU everywhere (cheaper than the LeakyReLU of the PUNET baseline on NPUs), 2×2
  max-pooling down, 2×2 stride-2 transposed convolutions up (no overlapping kernels);
* decoder blocks use one 3×3 conv on the concatenated skip (instead of two);
* extra skips: the packed input is concatenated again before the output head, and the
  bottleneck residual blocks add their inputs;
* the head is a 3×3 conv to 12 channels + depth-to-space ×2 + sigmoid.

Size: 3,309,564 parameters → 13,238 KB float32, within 1 % of the published 13,313 KB
(widths chosen for that; the exact layer list is not published).
Training (report): MSE + SSIM, Adam 1e-4; weights 1 / 0.1 (1-SSIM), batch 16, 100k steps
and a constant rate are choices. Four poolings: packed H, W divisible by 16.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from maikit.models._registry import register_model
from maikit.models.blocks import ConvAct, ResidualBlock, conv
from maikit.models.isp._recipes import fast_recipe
from maikit.models.recipe import Recipe, Recipes, terms


class TunedUNet(nn.Module):
    def __init__(self, widths: tuple[int, ...] = (16, 32, 64, 160, 256), n_res: int = 1, in_chans: int = 4):
        super().__init__()
        w = list(widths)
        self.enc = nn.ModuleList()
        cin = in_chans
        for c in w[:-1]:
            self.enc.append(nn.Sequential(ConvAct(cin, c, 3), ConvAct(c, c, 3)))
            cin = c
        self.bottom = nn.Sequential(ConvAct(w[-2], w[-1], 3), ConvAct(w[-1], w[-1], 3),
                                    *[ResidualBlock(w[-1], 3, act="relu", act_after=True) for _ in range(n_res)])
        self.ups = nn.ModuleList(nn.ConvTranspose2d(w[i + 1], w[i], 2, stride=2) for i in reversed(range(len(w) - 1)))
        self.dec = nn.ModuleList(ConvAct(2 * w[i], w[i], 3) for i in reversed(range(len(w) - 1)))
        self.head = conv(w[0] + in_chans, 12, 3)
        self.d2s = nn.PixelShuffle(2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips, f = [], x
        for i, block in enumerate(self.enc):
            f = block(f if i == 0 else F.max_pool2d(f, 2))
            skips.append(f)
        f = self.bottom(F.max_pool2d(f, 2))
        for up, block, skip in zip(self.ups, self.dec, reversed(skips)):
            f = block(torch.cat([torch.relu(up(f)), skip], dim=1))
        f = self.head(torch.cat([f, x], dim=1))  # extra skip from the input
        return torch.sigmoid(self.d2s(f))


_PAPER = Recipe(
    losses=terms(("mse", 1.0), ("ssim", 0.1)),
    optimizer="adam", lr=1e-4, schedule="constant", batch_size=16, steps=100_000, augment=("flip",),
    notes="MSE + SSIM, Adam 1e-4 (report); weights, batch, steps chosen",
)
_FAST = fast_recipe(("mse", 1.0), ("ssim", 0.1), lr=3e-4)


# no dynamic H, W: litert-torch 0.10 cannot convert PixelShuffle with symbolic sizes (docs/references.md#lowering)
@register_model("isp", paper="tuned_unet", recipes=Recipes(paper=_PAPER, fast=_FAST), size_multiple=16,
                dynamic_shapes=False)
def tuned_unet(**kwargs) -> nn.Module:
    """Tuned U-Net baseline: thin high-res levels, heavy 1/16 bottleneck, ReLU, extra skips."""
    return TunedUNet(**kwargs)
