"""MiAIgo — SL-Depth (depth report §4.3; Table 1: 1.0 MB, si-RMSE 0.299, 54 ms, score 188).

A GhostNet encoder with a reduced number of channels (here width 0.5) of four blocks (the
stride 2, 4, 8 and 16 stages), Atrous Spatial Pyramid Pooling (Chen et al., depth report ref. [8])
on top of it for context, and Simple Fusion Modules (SFM) in the decoder that concatenate the
encoder stage outputs with the decoder maps. The image is resized from 640×480 to 128×96
(W×H); a nearest-neighbour resize after the decoder brings the output to the input size.
About 0.2 M parameters (0.8 MB FP32, ×0.8 of the printed size).

Choices the report leaves open: ASPP with a 1×1 branch, separable atrous branches at rates 2
and 4 (the stride-16 map is only 6×8) and an image-pooling branch; SFM = bilinear up-sampling,
concatenation, separable 3×3 conv + BN + ReLU; widths 48/32/24; sigmoid depth in [0.4, 50] m.
``features``: the 24-channel stride-2 map (48×64 at the working size).

Training (report): SSIM loss, Adam, learning rate 8e-4, batch size 8 (epochs not given).
"""

from __future__ import annotations

import torch
import torch.nn as nn

from maikit.models._registry import register_model
from maikit.models.backbones._layers import ConvBNAct
from maikit.models.backbones.ghostnet import ghostnet
from maikit.models.blocks import conv
from maikit.models.depth._base import (
    DepthNet, DepthRange, UNetDecoder, epochs_to_steps, fast_recipe, resize, term,
)
from maikit.models.recipe import Recipe, Recipes


def _separable(cin: int, cout: int, dilation: int = 1) -> nn.Module:
    return nn.Sequential(ConvBNAct(cin, cin, 3, groups=cin, dilation=dilation, act="none"),
                         ConvBNAct(cin, cout, 1, act="relu"))


class ASPP(nn.Module):
    """Parallel 1×1, atrous separable 3×3 (``rates``) and image-pooling branches, fused by 1×1."""

    def __init__(self, cin: int, cout: int, rates=(2, 4)):
        super().__init__()
        self.branches = nn.ModuleList([ConvBNAct(cin, cout, 1)] + [_separable(cin, cout, r) for r in rates])
        self.pool = nn.Sequential(conv(cin, cout, 1), nn.ReLU())
        self.project = ConvBNAct(cout * (len(rates) + 2), cout, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # a nearest resize from 1×1 broadcasts the pooled vector (BROADCAST_TO fails to prepare in LiteRT)
        pooled = resize(self.pool(x.mean(dim=(2, 3), keepdim=True)), tuple(x.shape[-2:]), "nearest")
        return self.project(torch.cat([b(x) for b in self.branches] + [pooled], dim=1))


def build(width: float = 0.5, work_hw=(96, 128), aspp_channels: int = 64, widths=(48, 32, 24)) -> DepthNet:
    encoder = ghostnet(width, max_stride=16)
    decoder = UNetDecoder(encoder.feature_channels, skips=(2, 1, 0), widths=widths, make_block=_separable,
                          top=ASPP(encoder.feature_channels[-1], aspp_channels), top_channels=aspp_channels)
    head = conv(widths[-1], 1, 3)
    return DepthNet(encoder, decoder, head, DepthRange.sensor(), work_hw=work_hw,
                    out_mode="nearest", feature_channels=widths[-1])


@register_model(
    "depth", paper="miaigo", dynamic_shapes=False,
    recipes=Recipes(
        paper=Recipe(
            losses=(term("ssim", 1.0),), optimizer="adam", lr=8e-4, schedule="constant", batch_size=8,
            steps=epochs_to_steps(100, 8), augment=("flip",),
            notes="SSIM loss, Adam 8e-4, batch 8 as reported; epochs and augmentation not given "
                  "(100 epochs and flips are stand-ins).",
        ),
        fast=fast_recipe(term("ssim", 1.0), term("si", 0.5)),
    ),
)
def miaigo(**kwargs) -> DepthNet:
    """MiAIgo (SL-Depth): reduced GhostNet + ASPP + Simple Fusion Modules at 96×128, nearest up."""
    return build(**kwargs)
