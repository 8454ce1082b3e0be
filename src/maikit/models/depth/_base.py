"""What every depth solution shares: the I/O contract, decoder joints and recipe helpers.

:class:`DepthNet` implements the depth contract of ``maikit.models._registry`` once:
RGB N×3×H×W in 0–255 → resize to the model's working resolution → ImageNet normalisation →
``encoder.features`` → decoder → head → metres via :class:`DepthRange` → resize back to H×W.
A solution module supplies the encoder, its decoder, the head and the range; everything a
team describes (resolution, fusion blocks, resize mode) stays in its own module.

``forward_train(x)`` returns ``{"out": depth_m, "features": f}`` where ``f`` is the last
decoder map before the head (``feature_channels`` channels; its size is given in each
solution's docstring). Distillation losses compare student and teacher ``features``; their
sizes and widths differ between models, so a trainer resizes the teacher map to the
student's and, for a feature-L2 loss, projects channels with a 1×1 convolution.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from maikit.models.blocks import conv, resize_bilinear, resize_nearest, same_hw
from maikit.models.lowering import tflite_lowering_active
from maikit.models.recipe import LossTerm, Recipe
from maikit.taskspec import DEPTH

# ImageNet statistics: every encoder here is an ImageNet architecture
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

# "Around 8.3K image pairs were collected" (depth report §2.1). The size of the training split is
# not published, so epochs are converted to steps with all 8.3K pairs (an upper estimate).
REPORT_PAIRS = 8300


def resize(x: torch.Tensor, size: tuple[int, int], mode: str = "bilinear") -> torch.Tensor:
    """Resize to ``size`` (H, W). Bilinear never uses ``align_corners=True`` (docs/references.md#lowering).

    ``"nearest"`` samples at half-pixel centres, in PyTorch and in the TFLite file
    (:func:`maikit.models.blocks.resize_nearest`).
    """
    if same_hw(x, size):
        return x
    if mode == "nearest":
        return resize_nearest(x, size)
    return resize_bilinear(x, size)


class Normalize(nn.Module):
    """0–255 RGB → ImageNet-normalised, as one multiply-add inside the graph."""

    def __init__(self, mean=IMAGENET_MEAN, std=IMAGENET_STD):
        super().__init__()
        scale = torch.tensor([1.0 / (255.0 * s) for s in std]).view(1, 3, 1, 1)
        shift = torch.tensor([-m / s for m, s in zip(mean, std)]).view(1, 3, 1, 1)
        self.register_buffer("scale", scale, persistent=False)
        self.register_buffer("shift", shift, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.scale + self.shift


class NormalizingConv2d(nn.Conv2d):
    """An encoder's first convolution with the input normalisation folded into it.

    It takes the 0–255 image: pads it with zeros (black), normalises it (:class:`Normalize`)
    and convolves without further padding — the same as normalising and then padding with
    the normalised value of black (instead of with zeros). That border convention lets the
    export fold the normalisation into the convolution's weights and bias (``w·s``, ``b +
    Σ w·shift``): the graph reads resize → convolution, with no full-image MUL and ADD before
    it. depth/aiia_hit on one thread: FP32 1.6 → 1.1–1.2 ms, INT8 1.0 → 0.63 ms — more than
    the two ops take alone (``benchmarks/RESULTS.md`` "Deployment"). Same parameters and
    state dict as the ``nn.Conv2d`` it replaces.
    """

    @classmethod
    def replacing(cls, conv: nn.Conv2d, normalize: Normalize) -> "NormalizingConv2d":
        if conv.groups != 1 or conv.padding_mode != "zeros" or isinstance(conv.padding, str):
            raise ValueError("only a dense, zero-padded convolution can take the normalisation")
        new = cls(conv.in_channels, conv.out_channels, conv.kernel_size, stride=conv.stride, padding=conv.padding,
                  dilation=conv.dilation, bias=conv.bias is not None)
        new.load_state_dict(conv.state_dict())
        new.register_buffer("scale", normalize.scale.clone(), persistent=False)
        new.register_buffer("shift", normalize.shift.clone(), persistent=False)
        return new

    def freeze_for_export(self) -> None:
        with torch.no_grad():
            w = self.weight.detach()
            bias = (w * self.shift).sum(dim=(1, 2, 3))
            if self.bias is not None:
                bias = bias + self.bias.detach()
            self._folded = (w * self.scale, bias)

    def thaw(self) -> None:
        self._folded = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        folded = getattr(self, "_folded", None)
        if folded is not None and tflite_lowering_active():  # the convolution's own zero padding
            return F.conv2d(x, folded[0], folded[1], self.stride, self.padding, self.dilation)
        ph, pw = self.padding
        x = F.pad(x, (pw, pw, ph, ph)) if ph or pw else x  # zeros = black, before normalising
        return F.conv2d(x * self.scale + self.shift, self.weight, self.bias, self.stride, 0, self.dilation)


class DepthRange(nn.Module):
    """Map the head's logits to metres in ``[min_m, max_m]``.

    ``kind``: ``"sigmoid"`` — ``min + (max − min)·σ(z)`` (smooth, always inside the range);
    ``"clamp"`` — ``clamp(z, min, max)`` (the linear output with a clamp AIIA HIT describes);
    ``"relu"`` — ``clamp(relu(z), min, max)``, the organisers' U-Net's ReLU output kept
    strictly positive so that log-depth losses and metrics stay finite.

    For ``"clamp"`` and ``"relu"``, ``gain`` metres per unit of ``z`` (default 1) sets the
    linear output's unit: a ReLU head in metres moves by ~lr metres per Adam step, so a
    BatchNorm-free net (the U-Net baseline) needs hundreds of steps just to reach the spread
    of a scene's depths; ``gain=10`` is the same map with 10× faster head dynamics, and the
    constant folds into the last convolution on export.

    In training, ``"clamp"`` and ``"relu"`` pass the gradient straight through the clamp: a
    pixel pushed below the floor (ReLU 0 → ``min_m``) would otherwise get no gradient from a
    log-depth loss and stay dead at ``log(min_m)``. The forward values (and the exported
    graph) are unchanged.
    """

    KINDS = ("sigmoid", "clamp", "relu")

    def __init__(self, min_m: float, max_m: float, kind: str = "sigmoid", gain: float = 1.0):
        super().__init__()
        if kind not in self.KINDS:
            raise ValueError(f"`kind` must be one of {', '.join(self.KINDS)}, got {kind!r}")
        if not 0 < min_m < max_m:
            raise ValueError(f"need 0 < `min_m` < `max_m`, got {min_m}, {max_m}")
        if not gain > 0 or (kind == "sigmoid" and gain != 1.0):
            raise ValueError(f"`gain` must be > 0 (and 1 for the sigmoid kind), got {gain}")
        self.min_m, self.max_m, self.kind, self.gain = float(min_m), float(max_m), kind, float(gain)

    @classmethod
    def sensor(cls, kind: str = "sigmoid") -> "DepthRange":
        """The range of the dataset's sensor (``maikit.taskspec.DEPTH.sensor_range``, 0.4-50 m)."""
        return cls(DEPTH.sensor_range.min_m, DEPTH.sensor_range.max_m, kind)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        if self.kind == "sigmoid":
            return self.min_m + (self.max_m - self.min_m) * torch.sigmoid(z)
        if self.gain != 1.0:
            z = z * self.gain
        out = torch.clamp(F.relu(z) if self.kind == "relu" else z, self.min_m, self.max_m)
        if self.training and z.requires_grad:
            return out.detach() + (z - z.detach())  # exactly `out` (z − z = 0), gradient of the identity
        return out

    def logit(self, depth_m: float) -> float:
        """The head output that maps to ``depth_m`` (to start training at a plausible depth)."""
        if self.kind == "sigmoid":
            p = (depth_m - self.min_m) / (self.max_m - self.min_m)
            return math.log(p / (1.0 - p))
        return depth_m / self.gain

    def extra_repr(self) -> str:
        gain = f", gain={self.gain:g} m/unit" if self.gain != 1.0 else ""
        return f"kind={self.kind}, range=[{self.min_m}, {self.max_m}] m{gain}"


class DepthNet(nn.Module):
    """Encoder-decoder depth model obeying the zoo contract (see the module docstring).

    ``work_hw`` is the (H, W) the encoder runs at; ``out_mode`` the resize back to the input
    size ("bilinear" or "nearest"); ``decoder(feats)`` returns the last decoder map.
    """

    def __init__(self, encoder: nn.Module, decoder: nn.Module, head: nn.Module, depth_range: DepthRange,
                 *, work_hw: tuple[int, int], out_mode: str = "bilinear", feature_channels: int,
                 start_depth_m: float = 5.0):
        super().__init__()
        self.normalize: nn.Module = Normalize()
        if hasattr(encoder, "replace_input_conv"):  # the encoder's first conv takes the normalisation
            normalize = self.normalize
            encoder.replace_input_conv(lambda c: NormalizingConv2d.replacing(c, normalize))
            self.normalize = nn.Identity()
        self.encoder, self.decoder, self.head, self.depth_range = encoder, decoder, head, depth_range
        self.work_hw = tuple(work_hw)
        self.out_mode = out_mode
        self.feature_channels = int(feature_channels)
        last = [m for m in head.modules() if isinstance(m, nn.Conv2d)][-1]
        if last.bias is not None:
            nn.init.constant_(last.bias, depth_range.logit(start_depth_m))

    def decode(self, feats: list[torch.Tensor], out_hw: tuple[int, int]) -> torch.Tensor:
        return self.decoder(feats)

    def forward_train(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        out_hw = tuple(x.shape[-2:])
        # normalising after the resize is the same map (a per-channel affine commutes with
        # bilinear weights that sum to 1) on 1/15 of the pixels at 480×640 → 128×160; encoders
        # with `replace_input_conv` normalise inside their first conv (NormalizingConv2d)
        z = self.normalize(resize(x, self.work_hw, "bilinear"))
        f = self.decode(self.encoder.features(z), out_hw)
        depth = resize(self.depth_range(self.head(f)), out_hw, self.out_mode)
        return {"out": depth, "features": f}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_train(x)["out"]


# --------------------------------------------------------------------------------------
# decoder joints
# --------------------------------------------------------------------------------------
class UpConcat(nn.Module):
    """Resize the decoder map to the skip's size, concatenate the skip, apply ``block``."""

    def __init__(self, block: nn.Module, mode: str = "bilinear"):
        super().__init__()
        self.block, self.mode = block, mode

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        return self.block(torch.cat([resize(x, tuple(skip.shape[-2:]), self.mode), skip], dim=1))


class UNetDecoder(nn.Module):
    """Deepest feature first, then one :class:`UpConcat` per shallower skip.

    ``skips`` are indices into the encoder's feature list (deep → shallow); ``make_block(cin,
    cout)`` builds each joint's block. Returns the map after the last joint.
    """

    def __init__(self, enc_channels, skips: tuple[int, ...], widths: tuple[int, ...], make_block,
                 *, deepest: int = -1, mode: str = "bilinear", top: nn.Module | None = None,
                 top_channels: int | None = None):
        super().__init__()
        if len(skips) != len(widths):
            raise ValueError("`skips` and `widths` need the same length")
        self.deepest, self.skips = deepest, tuple(skips)
        self.top = top or nn.Identity()  # e.g. ASPP on the deepest map
        cin = top_channels or enc_channels[deepest]
        joints = []
        for i, w in zip(skips, widths):
            joints.append(UpConcat(make_block(cin + enc_channels[i], w), mode))
            cin = w
        self.joints = nn.ModuleList(joints)
        self.out_channels = cin

    def forward(self, feats: list[torch.Tensor]) -> torch.Tensor:
        x = self.top(feats[self.deepest])
        for i, joint in zip(self.skips, self.joints):
            x = joint(x, feats[i])
        return x


class ResidualConvUnit(nn.Module):
    """x + conv3(relu(conv3(relu(x)))) — MiDaS's refinement unit (Ranftl et al., depth report ref. [65])."""

    def __init__(self, channels: int):
        super().__init__()
        self.body = nn.Sequential(nn.ReLU(), conv(channels, channels, 3), nn.ReLU(), conv(channels, channels, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class FeatureFusionBlock(nn.Module):
    """MiDaS-style fusion: path resized to the skip, + RCU(skip), then RCU and a 1×1 projection."""

    def __init__(self, channels: int, *, with_skip: bool = True):
        super().__init__()
        self.skip_unit = ResidualConvUnit(channels) if with_skip else None
        self.path_unit = ResidualConvUnit(channels)
        self.project = conv(channels, channels, 1)

    def forward(self, x: torch.Tensor, skip: torch.Tensor | None = None) -> torch.Tensor:
        # the deepest block has no skip (``with_skip=False``): it only refines the path
        if self.skip_unit is not None:
            x = resize(x, tuple(skip.shape[-2:])) + self.skip_unit(skip)
        return self.project(self.path_unit(x))


class FusionDecoder(nn.Module):
    """MiDaS-like decoder: each encoder level (strides 4..32) is brought to ``channels`` by a
    3×3 conv, then fused deep → shallow by :class:`FeatureFusionBlock`; ends at stride 4."""

    def __init__(self, enc_channels, channels: int, levels: tuple[int, ...] = (1, 2, 3, 4)):
        super().__init__()
        self.levels = tuple(levels)
        self.lateral = nn.ModuleList(conv(enc_channels[i], channels, 3, bias=False) for i in levels)
        self.fuse = nn.ModuleList(FeatureFusionBlock(channels, with_skip=i < len(levels) - 1)
                                  for i in range(len(levels)))
        self.out_channels = channels

    def forward(self, feats: list[torch.Tensor]) -> torch.Tensor:
        laterals = [lat(feats[i]) for lat, i in zip(self.lateral, self.levels)]
        x = self.fuse[-1](laterals[-1])
        for lateral, fuse in zip(reversed(laterals[:-1]), reversed(list(self.fuse)[:-1])):
            x = fuse(x, lateral)
        return x


# --------------------------------------------------------------------------------------
# recipe helpers
# --------------------------------------------------------------------------------------
def term(name: str, weight: float = 1.0, **kwargs) -> LossTerm:
    """One loss term with keyword options, e.g. ``term("silog", 1.0, **{"lambda": 0.85})``."""
    return LossTerm(name, float(weight), tuple(sorted(kwargs.items())))


def epochs_to_steps(epochs: int, batch_size: int) -> int:
    """Optimiser steps for ``epochs`` over the report's ~8.3K pairs at ``batch_size``."""
    return int(epochs) * math.ceil(REPORT_PAIRS / int(batch_size))


def fast_recipe(*losses: LossTerm, **changes) -> Recipe:
    """A CPU-friendly recipe: batch 4, 2000 steps, Adam 1e-3 with cosine decay, flips only."""
    base = Recipe(losses=tuple(losses), optimizer="adam", lr=1e-3, lr_final=1e-5, schedule="cosine",
                  batch_size=4, steps=2000, augment=("flip",),
                  notes="CPU-friendly stand-in for quick runs; not the published schedule")
    return base.replace(**changes)
