"""SmartLab (depth report §4.5; Table 1: 7.1 MB, si-RMSE 0.3296, 65 ms, score 102).

A MiDaS-like encoder-decoder (Ranftl et al., depth report ref. [65]): an EfficientNet-B1 encoder
and a decoder built from Feature Fusion Modules (here MiDaS's fusion block: residual conv
units on the skip and on the path, an add and a 1×1 projection), followed by MiDaS's head
(3×3 conv, ×2 up-sampling, 3×3 conv + ReLU, 1×1 conv). The student is trained with pairwise
distillation (Liu et al., ref. [57]) from a pretrained teacher of the same family —
``depth/teacher`` (EfficientNet-B1 at a higher resolution with a wider decoder).

Size: the full EfficientNet-B1 encoder the report names has 6.1 M parameters, so the model
(~7.0 M parameters) is 28 MB in FP32; the printed 7.1 MB matches about one byte per parameter,
i.e. an 8-bit TFLite file. The size check therefore uses 1 byte/parameter for this model
(``size_bytes_per_param=1`` in its registry entry), ×1.5 tolerance as for the others.

Choices the report leaves open: the working resolution 192×256 (H×W; the crop size is not
legible), 64 decoder channels, bilinear output resize, sigmoid depth in [0.4, 50] m.
``features``: the 64-channel stride-4 map (48×64 at the working size) that enters the head.

Training (report): scale-invariant loss, scale-invariant gradient matching loss (ref. [65])
and pairwise distillation; Adam, 100 epochs, batch size 2, random crops and horizontal flips.
"""

from __future__ import annotations

import torch.nn as nn

from maikit.models._registry import register_model
from maikit.models.backbones.efficientnet import efficientnet_b1
from maikit.models.blocks import conv
from maikit.models.depth._base import DepthNet, DepthRange, FusionDecoder, epochs_to_steps, fast_recipe, term
from maikit.models.recipe import Recipe, Recipes


class MidasHead(nn.Sequential):
    """3×3 conv (C → C/2) → ×2 bilinear up-sampling → 3×3 conv (→ 32) + ReLU → 1×1 conv (→ 1)."""

    def __init__(self, channels: int):
        super().__init__(
            conv(channels, channels // 2, 3),
            nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False),
            conv(channels // 2, 32, 3), nn.ReLU(),
            conv(32, 1, 1),
        )


def build_fusion_net(*, variant_builder=efficientnet_b1, work_hw=(192, 256), channels: int = 64) -> DepthNet:
    """EfficientNet encoder + MiDaS-like fusion decoder + MiDaS head (shared with ``depth/teacher``)."""
    encoder = variant_builder()
    decoder = FusionDecoder(encoder.feature_channels, channels)
    return DepthNet(encoder, decoder, MidasHead(channels), DepthRange.sensor(), work_hw=work_hw,
                    out_mode="bilinear", feature_channels=channels)


_LOSSES = (term("si", 1.0), term("grad", 0.5))


@register_model(
    "depth", paper="smartlab", dynamic_shapes=False, teacher="depth/teacher", size_bytes_per_param=1,
    recipes=Recipes(
        paper=Recipe(
            losses=_LOSSES, optimizer="adam", lr=1e-4, schedule="constant", batch_size=2,
            steps=epochs_to_steps(100, 2), augment=("flip",), distill="pairwise",
            notes="Adam, 100 epochs, batch 2, crops + horizontal flips, SI + gradient matching + pairwise "
                  "distillation as reported; lr, loss weights and the crop size are not given (stand-ins; "
                  "crops are left out: the model resizes full frames).",
        ),
        fast=fast_recipe(*_LOSSES, distill="pairwise"),
    ),
)
def smartlab(**kwargs) -> DepthNet:
    """SmartLab: EfficientNet-B1 + MiDaS-like FFM decoder at 192×256, pairwise-distilled student."""
    return build_fusion_net(**kwargs)
