"""Smallnet — team dh_isp, winner of MAI 2021 ISP (ISP report §4.1, Fig. 3; Table 1: 21 KB,
23.20 dB, 61 ms).

An FSRCNN-inspired, extremely shallow net working at the packed (half) resolution: three
3×3 convolutions with 16, 16 and 12 channels, tanh after the first and ReLU after the
other two, then one pixel shuffle (×2) turning the 12 channels into RGB at full
resolution. The team stresses that tanh and the pixel shuffle matter for fidelity.

Training (report): L1 first, then fine-tuning with L1 + VGG-19 perceptual loss; Adam,
batch 4, learning rate 1e-4 "decreased within the training".
Choices where the report is silent: the split of the 100k steps (70 % L1, 30 % L1 + VGG),
a VGG weight of 0.1 relative to L1, and a cosine decay to 1e-6 for "decreased".

Output: ReLU → pixel shuffle is unbounded above; ``forward`` clips to [0, 1] (the model
contract), ``forward_train`` returns the unclipped value for the losses.
Parameters: 4,652 → 18.6 KB as float32 (the report prints 21 KB for the .tflite file,
which also holds the graph).
"""

from __future__ import annotations

import torch
import torch.nn as nn

from maikit.models._registry import register_model
from maikit.models.blocks import clamp01, conv
from maikit.models.isp._recipes import fast_recipe
from maikit.models.recipe import Recipe, Recipes, Stage, terms


class SmallNet(nn.Module):
    def __init__(self, widths: tuple[int, int, int] = (16, 16, 12), in_chans: int = 4):
        super().__init__()
        c1, c2, c3 = widths
        if c3 % 4:
            raise ValueError(f"the last width must be divisible by 4 for the ×2 pixel shuffle, got {c3}")
        self.conv1 = conv(in_chans, c1, 3)
        self.conv2 = conv(c1, c2, 3)
        self.conv3 = conv(c2, c3, 3)
        self.shuffle = nn.PixelShuffle(2)

    def forward_train(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        x = torch.tanh(self.conv1(x))
        x = torch.relu(self.conv2(x))
        x = torch.relu(self.conv3(x))
        return {"out": self.shuffle(x)}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return clamp01(self.forward_train(x)["out"])


_PAPER = Recipe(
    losses=terms(("l1", 1.0)),
    optimizer="adam", lr=1e-4, lr_final=1e-6, schedule="cosine", batch_size=4, steps=100_000,
    augment=("flip",),
    stages=(
        Stage("l1", terms(("l1", 1.0)), fraction=0.7),
        Stage("l1_vgg", terms(("l1", 1.0), ("vgg", 0.1)), fraction=0.3),
    ),
    notes="L1, then fine-tune with L1 + VGG-19; Adam, batch 4, lr 1e-4 decreased (report); "
          "stage split, VGG weight and cosine decay chosen",
)
_FAST = fast_recipe(("l1", 1.0), lr=1e-3, batch_size=16)


# no dynamic H, W: litert-torch 0.10 cannot convert PixelShuffle with symbolic sizes (docs/references.md#lowering)
@register_model("isp", paper="dh_isp", recipes=Recipes(paper=_PAPER, fast=_FAST), size_multiple=1,
                dynamic_shapes=False)
def smallnet(**kwargs) -> nn.Module:
    """dh_isp Smallnet: 3 convs (16/16/12, tanh then ReLU) + pixel shuffle ×2."""
    return SmallNet(**kwargs)
