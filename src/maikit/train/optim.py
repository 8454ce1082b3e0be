"""The optimiser step: one update of the weights, with mixed precision where asked.

:class:`OptimStep` owns the optimiser, the autocast dtype and the float16 loss scaler
(mmengine calls this an optimiser wrapper): forward passes run inside :meth:`autocast`,
:meth:`step` does backward, drops the gradients of frozen parameters, steps and updates
the scaler. :func:`build_optimizer` and :func:`amp_dtype` turn a recipe's and a config's
names into objects.
"""

from __future__ import annotations

import contextlib
from typing import Iterable

import torch

from maikit.errors import MaikitError
from maikit.train.config import AMP_MODES

OPTIMIZERS = ("adam", "adamw", "sgd", "rmsprop")


def build_optimizer(name: str, params, lr: float, weight_decay: float = 0.0) -> torch.optim.Optimizer:
    name = name.lower()
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=0.9, weight_decay=weight_decay)
    if name == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr, weight_decay=weight_decay)
    raise MaikitError(f"unknown optimizer `{name}` in the recipe; choose one of {', '.join(OPTIMIZERS)}")


def amp_dtype(mode: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype of an ``amp`` mode (``AMP_MODES``) on ``device``; None = float32."""
    if mode not in AMP_MODES:
        raise MaikitError(f"unknown mixed-precision mode `{mode}`; choose one of {', '.join(AMP_MODES)}")
    if mode == "off" or (mode == "auto" and device.type != "cuda"):
        return None
    if mode == "fp16" and device.type != "cuda":
        raise MaikitError("float16 mixed precision needs a CUDA device; on CPU use --amp bf16")
    return torch.bfloat16 if mode == "bf16" else torch.float16


class OptimStep:
    """Optimiser + autocast + loss scaler: ``with step.autocast(): loss = ...; step.step(loss, frozen)``."""

    def __init__(self, optimizer: torch.optim.Optimizer, device: torch.device, dtype: torch.dtype | None):
        self.optimizer = optimizer
        self.device = device
        self.dtype = dtype
        # loss scaling only for float16: bfloat16 has float32's exponent range
        self.scaler = torch.amp.GradScaler("cuda", enabled=dtype == torch.float16)

    @property
    def enabled(self) -> bool:
        return self.dtype is not None

    def autocast(self) -> contextlib.AbstractContextManager:
        return torch.autocast(device_type=self.device.type, dtype=self.dtype, enabled=self.enabled)

    def set_lr(self, lr: float) -> None:
        for g in self.optimizer.param_groups:
            g["lr"] = lr

    def step(self, loss: torch.Tensor, frozen: Iterable[torch.nn.Parameter], step_no: int) -> None:
        """Backward ``loss``, drop the ``frozen`` parameters' gradients, update the weights."""
        if not self.scaler.is_enabled() and not torch.isfinite(loss):  # a float16 scaler skips such steps
            raise MaikitError(f"the training loss became {float(loss)} at step {step_no}; "
                              "lower --lr or check the data")
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        for p in frozen:
            p.grad = None
        self.scaler.step(self.optimizer)
        self.scaler.update()

    def scaler_state(self) -> dict | None:
        return self.scaler.state_dict() if self.scaler.is_enabled() else None

    def load_state(self, optimizer_state: dict, scaler_state: dict | None, path: str) -> None:
        try:
            self.optimizer.load_state_dict(optimizer_state)
        except (ValueError, KeyError) as e:
            raise MaikitError(f"the optimiser state does not fit this run ({e})", path) from None
        if scaler_state and self.scaler.is_enabled():
            self.scaler.load_state_dict(scaler_state)
