"""AIIA HIT — LiteDepth (depth report §4.2 and ref. [54]; Table 1: 1.5 MB, si-RMSE 0.311, 37 ms, score 232).

A U-Net with a MobileNetV3-small-minimal encoder (no squeeze-excite, no hard-swish, 3×3
kernels) and an extremely light decoder: at each of four joints the map is bilinearly
up-sampled, concatenated with the skip and mixed by a 1×1 conv + BN + ReLU; then one 3×3 conv
(+ ReLU) and a 1×1 conv give the depth. The model runs at 128×160 (H×W); its stride-2 output
(64×80) is resized to the input size with nearest-neighbour up-sampling and clamped to
[1e-3, 40] m. About 0.39 M parameters (1.6 MB FP32, ×1.04 of the printed size).

Training (report): R2 crop augmentation (random location and random size of patches), four
losses — SILog, gradient, virtual normal and robust (Barron) — then a second stage that adds
structure-aware (pairwise) distillation from a Swin-Transformer teacher; ``depth/teacher``
stands in for it. The loss weights, the SILog λ, optimiser and schedule are not legible in the
report text, so those values are stand-ins (named in ``notes``).
``features``: the 16-channel stride-2 map (64×80 at the working size) before the 3×3 conv.
"""

from __future__ import annotations

import torch.nn as nn

from maikit.models._registry import register_model
from maikit.models.backbones._layers import ConvBNAct
from maikit.models.backbones.mobilenetv3 import mobilenetv3_small_minimal
from maikit.models.blocks import conv
from maikit.models.depth._base import DepthNet, DepthRange, UNetDecoder, epochs_to_steps, fast_recipe, term
from maikit.models.recipe import Recipe, Recipes, Stage


def _mix(cin: int, cout: int) -> nn.Module:
    return ConvBNAct(cin, cout, 1, act="relu")


def build(width: float = 1.0, work_hw=(128, 160), widths=(64, 32, 24, 16)) -> DepthNet:
    encoder = mobilenetv3_small_minimal(width)
    decoder = UNetDecoder(encoder.feature_channels, skips=(3, 2, 1, 0), widths=widths, make_block=_mix)
    head = nn.Sequential(conv(widths[-1], widths[-1], 3), nn.ReLU(), conv(widths[-1], 1, 1))
    return DepthNet(encoder, decoder, head, DepthRange(1e-3, 40.0, "clamp"), work_hw=work_hw,
                    out_mode="nearest", feature_channels=widths[-1])


_DEPTH_LOSSES = (
    term("silog", 1.0, **{"lambda": 0.85}),
    term("grad", 1.0),
    term("virtual_normal", 1.0),
    term("robust", 1.0, alpha=1.0, c=0.1),
)


@register_model(
    "depth", paper="aiia_hit", dynamic_shapes=False, teacher="depth/teacher",
    recipes=Recipes(
        paper=Recipe(
            losses=_DEPTH_LOSSES, optimizer="adamw", lr=5e-4, lr_final=1e-6, schedule="cosine",
            batch_size=8, steps=epochs_to_steps(100, 8), augment=("flip", "r2_crop"),
            stages=(
                Stage("depth", _DEPTH_LOSSES, fraction=0.5),
                Stage("distill", _DEPTH_LOSSES, fraction=0.5, options=(("distill", True),)),
            ),
            distill="pairwise",
            notes="Two stages as in the report (depth losses, then + structure-aware distillation from "
                  "a Swin teacher; depth/teacher stands in). Loss weights, lambda, optimiser, lr, "
                  "batch and epochs are not legible in the report: stand-ins.",
        ),
        fast=fast_recipe(term("silog", 1.0, **{"lambda": 0.85}), term("grad", 0.5), distill="pairwise"),
    ),
)
def aiia_hit(**kwargs) -> DepthNet:
    """AIIA HIT (LiteDepth): MobileNetV3-small-minimal + 1×1 fusion decoder at 128×160, clamp [1e-3, 40] m."""
    return build(**kwargs)
