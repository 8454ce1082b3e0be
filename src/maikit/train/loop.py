"""The one training loop: every model of both tasks trains here; tasks plug in an adapter.

``train(TrainConfig) -> TrainResult``. Per step: the recipe stage's losses (switching at
stage boundaries), the learning rate as a pure function of the step, an optional teacher's
distillation loss, AMP on CUDA, DDP under ``torchrun``. Periodically: validation with the
official metrics, ``RUN/metrics.csv`` + ``RUN/curves.png``, ``RUN/last.pt`` and (on a new best
primary metric) ``RUN/best.pt``.

Exact resumption: the data order of every epoch is a function of (seed, epoch) only, each
item's augmentation of (seed, epoch, index), the learning rate of the step, and the RNG
states are saved with the weights, optimiser and stage flags; a resumed run picks up the
epoch at the batch where it stopped. On the CPU, N steps in one go and N/2 + N/2 with
``resume`` give identical weights.
"""

from __future__ import annotations

import math
import os
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch
import torch.nn as nn
from torch.utils.data import DataLoader
from torch.utils.data.distributed import DistributedSampler

from maikit.errors import MaikitError
from maikit.io import write_json
from maikit.losses import build_distill_loss, build_loss
from maikit.models import get_model_entry
from maikit.models.recipe import Recipe
from maikit.train.adapters import TaskAdapter, get_adapter, pad_to_multiple
from maikit.train.checkpoint import (
    BEST,
    LAST,
    load_checkpoint,
    load_initial_weights,
    load_state_into,
    load_trained,
    rng_state,
    save_checkpoint,
    seed_everything,
    set_rng_state,
)
from maikit.train.config import AMP_MODES, RESUMABLE_OVERRIDES, TrainConfig, normalise_model_name
from maikit.train.distributed import DistContext, init_distributed, resolve_device
from maikit.train.records import RunRecord
from maikit.train.schedule import PlannedStage, plan_stages, recipe_lr, stage_at

OPTIMIZERS = ("adam", "adamw", "sgd", "rmsprop")


@dataclass
class TrainResult:
    run_dir: Path
    step: int  # steps done
    total_steps: int
    primary_metric: str
    best_value: float | None
    best_step: int | None
    last_val: dict[str, float] = field(default_factory=dict)
    stopped: str = "completed"  # completed | time budget | stop_at
    train_seconds: float = 0.0
    throughput: float = 0.0  # samples (patches or images) per second, all ranks
    unit: str = "images/s"
    files: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_dir": str(self.run_dir), "step": self.step, "total_steps": self.total_steps,
            "primary_metric": self.primary_metric, "best_value": self.best_value, "best_step": self.best_step,
            "last_val": self.last_val, "stopped": self.stopped, "train_seconds": round(self.train_seconds, 3),
            "throughput": round(self.throughput, 3), "unit": self.unit, "files": self.files,
        }


# --------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------
class _TrainForward(nn.Module):
    """``forward_train`` as a module call (what DDP wraps), returning only the outputs in use.

    Returning only what the losses read keeps DDP's unused-parameter search right when a
    stage drops a head (e.g. ENERZAi's detached super-net).
    """

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model
        self.keep: tuple[str, ...] = ("out",)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        if hasattr(self.model, "forward_train"):
            out = self.model.forward_train(x)
            if torch.is_tensor(out):
                out = {"out": out}
        else:
            out = {"out": self.model(x)}
        return {k: v for k, v in out.items() if k in self.keep}


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


def _worker_init(worker_id: int) -> None:
    # items draw from explicit (seed, epoch, index) generators; this keeps any library that
    # uses the global generators reproducible too
    seed = torch.initial_seed() % 2**32
    np.random.seed(seed)
    random.seed(seed)


def _has_checkpoint(run_dir: Path) -> bool:
    return (run_dir / LAST).is_file() or (run_dir / BEST).is_file()


def _field_default(name: str):
    return TrainConfig.__dataclass_fields__[name].default


def resolve_config(cfg: TrainConfig) -> tuple[TrainConfig, Any, Recipe, dict | None]:
    """Fill the recipe's defaults in; for ``resume`` start from the saved run's config.

    Returns (config, model entry, recipe, checkpoint to resume from or None).
    """
    run_dir = Path(cfg.out)
    ckpt = None
    if cfg.resume:
        if not (run_dir / LAST).is_file():
            raise MaikitError("nothing to resume: no last.pt in this run folder", run_dir)
        ckpt = load_checkpoint(run_dir, prefer=LAST)
        saved = TrainConfig.from_dict(ckpt["config"])
        changes = {k: getattr(cfg, k) for k in RESUMABLE_OVERRIDES
                   if getattr(cfg, k) is not None and getattr(cfg, k) != _field_default(k)}
        # how long this call runs is this call's business, never inherited
        changes.update(stop_at=cfg.stop_at, max_minutes=cfg.max_minutes, budget_clock=cfg.budget_clock)
        cfg = saved.replace(resume=True, out=str(run_dir), **changes)
    elif _has_checkpoint(run_dir):
        raise MaikitError("this run folder already has a checkpoint; pass --resume to continue it "
                          "or choose another --out", run_dir)
    name = normalise_model_name(cfg.model, cfg.task)
    entry = get_model_entry(name)
    if entry.task != cfg.task:
        raise MaikitError(f"model `{name}` is a {entry.task} model, not {cfg.task}")
    if not entry.trainable or entry.recipes is None:
        raise MaikitError(f"model `{name}` has no learned weights to train (a fixed pipeline)")
    recipe = entry.recipes.get(cfg.recipe)
    cfg = cfg.replace(
        model=name,
        steps=int(cfg.steps if cfg.steps is not None else recipe.steps),
        batch=int(cfg.batch if cfg.batch is not None else recipe.batch_size),
        lr=float(cfg.lr if cfg.lr is not None else recipe.lr),
    )
    if cfg.steps < 1 or cfg.batch < 1 or not cfg.lr > 0:
        raise MaikitError(f"`steps`, `batch` and `lr` must be positive, got {cfg.steps}, {cfg.batch}, {cfg.lr}")
    if recipe.needs_vgg() and not cfg.vgg_weights:
        raise MaikitError(
            f"the `{cfg.recipe}` recipe of {name} uses the VGG-19 perceptual loss, which needs pretrained "
            "weights: pass --vgg-weights PATH (a torchvision vgg19 state dict) or use --recipe fast"
        )
    return cfg, entry, recipe, ckpt


def amp_dtype(mode: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype of an ``amp`` mode (``AMP_MODES``) on ``device``; None = float32."""
    if mode not in AMP_MODES:
        raise MaikitError(f"unknown mixed-precision mode `{mode}`; choose one of {', '.join(AMP_MODES)}")
    if mode == "off" or (mode == "auto" and device.type != "cuda"):
        return None
    if mode == "fp16" and device.type != "cuda":
        raise MaikitError("float16 mixed precision needs a CUDA device; on CPU use --amp bf16")
    return torch.bfloat16 if mode == "bf16" else torch.float16


# --------------------------------------------------------------------------------------
# the trainer
# --------------------------------------------------------------------------------------
class Trainer:
    def __init__(self, cfg: TrainConfig, progress: bool = True):
        self.device = resolve_device(cfg.device, int(os.environ.get("LOCAL_RANK", "0")))
        self.dist: DistContext = init_distributed(self.device)
        cfg, self.entry, self.recipe, resume_ckpt = resolve_config(cfg)
        self.cfg = cfg
        self.run_dir = Path(cfg.out)
        self.adapter: TaskAdapter = get_adapter(cfg.task)
        self.show_progress = progress and self.dist.main
        self.amp_dtype = amp_dtype(cfg.amp, self.device)
        self.use_amp = self.amp_dtype is not None
        self.memory_format = torch.channels_last if cfg.channels_last else torch.preserve_format

        seed_everything(cfg.seed)  # same on every rank: identical initial weights
        self.train_ds = self.adapter.train_dataset(cfg, tuple(self.recipe.augment), self.entry.size_multiple)
        self.val_ds = self.adapter.val_dataset(cfg) if self.dist.main else None
        self.model = self.entry.build().to(self.device, memory_format=self.memory_format)
        if cfg.weights and resume_ckpt is None:
            load_initial_weights(self.model, cfg.weights)
        self.teacher = self._load_teacher() if cfg.teacher else None
        self.forward = _TrainForward(self.model)
        self.ddp = None
        if self.dist.enabled:
            from torch.nn.parallel import DistributedDataParallel

            ids = [self.device.index] if self.device.type == "cuda" else None
            # only stages that drop a head or freeze modules leave parameters without gradients
            unused = any(k in dict(s.options) for s in self.recipe.stages
                         for k in ("heads", "outputs", "freeze", "detach_super_at_psnr"))
            self.ddp = DistributedDataParallel(self.forward, device_ids=ids, find_unused_parameters=unused)

        self.plan = plan_stages(self.recipe, cfg.steps)
        self.distill = self._build_distill() if self.teacher is not None else None
        params = list(self.model.parameters()) + (list(self.distill.parameters()) if self.distill else [])
        self.optimizer = build_optimizer(self.recipe.optimizer, params, cfg.lr, self.recipe.weight_decay)
        # loss scaling only for float16: bfloat16 has float32's exponent range
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp_dtype == torch.float16)

        self.step = 0
        self.best_value: float | None = None
        self.best_step: int | None = None
        self.super_detached = False
        self.last_val: dict[str, float] = {}
        self.train_seconds = 0.0
        self.samples_done = 0
        primary = self.adapter.task.metric(self.adapter.primary_metric)
        self.record = RunRecord(self.run_dir, primary.name, f"{primary.title} ({primary.unit})" if primary.unit
                                else primary.title)
        self.stage: PlannedStage | None = None
        self.loss_fn = None
        if resume_ckpt is not None:
            self._restore(resume_ckpt)
        elif self.dist.main:
            write_json(self.run_dir / "config.json", self.cfg.to_dict())

    # ---------------------------------------------------------------- setup pieces
    def _load_teacher(self) -> nn.Module:
        teacher, ckpt = load_trained(self.cfg.teacher, self.device)
        if ckpt.get("task") != self.cfg.task:
            raise MaikitError(f"the teacher is a {ckpt.get('task')} model, the student a {self.cfg.task} model",
                              ckpt["path"])
        for p in teacher.parameters():
            p.requires_grad_(False)
        return teacher.to(memory_format=self.memory_format).eval()

    @staticmethod
    def _features(model: nn.Module, x: torch.Tensor, who: str, name: str):
        if not hasattr(model, "forward_train"):
            raise MaikitError(f"the {who} `{name}` has no forward_train, so it exposes no features to distil")
        out = model.forward_train(x)
        if not isinstance(out, dict) or "features" not in out:
            raise MaikitError(f"the {who} `{name}` returns no `features` from forward_train; cannot distil")
        return out["features"]

    def _build_distill(self) -> nn.Module:
        name = self.recipe.distill or "feature_l2"
        loss = build_distill_loss(name).to(self.device)
        # one probe forward (eval mode: BatchNorm statistics untouched) sizes the adapters
        x = self.train_ds[0][0].unsqueeze(0).to(self.device)
        self.model.eval()
        with torch.no_grad():
            s = self._features(self.model, x, "student", self.cfg.model)
            t = self._features(self.teacher, x, "teacher", "teacher")
        self.model.train()
        if hasattr(loss, "prepare"):
            loss.prepare(s, t)
        return loss.to(self.device)

    def _restore(self, ckpt: dict) -> None:
        load_state_into(self.model, ckpt["model"], ckpt["path"])
        try:
            self.optimizer.load_state_dict(ckpt["optimizer"])
        except (ValueError, KeyError) as e:
            raise MaikitError(f"the optimiser state does not fit this run ({e})", ckpt["path"]) from None
        st = ckpt.get("train_state", {})
        if self.distill is not None and st.get("distill") is not None:
            self.distill.load_state_dict(st["distill"])
        if st.get("scaler") and self.scaler.is_enabled():
            self.scaler.load_state_dict(st["scaler"])
        self.super_detached = bool(st.get("super_detached", False))
        self.train_seconds = float(st.get("train_seconds", 0.0))
        self.samples_done = int(st.get("samples_done", 0))
        self.last_val = dict(ckpt.get("last_val", {}))
        best = ckpt.get("best", {})
        self.best_value, self.best_step = best.get("value"), best.get("step")
        self.step = int(ckpt["step"])
        if self.dist.main:
            self.record.load(self.step)
        self._resume_rng = ckpt["rng"]

    # ---------------------------------------------------------------- data
    def _sampler(self) -> DistributedSampler:
        return DistributedSampler(self.train_ds, num_replicas=self.dist.world, rank=self.dist.rank, shuffle=True,
                                  seed=self.cfg.seed, drop_last=False)

    @property
    def steps_per_epoch(self) -> int:
        return max(1, len(self._sampler()) // self.cfg.batch)

    def _batches(self, start_step: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        spe, b = self.steps_per_epoch, self.cfg.batch
        epoch, offset = divmod(start_step, spe)
        while True:
            sampler = self._sampler()
            sampler.set_epoch(epoch)
            indices = list(sampler)[offset * b: spe * b]
            self.train_ds.set_epoch(epoch)
            # a private generator: creating loaders never touches the global RNG streams
            gen = torch.Generator().manual_seed(self.cfg.seed * 1_000_003 + epoch)
            loader = DataLoader(self.train_ds, batch_size=b, sampler=indices, num_workers=self.cfg.workers,
                                worker_init_fn=_worker_init, generator=gen, drop_last=False,
                                pin_memory=self.device.type == "cuda", persistent_workers=False)
            yield from loader
            epoch, offset = epoch + 1, 0

    # ---------------------------------------------------------------- stages
    def _enter_stage(self, stage: PlannedStage) -> None:
        self.stage = stage
        heads = stage.heads
        if self.super_detached:
            heads = tuple(h for h in heads if h != "super")
        self.loss_fn = build_loss(stage.stage.losses, task=self.cfg.task, vgg_weights=self.cfg.vgg_weights,
                                  outputs=heads).to(self.device)
        keep = set(self.loss_fn.outputs_used)
        if self.distill is not None and stage.distill:
            keep.add("features")
        self.forward.keep = tuple(sorted(keep))
        frozen = set(stage.freeze) | ({"super_head"} if self.super_detached else set())
        self.frozen = [p for n, p in self.model.named_parameters() if any(n.startswith(f) for f in frozen)]

    def _maybe_detach_super(self, super_psnr: float | None) -> None:
        limit = self.stage.detach_super_at_psnr if self.stage else None
        detach = limit is not None and super_psnr is not None and super_psnr >= limit
        detach = bool(self.dist.broadcast(detach))
        if detach and not self.super_detached:
            self.super_detached = True
            self._enter_stage(self.stage)

    # ---------------------------------------------------------------- one step
    def _train_step(self, x: torch.Tensor, y: torch.Tensor) -> dict[str, float]:
        fwd = self.ddp if self.ddp is not None else self.forward
        with torch.autocast(device_type=self.device.type, dtype=self.amp_dtype, enabled=self.use_amp):
            outputs = fwd(x)
        total, parts = self.loss_fn(outputs, {"y": y})
        if self.distill is not None and self.stage.distill:
            with torch.no_grad(), torch.autocast(device_type=self.device.type, dtype=self.amp_dtype,
                                                 enabled=self.use_amp):
                t_feats = self.teacher.forward_train(x)["features"]
            d = self.distill(_float(outputs["features"]), _float(t_feats))
            parts["distill"] = float(d.detach())
            total = total + self.recipe.distill_weight * d
        if not self.scaler.is_enabled() and not torch.isfinite(total):  # a float16 scaler skips such steps
            raise MaikitError(f"the training loss became {float(total)} at step {self.step + 1}; "
                              "lower --lr or check the data")
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(total).backward()
        for p in self.frozen:
            p.grad = None
        self.scaler.step(self.optimizer)
        self.scaler.update()
        parts["loss"] = float(total.detach())
        return parts

    # ---------------------------------------------------------------- validation
    @torch.no_grad()
    def validate(self) -> dict[str, float]:
        """Official metrics on the val split (rank 0), at most ``val_images`` images."""
        model = self.model
        was_training = model.training
        model.eval()
        metrics = self.adapter.new_metrics()
        want_super = (self.stage is not None and self.stage.detach_super_at_psnr is not None
                      and not self.super_detached and hasattr(model, "forward_train"))
        super_metrics = self.adapter.new_metrics() if want_super else None
        loader = DataLoader(self.val_ds, batch_size=1, shuffle=False, num_workers=self.cfg.workers)
        for i, (x, y) in enumerate(loader):
            if self.cfg.val_images is not None and i >= self.cfg.val_images:
                break
            x, y = x.to(self.device), y.to(self.device)
            metrics.update(self.adapter.predict(model, x, self.entry.size_multiple), y)
            if super_metrics is not None:
                xp, (h, w) = pad_to_multiple(x, max(1, self.entry.size_multiple))
                s = self.adapter.output_scale()
                sup = model.forward_train(xp)["super"][..., : h * s, : w * s]
                super_metrics.update(sup, y)
        if was_training:
            model.train()
        result = metrics.compute()
        if super_metrics is not None:
            result["super_psnr"] = super_metrics.compute()["psnr"]
        return result

    # ---------------------------------------------------------------- files
    def _payload(self, lr: float) -> dict[str, Any]:
        return {
            "model_name": self.cfg.model,
            "task": self.cfg.task,
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": {"schedule": self.recipe.schedule, "step": self.step, "lr": lr},
            "step": self.step,
            "config": self.cfg.to_dict(),
            "recipe": self.recipe.to_dict(),
            "rng": rng_state(),
            "data": self.adapter.data_conventions(self.cfg),
            "best": {"metric": self.adapter.primary_metric, "value": self.best_value, "step": self.best_step,
                     "higher_is_better": self.adapter.higher_is_better},
            "last_val": self.last_val,
            "train_state": {
                "super_detached": self.super_detached,
                "stage": self.stage.index if self.stage else 0,
                "distill": self.distill.state_dict() if self.distill is not None else None,
                "scaler": self.scaler.state_dict() if self.scaler.is_enabled() else None,
                "train_seconds": self.train_seconds,
                "samples_done": self.samples_done,
            },
        }

    # ---------------------------------------------------------------- the loop
    def run(self) -> TrainResult:
        cfg, total = self.cfg, self.cfg.steps
        val_every = cfg.val_every or max(1, total // 10)
        ckpt_every = cfg.ckpt_every or val_every
        # training-loss rows between validations, so curves show the loss even on short runs
        log_every = max(1, val_every // 5)
        budget_s = None if cfg.max_minutes is None else float(cfg.max_minutes) * 60.0
        if cfg.budget_clock not in ("wall", "cpu"):
            raise MaikitError(f"`budget_clock` must be wall or cpu, got {cfg.budget_clock!r}")
        # cpu: the process's own CPU time (all its threads), so a budget means the same work
        # whatever else the machine is doing.
        clock = time.process_time if cfg.budget_clock == "cpu" else time.perf_counter
        # A time-budgeted run without --val-every validates every tenth of the budget (and logs
        # the loss every fiftieth): the step count it will reach is not known in advance.
        timed = budget_s is not None and cfg.val_every is None
        stop_at = cfg.stop_at if cfg.stop_at is not None else total
        samples_per_step = cfg.batch * self.dist.world
        batches = self._batches(self.step)
        if getattr(self, "_resume_rng", None) is not None:
            set_rng_state(self._resume_rng)
        self.model.train()
        acc: dict[str, float] = {}
        acc_n = 0
        stopped = "completed"
        lr = recipe_lr(self.recipe, self.step, total, cfg.lr)
        progress = _Progress(self.show_progress, total, self.step, self.adapter.unit, cfg.model)
        loop_start = clock()
        last_val_t = last_log_t = loop_start
        try:
            while self.step < min(total, stop_at):
                stage = stage_at(self.plan, self.step)
                if self.stage is None or stage.index != self.stage.index:
                    self._enter_stage(stage)
                lr = recipe_lr(self.recipe, self.step, total, cfg.lr)
                for g in self.optimizer.param_groups:
                    g["lr"] = lr
                t0 = time.perf_counter()
                x, y = next(batches)
                x = x.to(self.device, non_blocking=True, memory_format=self.memory_format)
                y = y.to(self.device, non_blocking=True)
                parts = self._train_step(x, y)
                if self.device.type == "cuda":
                    torch.cuda.synchronize(self.device)
                self.train_seconds += time.perf_counter() - t0
                self.step += 1
                self.samples_done += samples_per_step
                for k, v in parts.items():
                    acc[k] = acc.get(k, 0.0) + v
                acc_n += 1
                rate = self.samples_done / max(self.train_seconds, 1e-9)
                progress.update(self.step, parts["loss"], lr, rate, stage.stage.name)

                over_budget = budget_s is not None and clock() - loop_start >= budget_s
                over_budget = bool(self.dist.broadcast(over_budget)) if budget_s is not None else False
                last = self.step >= total or self.step >= stop_at or over_budget
                if timed:
                    now = clock()
                    due_val = bool(self.dist.broadcast(now - last_val_t >= budget_s / 10))
                    due_log = bool(self.dist.broadcast(now - last_log_t >= budget_s / 50))
                else:
                    due_val, due_log = self.step % val_every == 0, self.step % log_every == 0
                if due_val or last:
                    self._validate_and_log(acc, acc_n, lr, rate)
                    acc, acc_n = {}, 0
                    last_val_t = last_log_t = clock()
                elif due_log:
                    self._log_row(acc, acc_n, lr, rate)
                    acc, acc_n = {}, 0
                    last_log_t = clock()
                if self.step % ckpt_every == 0 or last:
                    self._save_last(lr)
                if over_budget:
                    stopped = "time budget"
                    break
            else:
                if self.step >= stop_at and self.step < total:
                    stopped = "stop_at"
        finally:
            progress.close()
        result = TrainResult(
            run_dir=self.run_dir, step=self.step, total_steps=total, primary_metric=self.adapter.primary_metric,
            best_value=self.best_value, best_step=self.best_step, last_val=self.last_val, stopped=stopped,
            train_seconds=self.train_seconds, unit=self.adapter.unit,
            throughput=self.samples_done / max(self.train_seconds, 1e-9),
            files={k: str(self.run_dir / f) for k, f in (("last", LAST), ("best", BEST), ("metrics", "metrics.csv"),
                                                         ("curves", "curves.png"), ("config", "config.json"))
                   if (self.run_dir / f).exists()},
        )
        if self.dist.main:
            write_json(self.run_dir / "summary.json", result.to_dict())
            result.files["summary"] = str(self.run_dir / "summary.json")
        self.dist.barrier()
        return result

    def _validate_and_log(self, acc: dict[str, float], n: int, lr: float, rate: float) -> None:
        val = self.validate() if self.dist.main else None
        val = self.dist.broadcast(val)
        self.last_val = {k: float(v) for k, v in val.items()}
        self._maybe_detach_super(val.get("super_psnr"))
        primary = val.get(self.adapter.primary_metric)
        self._log_row(acc, n, lr, rate, val)
        if self.dist.main:
            self.record.write()
        if primary is not None and math.isfinite(primary) and self.adapter.is_better(primary, self.best_value):
            self.best_value, self.best_step = float(primary), self.step
            if self.dist.main:
                save_checkpoint(self.run_dir / BEST, self._payload(lr))

    def _log_row(self, acc: dict[str, float], n: int, lr: float, rate: float, val: dict | None = None) -> None:
        """One metrics.csv row: mean training losses since the last row, and validation if given."""
        if not self.dist.main:
            return
        row: dict[str, Any] = {"step": self.step, "stage": self.stage.stage.name if self.stage else "", "lr": lr}
        row.update({k: v / max(n, 1) for k, v in acc.items()})
        row[self.adapter.unit.replace("/", "_per_")] = rate
        row.update({f"val_{k}": v for k, v in (val or {}).items() if k not in ("images", "skipped")})
        self.record.add(row)

    def _save_last(self, lr: float) -> None:
        if self.dist.main:
            save_checkpoint(self.run_dir / LAST, self._payload(lr))


def _float(f):
    if torch.is_tensor(f):
        return f.float()
    if isinstance(f, dict):
        return {k: v.float() for k, v in f.items()}
    return [v.float() for v in f]


class _Progress:
    """Rich progress bar on stderr (loss, lr, throughput); silent when disabled."""

    def __init__(self, enabled: bool, total: int, start: int, unit: str, title: str):
        self.enabled = enabled
        if not enabled:
            return
        from rich.console import Console
        from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn,
                                   TimeRemainingColumn)

        self.unit = unit
        self.bar = Progress(
            TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("{task.fields[info]}"), TimeElapsedColumn(), TimeRemainingColumn(),
            console=Console(stderr=True), transient=False,
        )
        self.task = self.bar.add_task(title, total=total, completed=start, info="")
        self.bar.start()

    def update(self, step: int, loss: float, lr: float, rate: float, stage: str) -> None:
        if self.enabled:
            self.bar.update(self.task, completed=step,
                            info=f"{stage} loss {loss:.4g} lr {lr:.2e} {rate:.1f} {self.unit}")

    def close(self) -> None:
        if self.enabled:
            self.bar.stop()


def train(cfg: TrainConfig, progress: bool = True) -> TrainResult:
    """Train ``cfg.model`` per its recipe; see the module docstring. Returns a :class:`TrainResult`."""
    trainer = Trainer(cfg, progress=progress)
    try:
        return trainer.run()
    finally:
        trainer.dist.close()
