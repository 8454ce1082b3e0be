"""JMU-CVLab — MobileNetV3 FastDepth (depth report §4.6; Table 1: 3.5 MB, si-RMSE 0.3498, 139 ms, score 36).

Inspired by FastDepth (Wofk et al., ref. [75]) and the 2021 winner (ref. [81]): an
ImageNet-type MobileNetV3 backbone (here MobileNetV3-small at width 1.0, all five stages) on a
160×128 (W×H) resize of the image, then decoder FFM blocks (ref. [74]) that up-sample and
reduce channels with separable (depth-wise 3×3) and point-wise convolutions. As in FastDepth
the decoder goes back to the working resolution (a last separable block at stride 1) before a
1×1 output conv; the output is resized bilinearly to the input size. About 0.9 M parameters
(3.6 MB FP32, ×1.03 of the printed size).

Choices: FFM = bilinear up-sampling, concatenation of the skip, depth-wise 3×3 + BN + ReLU,
point-wise 1×1 + BN + ReLU; widths 64/48/32/24/16; sigmoid depth in [0.4, 50] m.
``features``: the 16-channel full-working-resolution map (128×160) before the 1×1 output conv.

Training (report): L2 + SSIM + si-RMSE losses; Adam, lr 1e-4, 100 epochs, batch 64; horizontal
flips, rotations up to 15°, colour and brightness changes.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from maikit.models._registry import register_model
from maikit.models.backbones._layers import ConvBNAct
from maikit.models.backbones.mobilenetv3 import mobilenetv3_small
from maikit.models.blocks import conv
from maikit.models.depth._base import (
    DepthNet, DepthRange, UNetDecoder, epochs_to_steps, fast_recipe, resize, term,
)
from maikit.models.recipe import Recipe, Recipes


def _ffm(cin: int, cout: int) -> nn.Module:
    return nn.Sequential(ConvBNAct(cin, cin, 3, groups=cin, act="relu"), ConvBNAct(cin, cout, 1, act="relu"))


class FastDepthDecoder(nn.Module):
    """FFM joints at strides 16 → 2, then one more up-sampling FFM to the working resolution."""

    def __init__(self, enc_channels, widths=(64, 48, 32, 24, 16)):
        super().__init__()
        self.joints = UNetDecoder(enc_channels, skips=(3, 2, 1, 0), widths=widths[:4], make_block=_ffm)
        self.last = _ffm(widths[3], widths[4])

    def forward(self, feats: list[torch.Tensor]) -> torch.Tensor:
        x = self.joints(feats)
        return self.last(resize(x, (2 * x.shape[2], 2 * x.shape[3])))


def build(width: float = 1.0, work_hw=(128, 160), widths=(64, 48, 32, 24, 16)) -> DepthNet:
    encoder = mobilenetv3_small(width)
    decoder = FastDepthDecoder(encoder.feature_channels, widths)
    return DepthNet(encoder, decoder, conv(widths[-1], 1, 1), DepthRange.sensor(), work_hw=work_hw,
                    out_mode="bilinear", feature_channels=widths[-1])


_LOSSES = (term("l2", 1.0), term("ssim", 1.0), term("si", 1.0))


@register_model(
    "depth", paper="jmu", dynamic_shapes=False,
    recipes=Recipes(
        paper=Recipe(
            losses=_LOSSES, optimizer="adam", lr=1e-4, schedule="constant", batch_size=64,
            steps=epochs_to_steps(100, 64), augment=("flip", "rotate", "color_jitter"),
            notes="As reported: L2 + SSIM + si-RMSE, Adam 1e-4, 100 epochs, batch 64, flips, rotations "
                  "(<= 15 deg), colour/brightness changes; equal loss weights are a stand-in.",
        ),
        fast=fast_recipe(*_LOSSES),
    ),
)
def jmu(**kwargs) -> DepthNet:
    """JMU-CVLab: MobileNetV3 FastDepth with separable FFM decoder blocks at 128×160."""
    return build(**kwargs)
