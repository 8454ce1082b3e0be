"""ENERZAi Research — a tiny sub-network trained jointly with a super-network (ISP report §4.4,
Fig. 6; Table 1: 9 KB, 22.97 dB, 65 ms). Title: "Learning DenseNet by Shrinking Large
Network for ISP".

Inspired by Once-for-All: a super-network and a sub-network share one DenseNet-like
feature module; they differ only in their top layers. The sub-network head is one
deconvolution, one convolution and a sigmoid; the super-network head adds residual dense
blocks before its own deconvolution/convolution/sigmoid. Both are first trained jointly
(Charbonnier + MS-SSIM on both outputs); once validation PSNR passes a threshold the
super-network is detached and the sub-network is fine-tuned alone. Only the sub-network is
exported.

Here: ``forward`` = sub-network (exported); ``forward_train`` returns
``{"out": sub, "super": super}``; ``train_only_modules = ("super_head",)`` so size counts
and exports see the sub-network only.

Choices where the report is silent: trunk = 3×3 conv 4→8 + ReLU, three densely connected
3×3 layers (growth 4) fused by 1×1 back to 8 channels, with a residual add; sub head =
3×3 stride-2 transposed conv 8→8 + ReLU, 3×3 conv 8→3, sigmoid (2,575 parameters →
10.3 KB vs the published 9 KB); super head = three residual dense blocks of 16 channels
(after a 1×1 widening) and the same deconv/conv/sigmoid. The PSNR threshold for
detaching (21 dB) and the stage split are chosen; Adam 1e-3, batch 4 are the report's.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from maikit.models._registry import register_model
from maikit.models.blocks import ConvAct, DenseLayers, ResidualDenseBlock, conv, up_conv
from maikit.models.isp._recipes import fast_recipe
from maikit.models.recipe import Recipe, Recipes, Stage, TrainHooks, terms

DETACH_PSNR_DB = 21.0


class DenseTrunk(nn.Module):
    """Shared feature module: conv + ReLU, then dense layers fused back with a residual add."""

    def __init__(self, in_chans: int, width: int, growth: int, n: int):
        super().__init__()
        self.stem = ConvAct(in_chans, width, 3, act="relu")
        self.dense = DenseLayers(width, growth, n, act="relu")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f = self.stem(x)
        return torch.relu(f + self.dense(f))


class RGBHead(nn.Sequential):
    """Deconvolution (×2) + ReLU, 3×3 conv to RGB, sigmoid."""

    def __init__(self, width: int):
        super().__init__(up_conv(width, width, 3, stride=2), nn.ReLU(), conv(width, 3, 3), nn.Sigmoid())


class SuperHead(nn.Sequential):
    def __init__(self, width: int, super_width: int, n_rdb: int):
        super().__init__(conv(width, super_width, 1),
                         *[ResidualDenseBlock(super_width, super_width // 2, 3, act="relu") for _ in range(n_rdb)],
                         RGBHead(super_width))


class EnerzaiNet(nn.Module):
    train_only_modules = ("super_head",)

    def __init__(self, width: int = 8, growth: int = 4, n_dense: int = 3, super_width: int = 16, n_rdb: int = 3,
                 in_chans: int = 4):
        super().__init__()
        self.trunk = DenseTrunk(in_chans, width, growth, n_dense)
        self.sub_head = RGBHead(width)
        self.super_head = SuperHead(width, super_width, n_rdb)

    def forward_train(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        f = self.trunk(x)
        return {"out": self.sub_head(f), "super": self.super_head(f)}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.sub_head(self.trunk(x))


class SuperNetDetach(TrainHooks):
    """The paper's joint stage: the super-net's own validation PSNR is measured at every
    validation; once it reaches the stage's ``detach_super_at_psnr`` (dB) the super-net is
    detached: its losses are dropped and ``super_head`` is frozen for the rest of training."""

    def __init__(self):
        self.detached = False
        self._metrics = None

    def heads(self, trainer, stage) -> tuple[str, ...]:
        return tuple(h for h in stage.heads if h != "super") if self.detached else stage.heads

    def frozen(self, trainer, stage) -> tuple[str, ...]:
        return tuple(stage.freeze) + (("super_head",) if self.detached else ())

    def begin_validation(self, trainer) -> None:
        stage = trainer.stage
        want = stage is not None and stage.detach_super_at_psnr is not None and not self.detached
        self._metrics = trainer.adapter.new_metrics() if want else None

    def validation_batch(self, trainer, x, y) -> None:
        if self._metrics is not None:
            self._metrics.update(trainer.output_at_input_size(x, "super"), y)

    def end_validation(self, trainer) -> dict[str, float]:
        if self._metrics is None:
            return {}
        return {"super_psnr": self._metrics.compute()["psnr"]}

    def after_validation(self, trainer, val: dict[str, float]) -> bool:
        limit = trainer.stage.detach_super_at_psnr if trainer.stage else None
        super_psnr = val.get("super_psnr")
        detach = bool(trainer.dist.broadcast(limit is not None and super_psnr is not None and super_psnr >= limit))
        if detach and not self.detached:
            self.detached = True
            return True
        return False

    def state_dict(self) -> dict:
        return {"super_detached": self.detached}

    def load_state_dict(self, state: dict) -> None:
        self.detached = bool(state.get("super_detached", False))


_BOTH = terms(("charbonnier", 1.0), ("ms_ssim", 0.2))
_PAPER = Recipe(
    losses=_BOTH,
    optimizer="adam", lr=1e-3, lr_final=1e-5, schedule="cosine", batch_size=4, steps=100_000, augment=("flip",),
    stages=(
        # joint training; the super-net is detached once validation PSNR >= threshold
        Stage("joint", _BOTH, fraction=0.6,
              options=(("heads", ("out", "super")), ("detach_super_at_psnr", DETACH_PSNR_DB))),
        Stage("sub_finetune", _BOTH, fraction=0.4, options=(("heads", ("out",)), ("freeze", ("super_head",)))),
    ),
    notes="joint Charbonnier + MS-SSIM on sub- and super-net, detach super-net above a PSNR threshold, "
          "fine-tune the sub-net; Adam 1e-3, batch 4 (report); threshold, weights, split, decay chosen",
    hooks=SuperNetDetach,
)
_FAST = fast_recipe(("charbonnier", 1.0), ("ms_ssim", 0.2), lr=2e-3).replace(
    stages=(Stage("joint", _BOTH, fraction=0.5, options=(("heads", ("out", "super")),)),
            Stage("sub_finetune", _BOTH, fraction=0.5, options=(("heads", ("out",)),))))


@register_model("isp", paper="enerzai", recipes=Recipes(paper=_PAPER, fast=_FAST), size_multiple=1,
                dynamic_shapes=True, train_heads=("out", "super"))
def enerzai(**kwargs) -> nn.Module:
    """ENERZAi sub-net (exported) sharing a DenseNet-like trunk with a residual-dense super-net."""
    return EnerzaiNet(**kwargs)
