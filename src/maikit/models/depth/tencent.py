"""Tencent GY-Lab (depth report §4.4 and ref. [80]; Table 1: 3.4 MB, si-RMSE 0.303, 68 ms, score 141).

A U-Net with a MobileNetV3 encoder of five blocks (here MobileNetV3-large at width 0.5, all
five stride stages) on a 96×128 (H×W) resize of the image; the output of every block is
merged with the decoder by a Feature Fusion Module (FFM) that up-samples the decoder map,
concatenates the block output and mixes them. One nearest-neighbour resize on top brings the
output to the input size. About 0.9 M parameters (3.6 MB FP32, ×1.05 of the printed size).

Training (report): knowledge distillation from a bigger ViT-Large trained on the same data —
an L2 loss between the student's last convolutional features and the teacher's features
before its last activation — plus the depth loss of BTS (ref. [51], SILog with λ = 0.85);
Adam, polynomial learning-rate decay, 500 epochs. ``depth/teacher`` stands in for the ViT;
the learning rate, decay power and batch size are not legible in the report (stand-ins).

Choices: FFM = bilinear up-sampling, concatenation, 3×3 conv + BN + ReLU; widths 64/48/32/24;
sigmoid depth in [0.4, 50] m. ``features``: the 24-channel stride-2 map (48×64 at the working
size) that feeds the 3×3 output conv (the "last convolutional layer" features).
The second submission (Tencent GY-Lab*, 103 ms) is not described separately in the report.
"""

from __future__ import annotations

import torch.nn as nn

from maikit.models._registry import register_model
from maikit.models.backbones._layers import ConvBNAct
from maikit.models.backbones.mobilenetv3 import mobilenetv3_large
from maikit.models.blocks import conv
from maikit.models.depth._base import DepthNet, DepthRange, UNetDecoder, epochs_to_steps, fast_recipe, term
from maikit.models.recipe import Recipe, Recipes


def _ffm(cin: int, cout: int) -> nn.Module:
    return ConvBNAct(cin, cout, 3, act="relu")


def build(width: float = 0.5, work_hw=(96, 128), widths=(64, 48, 32, 24)) -> DepthNet:
    encoder = mobilenetv3_large(width)
    decoder = UNetDecoder(encoder.feature_channels, skips=(3, 2, 1, 0), widths=widths, make_block=_ffm)
    head = conv(widths[-1], 1, 3)
    return DepthNet(encoder, decoder, head, DepthRange.sensor(), work_hw=work_hw,
                    out_mode="nearest", feature_channels=widths[-1])


_SILOG = term("silog", 1.0, **{"lambda": 0.85})


@register_model(
    "depth", paper="tencent", dynamic_shapes=False, teacher="depth/teacher",
    recipes=Recipes(
        paper=Recipe(
            losses=(_SILOG,), optimizer="adam", lr=1e-3, lr_final=0.0, schedule="poly", schedule_power=0.9,
            batch_size=8, steps=epochs_to_steps(500, 8), augment=("flip",),
            distill="feature_l2", distill_weight=1.0,
            notes="500 epochs, Adam, poly decay, BTS depth loss + feature L2 distillation as reported; "
                  "lr, decay power and batch size are not legible in the report (stand-ins).",
        ),
        fast=fast_recipe(_SILOG, distill="feature_l2"),
    ),
)
def tencent(**kwargs) -> DepthNet:
    """Tencent GY-Lab: MobileNetV3 (five blocks) + Feature Fusion Modules at 96×128, nearest up."""
    return build(**kwargs)
