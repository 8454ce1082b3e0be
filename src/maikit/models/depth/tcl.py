"""TCL — winner of MAI 2022 depth (depth report §4.1, Table 1: 2.9 MB, si-RMSE 0.2773, 46 ms, score 298).

A U-Net with a simplified MobileNetV3 encoder whose lowest-resolution blocks are removed
(here: MobileNetV3-large at width 1.0 without the stride-32 stage), and a decoder made only of
Collapsible Linear Blocks (CLB; Bhardwaj et al., "Collapsible Linear Blocks for Super-Efficient
Super Resolution", depth report ref. [5]). The image is resized from 640×480 to 160×128 (W×H), the
decoder ends at 48×64 (H×W) and that map is resized ×10 to 480×640.

A CLB is a wide k×k convolution followed by a 1×1 convolution with nothing non-linear in
between (plus an identity when the shapes allow), so after training it folds into a single
k×k convolution: :meth:`TCL.collapse` does that in place and the output does not change.
The exported graph is the collapsed one; the published size is compared against it
(collapsed: about 0.94 M parameters, 3.7 MB FP32, ×1.3 of the printed 2.9 MB).

Choices the report leaves open: the skip layout (strides 8, 4 and 2 joined by bilinear
up-sampling and concatenation, the stride-2 skip at the 48×64 grid), widths 64/48/32, CLB
expansion ×2, ReLU after each CLB, bilinear output resize, and the depth range: a sigmoid
to [0.4, 50] m (the ZED minimum distance and the dataset's maximum, ``tasks.DEPTH.sensor_range``).
``features`` for distillation: the 32-channel map on the 48×64 grid (1/10 of the input size).
"""

from __future__ import annotations

import torch
import torch.nn as nn

from maikit.models._registry import register_model
from maikit.models.backbones.mobilenetv3 import mobilenetv3_large
from maikit.models.blocks import conv
from maikit.models.depth._base import (
    DepthNet, DepthRange, UNetDecoder, epochs_to_steps, fast_recipe, resize, term,
)
from maikit.models.recipe import Recipe, Recipes


class CollapsibleLinearBlock(nn.Module):
    """k×k conv (cin → expansion·cout) then 1×1 conv (→ cout), linear, + identity if cin == cout."""

    def __init__(self, cin: int, cout: int, k: int = 3, *, expansion: int = 2):
        super().__init__()
        self.wide = conv(cin, expansion * cout, k)
        self.narrow = conv(expansion * cout, cout, 1)
        self.residual = cin == cout
        self.collapsed: nn.Conv2d | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.collapsed is not None:
            return self.collapsed(x)
        y = self.narrow(self.wide(x))
        return x + y if self.residual else y

    @torch.no_grad()
    def collapse(self) -> None:
        """Fold wide → narrow (→ + identity) into one k×k convolution, in place."""
        if self.collapsed is not None:
            return
        w1, b1 = self.wide.weight, self.wide.bias  # (mid, cin, k, k), (mid,)
        w2, b2 = self.narrow.weight[:, :, 0, 0], self.narrow.bias  # (cout, mid), (cout,)
        k = w1.shape[-1]
        fused = conv(w1.shape[1], w2.shape[0], k)
        weight = torch.einsum("om,mikl->oikl", w2, w1)
        if self.residual:
            idx = torch.arange(weight.shape[0])
            weight[idx, idx, k // 2, k // 2] += 1.0
        fused.weight.copy_(weight)
        fused.bias.copy_(w2 @ b1 + b2)
        self.collapsed = fused.to(w1.device)
        del self.wide, self.narrow


def _tenth(n):
    """``n / 10`` rounded half up, in integer arithmetic so that exporters can trace a symbolic ``n``."""
    tenth = (n + 5) // 10
    return max(1, tenth) if isinstance(tenth, int) else tenth


def _clb_relu(cin: int, cout: int) -> nn.Module:
    return nn.Sequential(CollapsibleLinearBlock(cin, cout), nn.ReLU())


class TCL(DepthNet):
    """DepthNet whose decoder ends on a grid of 1/10 of the input size (48×64 for 480×640)."""

    def __init__(self, width: float = 1.0, work_hw=(128, 160), widths=(64, 48, 32)):
        encoder = mobilenetv3_large(width, max_stride=16)
        ch = encoder.feature_channels  # strides 2, 4, 8, 16
        decoder = UNetDecoder(ch, skips=(2, 1), widths=widths[:2], make_block=_clb_relu)
        head = CollapsibleLinearBlock(widths[2], 1)
        super().__init__(encoder, decoder, head, DepthRange.sensor(), work_hw=work_hw,
                         out_mode="bilinear", feature_channels=widths[2])
        self.grid_fuse = _clb_relu(widths[1] + ch[0], widths[2])

    def decode(self, feats, out_hw):
        grid = (_tenth(out_hw[0]), _tenth(out_hw[1]))
        x = resize(self.decoder(feats), grid)
        return self.grid_fuse(torch.cat([x, resize(feats[0], grid)], dim=1))

    def collapse(self) -> "TCL":
        """Fold every Collapsible Linear Block into one convolution (for export); returns self."""
        for m in self.modules():
            if isinstance(m, CollapsibleLinearBlock):
                m.collapse()
        return self


@register_model(
    "depth", paper="tcl", dynamic_shapes=False, collapse_before_export=True,
    recipes=Recipes(
        paper=Recipe(
            losses=(term("silog", 1.0, **{"lambda": 0.85}),), optimizer="adam", lr=1e-3, lr_final=1e-5,
            schedule="cosine", batch_size=16, steps=epochs_to_steps(100, 16), augment=("flip",),
            notes="The report gives no training details for TCL; SILog + Adam + cosine over ~100 "
                  "epochs is a stand-in in the style of the other teams.",
        ),
        fast=fast_recipe(term("silog", 1.0, **{"lambda": 0.85})),
    ),
)
def tcl(**kwargs) -> TCL:
    """TCL: MobileNetV3 (no stride-32 blocks) + Collapsible Linear Blocks, 160×128 in, ×10 out."""
    return TCL(**kwargs)
