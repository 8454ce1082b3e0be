"""GhostNet feature extractor with a width multiplier.

Han et al., "GhostNet: More Features from Cheap Operations", CVPR 2020 (depth report ref. [17]).
A Ghost module makes half of its output channels with a 1×1 convolution and the other half
from those with a cheap 3×3 depth-wise convolution (ratio s = 2, kernel d = 3, paper §3.1);
two Ghost modules form a Ghost bottleneck (the first expands with ReLU, the second projects
linearly), with a depth-wise stride-2 convolution between them where the stage downsamples
and a depth-wise + 1×1 shortcut when shapes change (paper §3.2, Fig. 3).

The stage table is the paper's Table 1 (expansion, output, SE, stride); the depth-wise
kernel sizes of the bottlenecks follow MobileNetV3-large, on which Table 1 is modelled. SE
squeezes to 1/4 with a hard-sigmoid gate. Channel counts are rounded to multiples of 4, so
every Ghost module output is even and needs no channel slice (a slice would add a
STRIDED_SLICE op).

``features(x)`` returns maps at strides 2, 4, 8, 16, 32 (fewer with ``max_stride``) with
16, 24, 40, 112, 160 channels at width 1.0 (scaled by ``width``). MiAIgo uses a reduced
width and the first four stages.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from maikit.models.backbones._layers import ConvBNAct, SqueezeExcite, StagedBackbone, make_divisible


class GhostModule(nn.Module):
    """1×1 "primary" conv to cout/2 channels, concatenated with a cheap 3×3 depth-wise copy."""

    def __init__(self, cin: int, cout: int, *, relu: bool = True):
        super().__init__()
        if cout % 2:
            raise ValueError(f"`cout` of a Ghost module must be even, got {cout}")
        act = "relu" if relu else "none"
        self.primary = ConvBNAct(cin, cout // 2, 1, act=act)
        self.cheap = ConvBNAct(cout // 2, cout // 2, 3, groups=cout // 2, act=act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.primary(x)
        return torch.cat([y, self.cheap(y)], dim=1)


class GhostBottleneck(nn.Module):
    """Ghost(expand, ReLU) → [depth-wise stride 2] → [SE] → Ghost(project, linear), + shortcut."""

    def __init__(self, cin: int, exp: int, cout: int, k: int, stride: int, se: bool):
        super().__init__()
        layers: list[nn.Module] = [GhostModule(cin, exp, relu=True)]
        if stride > 1:
            layers.append(ConvBNAct(exp, exp, k, stride=stride, groups=exp, act="none"))
        if se:
            layers.append(SqueezeExcite(exp, make_divisible(exp / 4, 4), act="relu", gate="hardsigmoid"))
        layers.append(GhostModule(exp, cout, relu=False))
        self.body = nn.Sequential(*layers)
        if stride == 1 and cin == cout:
            self.shortcut = nn.Identity()
        else:
            self.shortcut = nn.Sequential(
                ConvBNAct(cin, cin, k, stride=stride, groups=cin, act="none"),
                ConvBNAct(cin, cout, 1, act="none"),
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x) + self.shortcut(x)


class GhostNet(StagedBackbone):
    """A GhostNet encoder; ``width`` scales every channel count (rounded to multiples of 4)."""

    def __init__(self, table=None, *, width: float = 1.0, max_stride: int = 32):
        table = TABLE if table is None else table
        stem_ch = make_divisible(16 * width, 4)
        stem = ConvBNAct(3, stem_ch, 3, stride=2, act="relu")
        blocks_, cin = [], stem_ch
        for k, exp, cout, se, stride in table:
            exp, cout = make_divisible(exp * width, 4), make_divisible(cout * width, 4)
            blocks_.append((GhostBottleneck(cin, exp, cout, k, stride, se), stride, cout))
            cin = cout
        super().__init__(stem, stem_ch, blocks_, max_stride=max_stride)
        self.width = width


# Table 1 of Han et al. 2020: (kernel, expansion, out, SE, stride)
TABLE = (
    (3, 16, 16, False, 1),
    (3, 48, 24, False, 2),
    (3, 72, 24, False, 1),
    (5, 72, 40, True, 2),
    (5, 120, 40, True, 1),
    (3, 240, 80, False, 2),
    (3, 200, 80, False, 1),
    (3, 184, 80, False, 1),
    (3, 184, 80, False, 1),
    (3, 480, 112, True, 1),
    (3, 672, 112, True, 1),
    (5, 672, 160, True, 2),
    (5, 960, 160, False, 1),
    (5, 960, 160, True, 1),
    (5, 960, 160, False, 1),
    (5, 960, 160, True, 1),
)


def ghostnet(width: float = 1.0, max_stride: int = 32) -> GhostNet:
    return GhostNet(width=width, max_stride=max_stride)
