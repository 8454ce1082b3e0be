"""The organisers' U-Net baseline for depth (no row in the depth report's Table 1).

A plain U-Net (Ronneberger et al., depth report ref. [66]) run on a 240×320 (H×W) bilinear resize
of the image: five levels of two 3×3 conv + ReLU with 16/32/64/128/256 channels and 2×2
max-pooling between them; the decoder up-samples bilinearly, concatenates the skip and applies
two 3×3 conv + ReLU; a 1×1 conv with a ReLU output gives the depth, resized bilinearly to the
input size. The ReLU output is clamped to [1e-3, 50] m so that log-depth metrics stay finite;
its unit is 10 m (``DepthRange(gain=10)``, folded into the last convolution on export) so that
the head reaches a scene's spread of depths within a short run.
About 1.9 M parameters. ``features``: the 16-channel full-working-resolution map.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from maikit.models._registry import register_model
from maikit.models.blocks import ConvAct, conv
from maikit.models.depth._base import DepthNet, DepthRange, UNetDecoder, fast_recipe, term
from maikit.models.recipe import Recipe, Recipes


def _double_conv(cin: int, cout: int) -> nn.Module:
    return nn.Sequential(ConvAct(cin, cout, 3), ConvAct(cout, cout, 3))


class UNetEncoder(nn.Module):
    """Two 3×3 conv + ReLU per level, 2×2 max-pool between levels; features at strides 1..16."""

    def __init__(self, widths=(16, 32, 64, 128, 256)):
        super().__init__()
        cins = (3,) + tuple(widths[:-1])
        self.levels = nn.ModuleList(_double_conv(i, o) for i, o in zip(cins, widths))
        self.feature_channels = tuple(widths)
        self.feature_strides = tuple(2 ** i for i in range(len(widths)))

    def replace_input_conv(self, make) -> None:
        """Swap the first convolution (the first op on the input) for ``make(conv)``."""
        self.levels[0][0][0] = make(self.levels[0][0][0])

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        feats = []
        for i, level in enumerate(self.levels):
            x = level(x if i == 0 else F.max_pool2d(x, 2))
            feats.append(x)
        return feats


def he_init(module: nn.Module) -> nn.Module:
    """Gaussian weights with std sqrt(2 / fan_in) and zero biases, the initialisation the U-Net
    paper gives for its ReLU layers (Ronneberger et al. 2015, §3); PyTorch's default is ~1.7×
    smaller, which slows a BatchNorm-free 18-conv ReLU stack down markedly."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
    return module


def build(work_hw=(240, 320), widths=(16, 32, 64, 128, 256)) -> DepthNet:
    encoder = he_init(UNetEncoder(widths))
    n = len(widths)
    decoder = he_init(UNetDecoder(widths, skips=tuple(range(n - 2, -1, -1)), widths=tuple(widths[n - 2::-1]),
                                  make_block=_double_conv))
    return DepthNet(encoder, decoder, conv(widths[0], 1, 1), DepthRange(1e-3, 50.0, "relu", gain=10.0), work_hw=work_hw,
                    out_mode="bilinear", feature_channels=widths[0])


_LOSSES = (term("silog", 1.0, **{"lambda": 0.85}),)


@register_model(
    "depth", dynamic_shapes=False,
    recipes=Recipes(
        paper=Recipe(
            losses=_LOSSES, optimizer="adam", lr=1e-4, schedule="constant", batch_size=8, steps=50_000,
            augment=("flip",),
            notes="The organisers' baseline training is not described in the depth report: a plain stand-in.",
        ),
        # a batch-4 step at 240×320 takes ~1.6 s on one core in float32 and ~0.75 s with
        # `--amp bf16 --channels-last` (CPUs with AVX512-BF16/AMX): 760 steps let the cosine
        # schedule (nearly) finish inside a 10-minute CPU budget in the latter
        fast=fast_recipe(*_LOSSES, steps=760),
    ),
)
def unet(**kwargs) -> DepthNet:
    """Organisers' U-Net baseline at 240×320: bilinear resize in and out, ReLU output."""
    return build(**kwargs)
