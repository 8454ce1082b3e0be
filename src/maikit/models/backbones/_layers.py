"""Layers the three backbones share: conv + BatchNorm + activation, squeeze-excite with the
gates the backbone papers use, channel rounding, and the stride-staged feature extractor.

Everything lowers to TFLite builtins with litert-torch (docs/references.md#lowering): BatchNorm folds into the
convolution, hard-swish / hard-sigmoid / sigmoid convert, the squeeze is a ``mean``.
"""

from __future__ import annotations

import math
from typing import Callable

import torch
import torch.nn as nn

from maikit.models import blocks


def make_divisible(value: float, divisor: int = 8) -> int:
    """Round a channel count to a multiple of ``divisor``, never more than 10 % below ``value``.

    The rounding rule used with width multipliers in the MobileNet family (Howard et al.
    2019, §5) so that every layer width stays hardware-friendly.
    """
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * value else rounded


def act_layer(name: str) -> nn.Module:
    """``blocks.make_act`` plus the backbone gates: ``swish`` (EfficientNet) and ``hardsigmoid``."""
    if name == "swish":
        return nn.SiLU()
    if name == "hardsigmoid":
        return nn.Hardsigmoid()
    return blocks.make_act(name)


class ConvBNAct(nn.Sequential):
    """"Same"-padded conv (no bias) → BatchNorm → activation (``"none"`` for linear projections)."""

    def __init__(self, cin: int, cout: int, k: int = 1, *, stride: int = 1, groups: int = 1,
                 dilation: int = 1, act: str = "relu"):
        super().__init__(
            blocks.conv(cin, cout, k, stride=stride, groups=groups, dilation=dilation, bias=False),
            nn.BatchNorm2d(cout),
            act_layer(act),
        )


class SqueezeExcite(blocks.SqueezeExcite):
    """``blocks.SqueezeExcite`` with the activation and gate a backbone paper prescribes."""

    def __init__(self, channels: int, hidden: int, *, act: str = "relu", gate: str = "sigmoid"):
        super().__init__(channels, hidden=hidden)
        self.act = act_layer(act)
        self.gate = act_layer(gate)


class ResidualBody(nn.Module):
    """An inverted-residual block's shell: ``body`` plus a skip when shapes allow (stride 1, cin == cout).

    Subclasses build ``self.body`` and set ``self.residual``.
    """

    body: nn.Module
    residual: bool

    def forward(self, x):
        y = self.body(x)
        return x + y if self.residual else y


class StagedBackbone(nn.Module):
    """A stem plus blocks, grouped into stages that end at strides 2, 4, 8, 16, 32.

    :meth:`features` returns one map per stage (the last block before the next stride-2
    block); ``feature_strides`` and ``feature_channels`` describe them. Blocks that would go
    below ``max_stride`` are not built (TCL removes the lowest-resolution blocks this way).
    No classification head is built: the zoo only needs the feature pyramid.
    """

    def __init__(self, stem: nn.Module, stem_channels: int,
                 blocks_: list[tuple[nn.Module, int, int]], max_stride: int = 32):
        super().__init__()
        if max_stride not in (2, 4, 8, 16, 32):
            raise ValueError(f"`max_stride` must be one of 2, 4, 8, 16, 32, got {max_stride}")
        stages: list[list[nn.Module]] = [[stem]]
        channels, stride = [stem_channels], 2
        for block, block_stride, cout in blocks_:
            if block_stride == 2:
                if stride * 2 > max_stride:
                    break
                stages.append([])
                channels.append(cout)
                stride *= 2
            stages[-1].append(block)
            channels[-1] = cout
        self.stages = nn.ModuleList(nn.Sequential(*s) for s in stages)
        self.feature_channels: tuple[int, ...] = tuple(channels)
        self.feature_strides: tuple[int, ...] = tuple(2 ** (i + 1) for i in range(len(stages)))

    def replace_input_conv(self, make: Callable[[nn.Conv2d], nn.Conv2d]) -> None:
        """Swap the stem's convolution (the first op on the input) for ``make(conv)``."""
        stem = self.stages[0][0]
        stem[0] = make(stem[0])

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Feature maps at ``feature_strides`` (2, 4, ... up to ``max_stride``) of the input."""
        feats = []
        for stage in self.stages:
            x = stage(x)
            feats.append(x)
        return feats

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)[-1]


def round_repeats(repeats: int, depth_multiplier: float) -> int:
    """EfficientNet's depth scaling: ``ceil(depth · repeats)`` blocks per stage."""
    return int(math.ceil(depth_multiplier * repeats))
