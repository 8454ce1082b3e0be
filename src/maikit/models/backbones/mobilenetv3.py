"""MobileNetV3 feature extractor (large, small and the "minimal" variants).

Howard et al., "Searching for MobileNetV3", ICCV 2019 (depth report ref. [19]). The stage
tables below are the paper's Table 1 (large) and Table 2 (small): kernel, expansion width,
output width, squeeze-excite, non-linearity (RE = ReLU, HS = hard-swish), stride. The stem is
a 3×3 stride-2 convolution with 16 channels and hard-swish; squeeze-excite squeezes the
expanded width to 1/4 and gates with a hard-sigmoid (paper §5.3).

The "minimal" variants (as published with the TensorFlow model garden checkpoints) drop
squeeze-excite and hard-swish and use 3×3 depth-wise kernels only — cheaper on CPUs and
quantisation-friendly; AIIA HIT's encoder is MobileNetV3-small-minimal.

``features(x)`` returns maps at strides 2, 4, 8, 16, 32 (fewer with ``max_stride``):

===========  ========================  ========================
stride       large (width 1.0) ch      small (width 1.0) ch
===========  ========================  ========================
2            16                        16 (the stem)
4            24                        16
8            40                        24
16           112                       48
32           160                       96
===========  ========================  ========================

No classification head (final 1×1 conv, pooling, FC) is built; no pretrained weights ship
(none are reachable here) — load a user file with ``maikit.models.weights.load_weights``.
"""

from __future__ import annotations

import torch.nn as nn

from maikit.models.backbones._layers import ConvBNAct, ResidualBody, SqueezeExcite, StagedBackbone, make_divisible


class InvertedResidual(ResidualBody):
    """1×1 expand → k×k depth-wise (stride) → optional SE → 1×1 linear project, + identity."""

    def __init__(self, cin: int, exp: int, cout: int, k: int, stride: int, se: bool, act: str):
        super().__init__()
        layers: list[nn.Module] = []
        if exp != cin:
            layers.append(ConvBNAct(cin, exp, 1, act=act))
        layers.append(ConvBNAct(exp, exp, k, stride=stride, groups=exp, act=act))
        if se:
            layers.append(SqueezeExcite(exp, make_divisible(exp / 4), act="relu", gate="hardsigmoid"))
        layers.append(ConvBNAct(exp, cout, 1, act="none"))
        self.body = nn.Sequential(*layers)
        self.residual = stride == 1 and cin == cout


class MobileNetV3(StagedBackbone):
    """A MobileNetV3 encoder from a stage table; ``width`` scales every channel count."""

    def __init__(self, table, *, width: float = 1.0, minimal: bool = False, max_stride: int = 32):
        stem_ch = make_divisible(16 * width)
        stem = ConvBNAct(3, stem_ch, 3, stride=2, act="relu" if minimal else "hardswish")
        blocks_, cin = [], stem_ch
        for k, exp, cout, se, nl, stride in table:
            if minimal:
                k, se, nl = 3, False, "RE"
            exp, cout = make_divisible(exp * width), make_divisible(cout * width)
            act = "hardswish" if nl == "HS" else "relu"
            blocks_.append((InvertedResidual(cin, exp, cout, k, stride, se, act), stride, cout))
            cin = cout
        super().__init__(stem, stem_ch, blocks_, max_stride=max_stride)
        self.width, self.minimal = width, minimal


# Table 1 of Howard et al. 2019: (kernel, expansion, out, SE, NL, stride)
LARGE = (
    (3, 16, 16, False, "RE", 1),
    (3, 64, 24, False, "RE", 2),
    (3, 72, 24, False, "RE", 1),
    (5, 72, 40, True, "RE", 2),
    (5, 120, 40, True, "RE", 1),
    (5, 120, 40, True, "RE", 1),
    (3, 240, 80, False, "HS", 2),
    (3, 200, 80, False, "HS", 1),
    (3, 184, 80, False, "HS", 1),
    (3, 184, 80, False, "HS", 1),
    (3, 480, 112, True, "HS", 1),
    (3, 672, 112, True, "HS", 1),
    (5, 672, 160, True, "HS", 2),
    (5, 960, 160, True, "HS", 1),
    (5, 960, 160, True, "HS", 1),
)

# Table 2 of Howard et al. 2019
SMALL = (
    (3, 16, 16, True, "RE", 2),
    (3, 72, 24, False, "RE", 2),
    (3, 88, 24, False, "RE", 1),
    (5, 96, 40, True, "HS", 2),
    (5, 240, 40, True, "HS", 1),
    (5, 240, 40, True, "HS", 1),
    (5, 120, 48, True, "HS", 1),
    (5, 144, 48, True, "HS", 1),
    (5, 288, 96, True, "HS", 2),
    (5, 576, 96, True, "HS", 1),
    (5, 576, 96, True, "HS", 1),
)


def mobilenetv3_large(width: float = 1.0, max_stride: int = 32) -> MobileNetV3:
    return MobileNetV3(LARGE, width=width, max_stride=max_stride)


def mobilenetv3_small(width: float = 1.0, max_stride: int = 32) -> MobileNetV3:
    return MobileNetV3(SMALL, width=width, max_stride=max_stride)


def mobilenetv3_large_minimal(width: float = 1.0, max_stride: int = 32) -> MobileNetV3:
    return MobileNetV3(LARGE, width=width, minimal=True, max_stride=max_stride)


def mobilenetv3_small_minimal(width: float = 1.0, max_stride: int = 32) -> MobileNetV3:
    return MobileNetV3(SMALL, width=width, minimal=True, max_stride=max_stride)
