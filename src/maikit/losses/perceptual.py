"""VGG-19 perceptual (content) loss, with the VGG-19 feature extractor written here.

The layers and the state-dict keys (``features.N.weight`` / ``features.N.bias``) follow the
torchvision VGG-19 layout, so a file saved from ``torchvision.models.vgg19(...).state_dict()``
loads as is (its ``classifier.*`` entries are ignored). No model hub is reachable, so the
weights come only from a file the user passes (``--vgg-weights PATH``, docs/references.md#lowering). Inputs are
RGB in [0, 1]; the ImageNet normalisation happens inside. PUNET's content loss is the L2
distance of relu5_4 activations (docs/references.md#punet), the default here.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

from maikit.errors import MaikitError, describe
from maikit.losses._registry import register_loss

# Configuration "E" of Simonyan & Zisserman (VGG-19): conv widths, "M" = 2x2 max-pool.
VGG19_CFG = (64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512, "M")
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def _layer_names() -> dict[str, int]:
    """``relu{block}_{conv}`` / ``conv{b}_{c}`` / ``pool{b}`` -> index in ``features``."""
    names, idx, block, conv = {}, 0, 1, 1
    for v in VGG19_CFG:
        if v == "M":
            names[f"pool{block}"] = idx
            idx, block, conv = idx + 1, block + 1, 1
        else:
            names[f"conv{block}_{conv}"] = idx
            names[f"relu{block}_{conv}"] = idx + 1
            idx, conv = idx + 2, conv + 1
    return names


VGG19_LAYERS = _layer_names()  # relu5_4 -> 35, as in torchvision's indexing


class VGG19Features(nn.Module):
    """VGG-19 convolutional part; ``features`` indices match torchvision's ``vgg19().features``."""

    def __init__(self, last_layer: int | None = None):
        super().__init__()
        layers: list[nn.Module] = []
        c_in = 3
        for v in VGG19_CFG:
            if v == "M":
                layers.append(nn.MaxPool2d(2, 2))
            else:
                layers += [nn.Conv2d(c_in, int(v), 3, padding=1), nn.ReLU(inplace=False)]
                c_in = int(v)
        if last_layer is not None:
            layers = layers[: last_layer + 1]
        self.features = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)


def load_vgg19_weights(model: VGG19Features, path: str | os.PathLike) -> VGG19Features:
    """Load a torchvision-format VGG-19 state dict (only the ``features.*`` entries used)."""
    path = Path(path)
    if not path.is_file():
        raise MaikitError("VGG-19 weights file not found", path)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except OSError as e:
        raise MaikitError(f"cannot read VGG-19 weights: {describe(e)}", path) from None
    except Exception:  # corrupt or not a torch file: one line for the user
        raise MaikitError("cannot read VGG-19 weights: not a PyTorch file, or a damaged one", path) from None
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise MaikitError("not a VGG-19 state dict (expected a dict of tensors)", path)
    wanted = model.state_dict()
    missing = [k for k in wanted if k not in state]
    if missing:
        raise MaikitError(
            f"not a VGG-19 state dict: missing {missing[0]} ({len(missing)} missing; torchvision "
            f"vgg19 keys `features.N.weight` expected)",
            path,
        )
    for k, v in wanted.items():
        if tuple(state[k].shape) != tuple(v.shape):
            raise MaikitError(f"`{k}` has shape {tuple(state[k].shape)}, VGG-19 needs {tuple(v.shape)}", path)
    model.load_state_dict({k: state[k] for k in wanted})
    return model


@register_loss("vgg", "vgg19", "perceptual")
class VGGLoss(nn.Module):
    """Perceptual loss: distance between VGG-19 activations (default relu5_4, L2).

    ``weights`` is the path of a torchvision-format VGG-19 state dict; the trainer passes
    ``--vgg-weights`` here. ``criterion`` is "l2" (mean squared, as PUNET) or "l1".
    """

    def __init__(self, weights: str | os.PathLike | None = None, layer: str = "relu5_4", criterion: str = "l2"):
        super().__init__()
        if weights is None:
            raise MaikitError(
                "this recipe uses the VGG-19 perceptual loss, which needs pretrained weights: pass "
                "--vgg-weights PATH (a torchvision vgg19 state dict) or use --recipe fast"
            )
        if layer not in VGG19_LAYERS:
            raise MaikitError(f"unknown VGG-19 layer `{layer}`; e.g. relu1_2, relu2_2, relu3_4, relu4_4, relu5_4")
        if criterion not in ("l1", "l2"):
            raise MaikitError(f"`criterion` must be l1 or l2, got {criterion!r}")
        self.layer, self.criterion = layer, criterion
        self.vgg = load_vgg19_weights(VGG19Features(VGG19_LAYERS[layer]), weights).eval()
        for p in self.vgg.parameters():
            p.requires_grad_(False)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    def train(self, mode: bool = True) -> "VGGLoss":
        super().train(mode)
        self.vgg.eval()  # frozen feature extractor: never in training mode
        return self

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.vgg((x - self.mean) / self.std)

    def forward(self, pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        if pred.shape[1] != 3:
            raise MaikitError(f"the VGG-19 loss needs 3-channel RGB, got {pred.shape[1]} channels")
        fp = self.features(pred)
        with torch.no_grad():
            ft = self.features(target)
        return F.mse_loss(fp, ft) if self.criterion == "l2" else F.l1_loss(fp, ft)
