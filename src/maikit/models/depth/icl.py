"""ICL (depth report §4.7; Table 1: 5.9 MB, si-RMSE 0.338, 142 ms, score 42).

"Monocular Depth Estimation Using a Simple Network": a MobileNetV3 feature extractor (here
MobileNetV3-large at width 0.75, all five stages) pre-trained for semantic segmentation and
then fine-tuned on depth. The segmentation pre-training suggests MobileNetV3's own
segmentation head, LR-ASPP (Howard et al. 2019, §6.3: a 1×1 conv branch gated by a
global-pooling branch with a sigmoid), used here on the stride-32 map, followed by a small
U-Net decoder (bilinear up-sampling, concatenation, 3×3 conv + BN + ReLU). The working
resolution 192×256 (H×W) and bilinear output resize are choices (the report gives neither).
About 1.9 M parameters (7.5 MB FP32, ×1.27 of the printed size).

Training (report): si-RMSE, gradient and knowledge-distillation losses with a ViT teacher
(fine-tuned from KITTI); AdamW, batch size 32, cosine schedule. ``depth/teacher`` stands in
for the ViT and feature-L2 for the unspecified distillation loss; lr and epochs are stand-ins.
``features``: the 24-channel stride-2 map (96×128 at the working size) before the output conv.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from maikit.models._registry import register_model
from maikit.models.backbones._layers import ConvBNAct
from maikit.models.backbones.mobilenetv3 import mobilenetv3_large
from maikit.models.blocks import conv
from maikit.models.depth._base import DepthNet, DepthRange, UNetDecoder, epochs_to_steps, fast_recipe, term
from maikit.models.recipe import Recipe, Recipes


class LRASPP(nn.Module):
    """1×1 conv + BN + ReLU, multiplied by sigmoid(1×1 conv(global mean))."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.branch = ConvBNAct(cin, cout, 1, act="relu")
        self.gate = nn.Sequential(conv(cin, cout, 1), nn.Sigmoid())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.branch(x) * self.gate(x.mean(dim=(2, 3), keepdim=True))


def _joint(cin: int, cout: int) -> nn.Module:
    return ConvBNAct(cin, cout, 3, act="relu")


def build(width: float = 0.75, work_hw=(192, 256), top: int = 128, widths=(64, 48, 32, 24)) -> DepthNet:
    encoder = mobilenetv3_large(width)
    decoder = UNetDecoder(encoder.feature_channels, skips=(3, 2, 1, 0), widths=widths, make_block=_joint,
                          top=LRASPP(encoder.feature_channels[-1], top), top_channels=top)
    return DepthNet(encoder, decoder, conv(widths[-1], 1, 3), DepthRange.sensor(),
                    work_hw=work_hw, out_mode="bilinear", feature_channels=widths[-1])


_LOSSES = (term("si", 1.0), term("grad", 0.5))


@register_model(
    "depth", paper="icl", dynamic_shapes=False, teacher="depth/teacher",
    recipes=Recipes(
        paper=Recipe(
            losses=_LOSSES, optimizer="adamw", lr=1e-4, lr_final=1e-6, schedule="cosine", batch_size=32,
            steps=epochs_to_steps(100, 32), weight_decay=1e-2, augment=("flip",), distill="feature_l2",
            notes="AdamW, batch 32, cosine, si-RMSE + gradient + distillation (ViT teacher -> depth/teacher) "
                  "as reported; lr, epochs, loss weights and the distillation loss form are stand-ins.",
        ),
        fast=fast_recipe(*_LOSSES, distill="feature_l2"),
    ),
)
def icl(**kwargs) -> DepthNet:
    """ICL: MobileNetV3 + LR-ASPP + small U-Net decoder at 192×256, distilled from a teacher."""
    return build(**kwargs)
