"""CSANet — Channel Spatial Attention Network, team AIISP (ISP report §4.2, Figs. 4-5; Table 1:
123 KB, 23.73 dB — best fidelity, 90.8 ms).

Three parts, as the report describes them:

1. Two convolutional blocks with ReLU extract features and downsize the packed RAW (a
   3×3 stride-2 conv, then a 3×3 conv).
2. Cascaded double attention modules (DAM) with skip connections. A DAM runs two
   convolutions, then two attentions on the result in parallel:
   * spatial attention (SA): a depth-wise *dilated* 5×5 convolution ("distant vision")
     and a sigmoid give a map that multiplies the features;
   * channel attention (CA): squeeze-and-excite — mean over each feature map, two 1×1
     convs (ReLU, then sigmoid) — whose descriptor multiplies the features.
   The two attended tensors are concatenated and fused by a 1×1 convolution; a residual
   skip adds the DAM input. A long skip adds the features from before the DAM cascade.
3. A transposed convolution (×2, back to the packed resolution) and depth-to-space (×2,
   to full resolution), then a conv + sigmoid give RGB.

Choices where the report is silent (the CSANet paper [12] has the full details): width 22
(sized to the published 123 KB: 31,803 parameters → 127.2 KB), two DAMs, dilation 2 for
the SA kernel, CA reduction 2, ReLU after the transposed conv, 3×3 final conv.

Training (report): Charbonnier + VGG-19 + SSIM, Adam 5e-4 decreased to 1e-5 over 100k
iterations, batch 100, random horizontal flips. Loss weights are not given: 1 / 0.1 / 0.5
(Charbonnier / VGG / 1-SSIM) chosen; the decay is taken as cosine.
One stride-2 stage: packed H, W must be even.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from maikit.models._registry import register_model
from maikit.models.blocks import ConvAct, SqueezeExcite, conv, up_conv
from maikit.models.isp._recipes import fast_recipe
from maikit.models.recipe import Recipe, Recipes, terms


class SpatialAttention(nn.Module):
    """Depth-wise dilated 5×5 conv + sigmoid → a per-pixel, per-channel map multiplying ``x``."""

    def __init__(self, channels: int, k: int = 5, dilation: int = 2):
        super().__init__()
        self.dw = conv(channels, channels, k, dilation=dilation, groups=channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.sigmoid(self.dw(x))


class DoubleAttention(nn.Module):
    """DAM: conv-ReLU-conv, then SA ‖ CA concatenated, 1×1 fusion, residual skip."""

    def __init__(self, channels: int, reduction: int = 2, dilation: int = 2):
        super().__init__()
        self.body = nn.Sequential(ConvAct(channels, channels, 3, act="relu"), conv(channels, channels, 3))
        self.sa = SpatialAttention(channels, 5, dilation)
        self.ca = SqueezeExcite(channels, reduction, act="relu", gate="sigmoid")
        self.fuse = conv(2 * channels, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f = self.body(x)
        return x + self.fuse(torch.cat([self.sa(f), self.ca(f)], dim=1))


class CSANet(nn.Module):
    def __init__(self, width: int = 22, n_dam: int = 2, in_chans: int = 4):
        super().__init__()
        self.head = nn.Sequential(ConvAct(in_chans, width, 3, stride=2, act="relu"),
                                  ConvAct(width, width, 3, act="relu"))
        self.dams = nn.Sequential(*[DoubleAttention(width) for _ in range(n_dam)])
        self.up = nn.Sequential(up_conv(width, 4 * 3 * 2, 3, stride=2), nn.ReLU())
        self.d2s = nn.PixelShuffle(2)
        self.tail = conv(3 * 2, 3, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f = self.head(x)
        f = f + self.dams(f)  # long skip around the DAM cascade
        return torch.sigmoid(self.tail(self.d2s(self.up(f))))


_PAPER = Recipe(
    losses=terms(("charbonnier", 1.0), ("vgg", 0.1), ("ssim", 0.5)),
    optimizer="adam", lr=5e-4, lr_final=1e-5, schedule="cosine", batch_size=100, steps=100_000,
    augment=("hflip",),
    notes="Charbonnier + VGG-19 + SSIM, Adam 5e-4 -> 1e-5, 100k it, batch 100, horizontal flips "
          "(report); weights and cosine decay chosen",
)
_FAST = fast_recipe(("charbonnier", 1.0), ("ssim", 0.5), lr=1e-3)


# no dynamic H, W: litert-torch 0.10 cannot convert PixelShuffle with symbolic sizes (docs/references.md#lowering)
@register_model("isp", paper="aiisp", recipes=Recipes(paper=_PAPER, fast=_FAST), size_multiple=2,
                dynamic_shapes=False)
def csanet(**kwargs) -> nn.Module:
    """AIISP CSANet: strided head, double attention modules (SA + CA), transposed conv + depth-to-space."""
    return CSANet(**kwargs)
