"""ENERZAi Research, second model — an ESRGAN-like net with channel attention (ISP report §4.4,
Fig. 7; Table 1 row marked *: 11 KB, 23.41 dB, 231 ms; not in the official test phase).

Following ESRGAN [53]: a shallow feature extractor, several DenseNet-based residual
blocks built from *separable* convolutions, then a transposed convolution to full
resolution. A channel attention block was added (better fidelity for a slight slowdown)
and NAS picked PReLU as the activation. Trained with MS-SSIM + L1 in PyTorch; the team
translated it to TensorFlow by hand for TFLite (here litert-torch converts it directly;
the PReLU exports as MUL + MAXIMUM, :class:`maikit.models.blocks.PReLU`).

Choices where the report is silent: width 8; two residual dense blocks of three separable
3×3 layers (growth 4, residual scale 0.2) wrapped in an ESRGAN-style long skip; a
squeeze-excite channel attention (8→4→8) after the blocks; 3×3 stride-2 transposed conv
8→8 + PReLU; 3×3 conv to RGB. 2,583 parameters → 10.3 KB (published 11 KB).
The output layer is linear as in ESRGAN (bias initialised to 0.5): ``forward`` clips to
[0, 1], ``forward_train`` returns the unclipped value. Loss weights MS-SSIM 0.84 /
L1 0.16 (the common mix of Zhao et al.), Adam 1e-4 with cosine decay, batch 16 are
choices.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from maikit.models._registry import register_model
from maikit.models.blocks import ResidualDenseBlock, SeparableConv, SqueezeExcite, clamp01, conv, make_act, up_conv
from maikit.models.isp._recipes import fast_recipe
from maikit.models.recipe import Recipe, Recipes, terms


def _sep_prelu(cin: int, cout: int) -> nn.Module:
    return nn.Sequential(SeparableConv(cin, cout, 3), make_act("prelu", cout))


class EsrganISP(nn.Module):
    def __init__(self, width: int = 8, growth: int = 4, n_blocks: int = 2, in_chans: int = 4):
        super().__init__()
        self.stem = nn.Sequential(conv(in_chans, width, 3), make_act("prelu", width))
        self.blocks = nn.Sequential(*[ResidualDenseBlock(width, growth, 3, layer=_sep_prelu) for _ in range(n_blocks)])
        self.attention = SqueezeExcite(width, 2, act="relu", gate="sigmoid")
        self.up = nn.Sequential(up_conv(width, width, 3, stride=2), make_act("prelu", width))
        self.to_rgb = conv(width, 3, 3)
        nn.init.constant_(self.to_rgb.bias, 0.5)  # start mid-grey, inside the clipped range

    def forward_train(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        f = self.stem(x)
        f = f + self.attention(self.blocks(f))  # long skip, as in ESRGAN's RRDB trunk
        return {"out": self.to_rgb(self.up(f))}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return clamp01(self.forward_train(x)["out"])


_PAPER = Recipe(
    losses=terms(("ms_ssim", 0.84), ("l1", 0.16)),
    optimizer="adam", lr=1e-4, lr_final=1e-6, schedule="cosine", batch_size=16, steps=100_000, augment=("flip",),
    notes="MS-SSIM + L1 (report); weights, optimiser settings chosen",
)
_FAST = fast_recipe(("ms_ssim", 0.84), ("l1", 0.16), lr=1e-3)


@register_model("isp", paper="enerzai_esrgan", recipes=Recipes(paper=_PAPER, fast=_FAST), size_multiple=1,
                dynamic_shapes=True)
def enerzai_esrgan(**kwargs) -> nn.Module:
    """ENERZAi ESRGAN-like net: separable residual dense blocks, channel attention, deconv, PReLU."""
    return EsrganISP(**kwargs)
