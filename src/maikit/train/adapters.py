"""What differs between the tasks inside the one training loop: a small adapter per task.

An adapter builds the train/val datasets, pads inputs to the model's size multiple for
validation, accumulates the official validation metrics, and names the primary metric and
its direction (from :mod:`maikit.tasks`). Everything else — optimiser, stages, checkpoints,
DDP, logging — is shared in :mod:`maikit.train.loop`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from maikit.errors import MaikitError
from maikit.tasks import DEPTH, DEPTH_MODEL_UNIT_TO_MM, ISP, TaskSpec
from maikit.train.config import TrainConfig


def pad_to_multiple(x: torch.Tensor, multiple: int) -> tuple[torch.Tensor, tuple[int, int]]:
    """Pad N x C x H x W at the bottom/right to multiples of ``multiple`` (reflect; replicate when tiny)."""
    h, w = x.shape[-2:]
    ph, pw = (-h) % multiple, (-w) % multiple
    if ph == 0 and pw == 0:
        return x, (h, w)
    mode = "reflect" if ph < h and pw < w else "replicate"
    return F.pad(x, (0, pw, 0, ph), mode=mode), (h, w)


class TaskAdapter:
    """Task-specific parts of training. Subclasses set ``task`` and the dataset builders."""

    task: TaskSpec
    unit = "images/s"  # throughput unit shown in the progress bar

    @property
    def name(self) -> str:
        return self.task.name

    @property
    def primary_metric(self) -> str:
        return self.task.primary_metric

    @property
    def higher_is_better(self) -> bool:
        return self.task.metric(self.primary_metric).higher_is_better

    def is_better(self, value: float, best: float | None) -> bool:
        if best is None:
            return True
        return value > best if self.higher_is_better else value < best

    def split_dir(self, root: str, split: str) -> Path:
        from maikit.data.layout import resolve_split

        return resolve_split(root, self.task, split)

    def val_root(self, cfg: TrainConfig) -> str:
        return cfg.val_data or cfg.data

    def train_dataset(self, cfg: TrainConfig, augment: tuple[str, ...], size_multiple: int):
        raise NotImplementedError

    def val_dataset(self, cfg: TrainConfig):
        raise NotImplementedError

    def new_metrics(self):
        raise NotImplementedError

    def data_conventions(self, cfg: TrainConfig) -> dict[str, Any]:
        return {}

    def output_scale(self) -> int:
        return self.task.scale

    @torch.no_grad()
    def predict(self, model: torch.nn.Module, x: torch.Tensor, size_multiple: int) -> torch.Tensor:
        """``model(x)`` at any input size: pad to the size multiple, crop the output back."""
        xp, (h, w) = pad_to_multiple(x, max(1, size_multiple))
        out = model(xp)
        s = self.output_scale()
        return out[..., : h * s, : w * s]


class IspAdapter(TaskAdapter):
    task = ISP
    unit = "patches/s"

    def train_dataset(self, cfg: TrainConfig, augment: tuple[str, ...], size_multiple: int):
        from maikit.data.isp import IspDataset

        patch = cfg.patch or self.task.train_input_hw[0]
        if patch % max(1, size_multiple):
            raise MaikitError(
                f"`--patch {patch}` (packed size) must be a multiple of {size_multiple} for {cfg.model}"
            )
        # the dataset couples random crops with the 8 flips/rotations; recipes all use flips
        return IspDataset(self.split_dir(cfg.data, "train"), patch=patch, augment=bool(augment), seed=cfg.seed,
                          convention=cfg.raw_convention)

    def val_dataset(self, cfg: TrainConfig):
        from maikit.data.isp import IspDataset

        return IspDataset(self.split_dir(self.val_root(cfg), "val"), patch=None, augment=False, seed=cfg.seed,
                          convention=cfg.raw_convention)

    def new_metrics(self):
        return IspValMetrics()

    def data_conventions(self, cfg: TrainConfig) -> dict[str, Any]:
        conv = cfg.raw_convention
        return {"raw_convention": conv.name, "raw_divisor": conv.divisor,
                "packed_patch": cfg.patch or self.task.train_input_hw[0]}


class IspValMetrics:
    """Official ISP metrics on validation images; MS-SSIM only when the images are large
    enough for its 5 scales (161 px), SSIM when at least one 11-px window fits."""

    def __init__(self):
        from maikit.metrics import IspMetrics

        self.full = IspMetrics()
        self.psnr: list[float] = []
        self.ssim: list[float] = []

    def update(self, pred: torch.Tensor, gt: torch.Tensor) -> None:
        from maikit.metrics import isp as m

        pred = pred.float().clamp(0, 1)
        h, w = gt.shape[-2:]
        if min(h, w) >= 161:
            self.full.update(pred, gt)
            return
        self.psnr.extend(np.atleast_1d(m.psnr(pred, gt)).tolist())
        if min(h, w) >= 11:
            self.ssim.extend(np.atleast_1d(m.ssim(pred, gt)).tolist())

    def compute(self) -> dict[str, float]:
        from maikit.metrics import average_psnr

        out: dict[str, float] = {}
        psnr, ssim = list(self.psnr), list(self.ssim)
        if self.full.images:
            psnr += self.full.per_image["psnr"]
            ssim += self.full.per_image["ssim"]
            if not self.psnr:
                out["ms_ssim"] = float(np.mean(self.full.per_image["ms_ssim"]))
        if not psnr:
            raise MaikitError("no validation images were evaluated")
        out["psnr"] = float(average_psnr(psnr))
        if ssim:
            out["ssim"] = float(np.mean(ssim))
        out["images"] = len(psnr)
        return out


class DepthAdapter(TaskAdapter):
    task = DEPTH
    unit = "images/s"
    _AUGMENT_NAMES = {"flip": "hflip", "hflip": "hflip", "rotate": "rotate", "rotation": "rotate",
                      "colour": "colour", "color": "colour", "color_jitter": "colour",
                      "colour_jitter": "colour", "r2_crop": "r2_crop", "r2crop": "r2_crop", "crop": "r2_crop"}

    def train_dataset(self, cfg: TrainConfig, augment: tuple[str, ...], size_multiple: int):
        from maikit.data.depth import Augment, DepthDataset

        unknown = [a for a in augment if a not in self._AUGMENT_NAMES]
        if unknown:
            raise MaikitError(f"unknown depth augmentation {unknown[0]!r} in the recipe of {cfg.model}; "
                              f"known: {', '.join(sorted(self._AUGMENT_NAMES))}")
        names = sorted({self._AUGMENT_NAMES[a] for a in augment})
        aug = Augment().only(*names) if names else False
        return DepthDataset(self.split_dir(cfg.data, "train"), augment=aug, seed=cfg.seed)

    def val_dataset(self, cfg: TrainConfig):
        from maikit.data.depth import DepthDataset

        return DepthDataset(self.split_dir(self.val_root(cfg), "val"), augment=False, seed=cfg.seed)

    def new_metrics(self):
        return DepthValMetrics()

    def data_conventions(self, cfg: TrainConfig) -> dict[str, Any]:
        return {"depth_unit_model": "m", "depth_unit_files": "mm", "mm_per_model_unit": DEPTH_MODEL_UNIT_TO_MM}


class DepthValMetrics:
    """Official depth metrics (per-image mean) on predictions and targets given in metres."""

    def __init__(self):
        from maikit.metrics import DepthMetrics

        self.acc = DepthMetrics(pooled=False, unit="mm")

    def update(self, pred_m: torch.Tensor, gt_m: torch.Tensor) -> None:
        # targets come from uint16 mm files: round back to whole millimetres exactly
        gt_mm = torch.round(gt_m.float() * DEPTH_MODEL_UNIT_TO_MM)
        self.acc.update(pred_m.float() * DEPTH_MODEL_UNIT_TO_MM, gt_mm)

    def compute(self) -> dict[str, float]:
        return self.acc.compute()


ADAPTERS: dict[str, type[TaskAdapter]] = {"isp": IspAdapter, "depth": DepthAdapter}


def get_adapter(task: TaskSpec) -> TaskAdapter:
    return ADAPTERS[task.name]()
