"""NOAHTCV — a decomposition network: chroma and texture processed separately (ISP report §4.6,
Fig. 9; Table 1: 244 KB, 23.08 dB, 94.5 ms). Title: "Decomposition Network for AutoISP".

The input is split into a chroma part (colour information) and a texture part (high
frequencies). The chroma path is U-Net-like and performs patch-level information
extraction and tone mapping; the texture path applies residual blocks. The outputs of both
paths are fused at the end and then upsampled. L1 + SSIM losses, Xavier initialisation,
Adam 1e-4.

Choices where the report is silent:

* decomposition: chroma = 4×4 average pooling of the packed RAW (one value per 8×8 RAW
  patch, hence "patch-level"); texture = input − nearest-upsampled chroma (the
  high-frequency residual);
* chroma path: a two-level U-Net (16/32 channels) on the pooled image, upsampled back
  to the packed resolution by bilinear ×4 (``align_corners=False``, docs/references.md#lowering);
* texture path: 3×3 conv to 16 channels + five residual blocks;
* fusion: concat → 3×3 conv + ReLU → 3×3 conv to 12 channels → depth-to-space ×2 →
  sigmoid.

62,316 parameters → 249.3 KB (published 244 KB). Loss weights 1 / 0.2 (1-SSIM), batch 16,
100k steps, constant rate chosen. Packed H, W divisible by 8 (4× pooling + one U-Net
pooling).
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from maikit.models._registry import register_model
from maikit.models.blocks import ConvAct, ResidualBlock, conv, resize_nearest, xavier_init
from maikit.models.isp._recipes import fast_recipe
from maikit.models.recipe import Recipe, Recipes, terms

PATCH = 4  # packed pixels per chroma sample along each axis


class ChromaUNet(nn.Module):
    """Two-level U-Net on the patch-level (pooled) image."""

    def __init__(self, cin: int, w1: int, w2: int):
        super().__init__()
        self.enc = nn.Sequential(ConvAct(cin, w1, 3), ConvAct(w1, w1, 3))
        self.bottom = nn.Sequential(ConvAct(w1, w2, 3), ConvAct(w2, w2, 3))
        self.up = nn.ConvTranspose2d(w2, w1, 2, stride=2)
        self.dec = nn.Sequential(ConvAct(2 * w1, w1, 3), ConvAct(w1, w1, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        e = self.enc(x)
        b = self.bottom(F.max_pool2d(e, 2))
        return self.dec(torch.cat([torch.relu(self.up(b)), e], dim=1))


class DecompositionNet(nn.Module):
    def __init__(self, chroma_widths: tuple[int, int] = (16, 32), texture_width: int = 16, n_res: int = 5,
                 in_chans: int = 4):
        super().__init__()
        self.chroma = ChromaUNet(in_chans, *chroma_widths)
        self.texture = nn.Sequential(ConvAct(in_chans, texture_width, 3),
                                     *[ResidualBlock(texture_width, 3) for _ in range(n_res)])
        fused = chroma_widths[0] + texture_width
        self.fuse = nn.Sequential(ConvAct(fused, fused, 3), conv(fused, 12, 3))
        self.d2s = nn.PixelShuffle(2)
        xavier_init(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        low = F.avg_pool2d(x, PATCH)
        texture = x - resize_nearest(low, scale_factor=PATCH)
        c = F.interpolate(self.chroma(low), scale_factor=PATCH, mode="bilinear", align_corners=False)
        t = self.texture(texture)
        return torch.sigmoid(self.d2s(self.fuse(torch.cat([c, t], dim=1))))


_PAPER = Recipe(
    losses=terms(("l1", 1.0), ("ssim", 0.2)),
    optimizer="adam", lr=1e-4, schedule="constant", batch_size=16, steps=100_000, augment=("flip",),
    notes="L1 + SSIM, Xavier init, Adam 1e-4 (report); weights, batch, steps chosen",
)
_FAST = fast_recipe(("l1", 1.0), ("ssim", 0.2), lr=5e-4)


# no dynamic H, W: litert-torch 0.10 fails to convert it with symbolic sizes (a gather
# legalisation error; it has ×4 resizes and a PixelShuffle)
@register_model("isp", paper="noahtcv", recipes=Recipes(paper=_PAPER, fast=_FAST), size_multiple=2 * PATCH,
                dynamic_shapes=False)
def noahtcv(**kwargs) -> nn.Module:
    """NOAHTCV: chroma (patch-level U-Net, tone mapping) and texture (residual blocks) paths, fused."""
    return DecompositionNet(**kwargs)
