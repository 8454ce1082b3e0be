"""The typed training configuration, saved as ``RUN/config.json`` in every run folder.

Fields left at ``None`` take their value from the model's recipe (``steps``, ``batch``,
``lr``) or the task spec (``patch``); :func:`resolve_config` fills them in, so the saved file
always states what actually ran.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

from maikit.errors import MaikitError, describe
from maikit.tasks import ISP, TASK_NAMES, RawConvention, TaskSpec, get_raw_convention, get_task

# auto: float16 autocast + loss scaling on CUDA, full float32 on CPU; off: float32 everywhere;
# fp16: as auto, CUDA only; bf16: bfloat16 autocast (no loss scaling) on CPU or CUDA — on CPUs
# with native bfloat16 (AVX512-BF16 / AMX) a training step runs about twice as fast.
AMP_MODES = ("auto", "off", "fp16", "bf16")


@dataclass
class TrainConfig:
    task: str
    model: str  # "isp/smallnet" (or "smallnet" with task given)
    data: str  # dataset root (with train/ and val/) or a train split folder
    out: str  # run folder
    steps: int | None = None  # total optimiser steps (recipe's when None)
    batch: int | None = None  # per-process batch size (recipe's when None)
    lr: float | None = None  # initial learning rate (recipe's when None)
    patch: int | None = None  # ISP: packed crop size (task's 128 when None); depth: unused
    recipe: str = "paper"  # paper | fast
    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    resume: bool = False
    val_every: int | None = None  # steps between validations (steps // 10 when None)
    val_images: int | None = None  # validate on at most this many images (all when None)
    ckpt_every: int | None = None  # steps between last.pt saves (= val_every when None)
    workers: int = 0  # DataLoader worker processes
    vgg_weights: str | None = None  # torchvision-format VGG-19 state dict for perceptual losses
    teacher: str | None = None  # run folder or checkpoint of a trained teacher (distillation)
    weights: str | None = None  # initial weights for the model
    amp: str = "auto"  # mixed precision, one of AMP_MODES (see maikit.train.loop.amp_dtype)
    channels_last: bool = False  # NHWC memory format for the model and its batches (faster CPU convolutions)
    max_minutes: float | None = None  # time budget for the training loop (see budget_clock)
    budget_clock: str = "wall"  # wall: elapsed time; cpu: this process's CPU time (fair under other load)
    stop_at: int | None = None  # stop after this step as if interrupted (continue with resume)
    convention: str = ISP.raw_convention.name  # ISP RAW convention (maikit.tasks.RAW_CONVENTIONS)
    val_data: str | None = None  # validation root/split when not under `data`

    # The config holds names (it is saved and read back as JSON/YAML); these give their objects.
    @property
    def task_spec(self) -> TaskSpec:
        return get_task(self.task)

    @property
    def raw_convention(self) -> RawConvention:
        return get_raw_convention(self.convention)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "TrainConfig":
        known = {f.name for f in fields(cls)}
        d = {k: v for k, v in d.items() if k in known}
        if isinstance(d.get("amp"), bool):  # runs saved before `amp` named a precision
            d["amp"] = "auto" if d["amp"] else "off"
        return cls(**d)

    def replace(self, **changes) -> "TrainConfig":
        return replace(self, **changes)


# Settings a resumed run may change; everything else comes from the saved run.
RESUMABLE_OVERRIDES = ("steps", "stop_at", "max_minutes", "budget_clock", "device", "workers", "val_every", "val_images",
                       "ckpt_every", "amp", "channels_last")


def normalise_model_name(model: str, task: str) -> str:
    """``smallnet`` -> ``isp/smallnet``; ``isp/smallnet`` stays; a task mismatch is an error."""
    if task not in TASK_NAMES:
        raise MaikitError(f"unknown task `{task}`; choose one of {', '.join(TASK_NAMES)}")
    if "/" in model:
        prefix = model.split("/", 1)[0]
        if prefix != task:
            raise MaikitError(f"model `{model}` belongs to task `{prefix}`, not `{task}`")
        return model
    return f"{task}/{model}"


def read_config(path: str | Path) -> TrainConfig:
    path = Path(path)
    try:
        return TrainConfig.from_dict(json.loads(path.read_text()))
    except FileNotFoundError:
        raise MaikitError("run configuration not found", path) from None
    except (json.JSONDecodeError, TypeError, UnicodeDecodeError) as e:
        raise MaikitError(f"unreadable run configuration: {describe(e)}", path) from None
