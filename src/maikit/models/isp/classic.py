"""A classic, non-learned ISP in the zoo's interface — the reference a learned ISP should beat.

Packed RAW (N×4×H×W, normalised per a :class:`~maikit.taskspec.RawConvention`) → RGB
N×3×2H×2W in [0, 1], in five fixed steps, all inside the graph so that it converts to
TFLite like every other zoo model:

1. black level (default 0: the MAI 2021 packing subtracts none, docs/references.md#isp-data) and **gray-world
   white balance** — per image, R and B are scaled so that their means equal the mean of
   the two green channels (gains limited to [1/4, 8] against empty channels);
2. **demosaicing** by Malvar, He & Cutler (2004), "High-quality linear interpolation for
   demosaicing of Bayer-patterned color images": bilinear interpolation plus a
   gradient correction from the co-sited channel, which together are linear and
   shift-invariant per CFA phase, i.e. four fixed 5×5 kernels. The graph re-interleaves
   the packed channels into the Bayer mosaic (fixed 1×1 permutation + depth-to-space),
   mirror-pads it by 2 (no edge repeat, which keeps the CFA phase at the border), runs the
   kernels, and picks per phase the right kernel for each colour (space-to-depth, fixed
   1×1 selection, depth-to-space). The CFA layout comes from the convention's offsets and
   channel names, so (B, Gb, R, Gr) of mai21 and R-first orders of mai22 both work;
3. a **colour matrix** (camera RGB → sRGB). The IMX586's matrix is not published; a
   generic moderate-saturation matrix with rows summing to 1 (grey stays grey) is used;
4. clip to [0, 1] and the **sRGB transfer function** (IEC 61966-2-1);
5. a **mild S tone curve**: ``y + s·(smoothstep(y) − y)`` with s = 0.25 (a slight
   contrast boost, as camera ISPs apply), then a final clip.

No parameters (``trainable=False``, no recipes). The demosaicing is tested against
``colour_demosaicing.demosaicing_CFA_Bayer_Malvar2004``.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from maikit.models._registry import register_model
from maikit.models.blocks import clamp01
from maikit.taskspec import ISP, RawConvention

# Malvar-He-Cutler 2004 kernels (Fig. 2 of the paper), all /8.
_G_AT_RB = [[0, 0, -1, 0, 0], [0, 0, 2, 0, 0], [-1, 2, 4, 2, -1], [0, 0, 2, 0, 0], [0, 0, -1, 0, 0]]
# R (or B) at a green pixel whose *row* holds R (or B): horizontal neighbours
_RB_AT_G_ROW = [[0, 0, 0.5, 0, 0], [0, -1, 0, -1, 0], [-1, 4, 5, 4, -1], [0, -1, 0, -1, 0], [0, 0, 0.5, 0, 0]]
# R at B (and B at R): diagonal neighbours
_RB_AT_BR = [[0, 0, -1.5, 0, 0], [0, 2, 0, 2, 0], [-1.5, 0, 6, 0, -1.5], [0, 2, 0, 2, 0], [0, 0, -1.5, 0, 0]]
IDENTITY, G_AT_RB, RB_AT_G_ROW, RB_AT_G_COL, RB_AT_BR = range(5)

# camera RGB -> linear sRGB; rows sum to 1 (chosen, see module docstring)
DEFAULT_CCM = ((1.60, -0.45, -0.15), (-0.25, 1.50, -0.25), (-0.05, -0.55, 1.60))
DEFAULT_TONE = 0.25
GAIN_RANGE = (0.25, 8.0)


def malvar_kernels() -> torch.Tensor:
    """The 5 fixed kernels (identity + Malvar's 4), shape 5×1×5×5, for a correlation over the mosaic."""
    ident = torch.zeros(5, 5)
    ident[2, 2] = 1.0
    row = torch.tensor(_RB_AT_G_ROW) / 8
    # the kernels are symmetric under 180° rotation, so correlation = convolution
    ks = [ident, torch.tensor(_G_AT_RB, dtype=torch.float32) / 8, row, row.t(), torch.tensor(_RB_AT_BR) / 8]
    return torch.stack(ks).unsqueeze(1).float()


def cfa_colours(convention: RawConvention) -> dict[tuple[int, int], str]:
    """Colour ("R", "G" or "B") at each (row, col) phase of the 2×2 Bayer cell."""
    cols = {off: name[0].upper() for off, name in zip(convention.offsets, convention.channel_names)}
    if sorted(cols.values()) != ["B", "G", "G", "R"] or len(cols) != 4:
        raise ValueError(f"convention `{convention.name}` is not a Bayer layout: {cols}")
    return cols


def _selection(cols: dict[tuple[int, int], str]) -> torch.Tensor:
    """12×20 0/1 matrix: packed RGB (colour c, phase p → c·4+p) from unshuffled kernels (k·4+p)."""
    sel = torch.zeros(12, 20)
    for (i, j), col in cols.items():
        p = 2 * i + j
        row_has = {cols[(i, 0)], cols[(i, 1)]}  # colours in this row
        for c, want in enumerate("RGB"):
            if want == col:
                k = IDENTITY
            elif want == "G":
                k = G_AT_RB
            elif col == "G":
                k = RB_AT_G_ROW if want in row_has else RB_AT_G_COL
            else:  # R at B or B at R
                k = RB_AT_BR
            sel[c * 4 + p, k * 4 + p] = 1.0
    return sel


class ClassicISP(nn.Module):
    def __init__(self, convention: RawConvention = ISP.raw_convention, ccm=DEFAULT_CCM, tone: float = DEFAULT_TONE,
                 black_level: float = 0.0):
        super().__init__()
        cols = cfa_colours(convention)
        chan_col = [cols[off] for off in convention.offsets]  # colour of each packed channel
        # fixed permutation: mosaic phase p = 2i + j takes the packed channel with offset (i, j)
        perm = torch.zeros(4, 4, 1, 1)
        for k, (i, j) in enumerate(convention.offsets):
            perm[2 * i + j, k] = 1.0
        self.register_buffer("perm", perm)
        self.register_buffer("is_green", torch.tensor([c == "G" for c in chan_col], dtype=torch.float32).view(1, 4, 1, 1))
        self.register_buffer("kernels", malvar_kernels())
        self.register_buffer("select", _selection(cols).view(12, 20, 1, 1))
        self.register_buffer("ccm", torch.tensor(ccm, dtype=torch.float32).view(3, 3, 1, 1))
        self.tone = float(tone)
        self.black_level = float(black_level)
        self.shuffle, self.unshuffle = nn.PixelShuffle(2), nn.PixelUnshuffle(2)

    def white_balance(self, x: torch.Tensor) -> torch.Tensor:
        """Gray-world: scale R and B channels so their means match the green mean (per image)."""
        m = x.mean(dim=(2, 3), keepdim=True)
        green = (m * self.is_green).sum(dim=1, keepdim=True) * 0.5
        gain = torch.clamp(green / torch.clamp(m, min=1e-6), *GAIN_RANGE)
        return x * (self.is_green + (1.0 - self.is_green) * gain)

    def demosaic(self, x: torch.Tensor) -> torch.Tensor:
        """Packed N×4×H×W → linear camera RGB N×3×2H×2W (Malvar-He-Cutler)."""
        mosaic = self.shuffle(F.conv2d(x, self.perm))
        planes = F.conv2d(F.pad(mosaic, (2, 2, 2, 2), mode="reflect"), self.kernels)
        return self.shuffle(F.conv2d(self.unshuffle(planes), self.select))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.black_level:
            x = torch.relu(x - self.black_level) / (1.0 - self.black_level)
        rgb = clamp01(F.conv2d(self.demosaic(self.white_balance(x)), self.ccm))
        srgb = torch.where(rgb <= 0.0031308, 12.92 * rgb, 1.055 * torch.pow(rgb, 1.0 / 2.4) - 0.055)
        s_curve = srgb * srgb * (3.0 - 2.0 * srgb)
        return clamp01(srgb + self.tone * (s_curve - srgb))


# no dynamic H, W: litert-torch 0.10 fails to convert it with symbolic sizes (it has a mirror
# pad and pixel (un)shuffles); fixed-shape conversion works
@register_model("isp", paper=None, recipes=None, trainable=False, size_multiple=1, dynamic_shapes=False,
                team="reference (non-learned)")
def classic(**kwargs) -> nn.Module:
    """Classic ISP: gray-world WB, Malvar-He-Cutler demosaicing, colour matrix, sRGB gamma + tone curve."""
    return ClassicISP(**kwargs)
