"""Export-time graph rewrites that keep a model's outputs but change how it lowers.

Pixel shuffle in PyTorch is a reshape/permute; converters lower it to a chain of RESHAPE /
TRANSPOSE ops (rank 6 in older converters), which mobile GPU delegates reject or run as
slow memory shuffles (docs/references.md#lowering), and whose symbolic reshape cannot be exported with a
dynamic height/width here. The same permutation is a stride-r transposed convolution with
one-hot weights (each output pixel receives exactly one input value times 1.0), which
lowers to a single TRANSPOSE_CONV that the GPU delegate and NNAPI support and that traces
with dynamic shapes. Pixel unshuffle is, likewise, a stride-r convolution.

:func:`rewrite_pixel_shuffles` swaps these modules in a copy of a model;
:func:`lower_for_gpu` traces nearest resizes as RESIZE_NEAREST_NEIGHBOR instead of GATHER_ND
(:func:`maikit.models.blocks.resize_nearest`), one-channel bilinear resizes and small transposed
convolutions as single ops, and counts the ISP output clamp's RELU6 form
(:func:`maikit.models.blocks.clamp01`, the default of every export);
:func:`check_same_outputs` verifies that a rewrite changed nothing.
"""

from __future__ import annotations

import copy

import torch
import torch.nn as nn
import torch.nn.functional as F

from maikit.errors import MaikitError
from maikit.models.blocks import shuffle_weight
from maikit.models.lowering import gpu_friendly_lowering


def _one_hot_shuffle_weight(channels: int, r: int) -> torch.Tensor:
    try:
        return shuffle_weight(channels, r)
    except ValueError as e:
        raise MaikitError(str(e)) from None


class ShuffleAsTransposedConv(nn.Module):
    """``nn.PixelShuffle(r)`` for a known channel count, as one stride-r transposed conv."""

    def __init__(self, channels: int, upscale_factor: int):
        super().__init__()
        self.r = int(upscale_factor)
        self.register_buffer("weight", _one_hot_shuffle_weight(channels, self.r), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv_transpose2d(x, self.weight.to(x.dtype), stride=self.r)


class UnshuffleAsConv(nn.Module):
    """``nn.PixelUnshuffle(r)`` for a known channel count, as one stride-r convolution."""

    def __init__(self, channels: int, downscale_factor: int):
        super().__init__()
        self.r = int(downscale_factor)
        # the same one-hot tensor read as a (C*r*r, C, r, r) conv weight
        self.register_buffer("weight", _one_hot_shuffle_weight(channels * self.r**2, self.r), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight.to(x.dtype), stride=self.r)


def _record_input_channels(model: nn.Module, sample: torch.Tensor, kinds: tuple[type, ...]) -> dict[str, int]:
    seen: dict[str, int] = {}
    hooks = []

    def recorder(name: str):
        def hook(module: nn.Module, args: tuple) -> None:  # must return None: keeps the input
            seen.setdefault(name, int(args[0].shape[1]))

        return hook

    for name, mod in model.named_modules():
        if isinstance(mod, kinds):
            hooks.append(mod.register_forward_pre_hook(recorder(name)))
    try:
        with torch.no_grad():
            model(sample)
    finally:
        for h in hooks:
            h.remove()
    return seen


def _set_submodule(model: nn.Module, name: str, new: nn.Module) -> None:
    parent_name, _, attr = name.rpartition(".")
    parent = model.get_submodule(parent_name) if parent_name else model
    setattr(parent, attr, new)


def rewrite_pixel_shuffles(model: nn.Module, sample_nchw: torch.Tensor) -> tuple[nn.Module, dict[str, int]]:
    """A copy of ``model`` with every nn.PixelShuffle / nn.PixelUnshuffle module replaced.

    Channel counts are read from one forward pass on ``sample_nchw``. Returns the new model
    and a count per rewrite kind (empty when there was nothing to replace; then the model
    is returned as is). Shuffles written as functions inside ``forward`` are not touched.
    """
    kinds = (nn.PixelShuffle, nn.PixelUnshuffle)
    if not any(isinstance(m, kinds) for m in model.modules()):
        return model, {}
    new = copy.deepcopy(model).eval()
    channels = _record_input_channels(new, sample_nchw, kinds)
    counts: dict[str, int] = {}
    for name, c in channels.items():
        mod = new.get_submodule(name)
        if isinstance(mod, nn.PixelShuffle):
            _set_submodule(new, name, ShuffleAsTransposedConv(c, mod.upscale_factor))
            key = "pixel_shuffle_as_transpose_conv"
        else:
            _set_submodule(new, name, UnshuffleAsConv(c, mod.downscale_factor))
            key = "pixel_unshuffle_as_conv"
        counts[key] = counts.get(key, 0) + 1
    return new, counts


class GpuFriendlyLowering(nn.Module):
    """Runs the wrapped model inside :func:`maikit.models.lowering.gpu_friendly_lowering`."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with gpu_friendly_lowering():
            return self.model(x)


def lower_for_gpu(model: nn.Module, sample_nchw: torch.Tensor) -> tuple[nn.Module, dict[str, int]]:
    """``model`` wrapped so that it traces inside ``gpu_friendly_lowering``: nearest resizes as
    RESIZE_NEAREST_NEIGHBOR (see ``resize_nearest``), one-channel bilinear resizes and small
    ``UpConv`` s as single ops, [0, 1] clamps as RELU6 (see ``clamp01``), with counts; the model
    itself when one forward pass on ``sample_nchw`` meets none of them."""
    with torch.no_grad(), gpu_friendly_lowering() as counts:
        model(sample_nchw)
    return (GpuFriendlyLowering(model).eval(), dict(counts)) if counts else (model, {})


def check_same_outputs(a: nn.Module, b: nn.Module, sample_nchw: torch.Tensor, atol: float = 1e-5) -> float:
    """Max abs difference of the two models' outputs; MaikitError above ``atol`` (relative to the range)."""
    with torch.no_grad():
        ya, yb = a(sample_nchw), b(sample_nchw)
    diff = float((ya - yb).abs().max())
    scale = max(float(ya.abs().max()), 1.0)
    if diff > atol * scale:
        raise MaikitError(f"the pixel-shuffle rewrite changed the outputs (max abs diff {diff:.3g})")
    return diff
