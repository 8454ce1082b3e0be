"""The one training loop: every model of both tasks trains here; tasks plug in an adapter.

``train(TrainConfig) -> TrainResult``. Per step: the recipe stage's losses (switching at
stage boundaries), the learning rate as a pure function of the step, an optional teacher's
distillation loss, one optimiser step (:mod:`maikit.train.optim`: AMP, loss scaling, frozen
parameters), DDP under ``torchrun``. When :mod:`maikit.train.cadence` says so: validation
with the official metrics, ``RUN/metrics.csv`` + ``RUN/curves.png``, ``RUN/last.pt`` and (on a
new best primary metric) ``RUN/best.pt``. What a model trains differently (ENERZAi's
super-network) comes as hooks from its recipe (:class:`maikit.models.recipe.TrainHooks`).

Exact resumption: the data order of every epoch is a function of (seed, epoch) only, each
item's augmentation of (seed, epoch, index), the learning rate of the step, and the RNG
states are saved with the weights, optimiser and stage flags; a resumed run picks up the
epoch at the batch where it stopped. On the CPU, N steps in one go and N/2 + N/2 with
``resume`` give identical weights.
"""

from __future__ import annotations

import contextlib
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
from maikit.models.recipe import Recipe, TrainHooks
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
from maikit.train.cadence import Cadence
from maikit.train.config import RESUMABLE_OVERRIDES, TrainConfig, normalise_model_name
from maikit.train.distributed import DistContext, init_distributed, resolve_device
from maikit.train.optim import OPTIMIZERS, OptimStep, amp_dtype, build_optimizer  # noqa: F401  (re-exported)
from maikit.train.records import RunRecord
from maikit.train.schedule import PlannedStage, plan_stages, recipe_lr, stage_at

RUN_FILES = ("config.json", "metrics.csv", "curves.png", "summary.json")  # besides the checkpoints


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
        self.adapter: TaskAdapter = get_adapter(cfg.task_spec)
        self.show_progress = progress and self.dist.main
        amp = amp_dtype(cfg.amp, self.device)  # a bad --amp is refused before any data is read
        self.hooks: TrainHooks = self.recipe.hooks() if self.recipe.hooks else TrainHooks()
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
        self.optim = OptimStep(build_optimizer(self.recipe.optimizer, params, cfg.lr, self.recipe.weight_decay),
                               self.device, amp)

        self.step = 0
        self.best_value: float | None = None
        self.best_step: int | None = None
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
        # after the run folder proved writable; a failure here removes what the run wrote (see train())
        self._check_data()

    # ---------------------------------------------------------------- setup pieces
    def _check_data(self) -> None:
        """Read the first training pair and every validation pair that validation will read,
        before step 1: a broken split fails the run before training starts (and ``train``
        removes the ``config.json`` it wrote)."""
        if len(self.train_ds) == 0:
            raise MaikitError("the training split has no pairs", self.adapter.split_dir(self.cfg.data, "train"))
        self.train_ds[0]
        if self.val_ds is None:
            return
        n = len(self.val_ds) if self.cfg.val_images is None else min(len(self.val_ds), self.cfg.val_images)
        if n == 0:
            raise MaikitError("the validation split has no pairs",
                              self.adapter.split_dir(self.adapter.val_root(self.cfg), "val"))
        for i in range(n):
            self.val_ds[i]

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
        st = ckpt.get("train_state", {})
        self.optim.load_state(ckpt["optimizer"], st.get("scaler"), ckpt["path"])
        if self.distill is not None and st.get("distill") is not None:
            self.distill.load_state_dict(st["distill"])
        self.hooks.load_state_dict(st)
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
        self.loss_fn = build_loss(stage.stage.losses, task=self.adapter.task, vgg_weights=self.cfg.vgg_weights,
                                  outputs=self.hooks.heads(self, stage)).to(self.device)
        keep = set(self.loss_fn.outputs_used)
        if self.distill is not None and stage.distill:
            keep.add("features")
        self.forward.keep = tuple(sorted(keep))
        frozen = tuple(self.hooks.frozen(self, stage))
        self.frozen = [p for n, p in self.model.named_parameters() if any(n.startswith(f) for f in frozen)]

    # ---------------------------------------------------------------- one step
    def _train_step(self, x: torch.Tensor, y: torch.Tensor) -> dict[str, float]:
        """Forward, the stage's losses (+ distillation), one optimiser step; the loss parts as floats."""
        fwd = self.ddp if self.ddp is not None else self.forward
        with self.optim.autocast():
            outputs = fwd(x)
        total, parts = self.loss_fn(outputs, {"y": y})
        if self.distill is not None and self.stage.distill:
            with torch.no_grad(), self.optim.autocast():
                t_feats = self.teacher.forward_train(x)["features"]
            d = self.distill(_float(outputs["features"]), _float(t_feats))
            parts["distill"] = float(d.detach())
            total = total + self.recipe.distill_weight * d
        self.optim.step(total, self.frozen, self.step + 1)
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
        self.hooks.begin_validation(self)
        loader = DataLoader(self.val_ds, batch_size=1, shuffle=False, num_workers=self.cfg.workers)
        for i, (x, y) in enumerate(loader):
            if self.cfg.val_images is not None and i >= self.cfg.val_images:
                break
            x, y = x.to(self.device), y.to(self.device)
            metrics.update(self.adapter.predict(model, x, self.entry.size_multiple), y)
            self.hooks.validation_batch(self, x, y)
        if was_training:
            model.train()
        return {**metrics.compute(), **self.hooks.end_validation(self)}

    def output_at_input_size(self, x: torch.Tensor, key: str) -> torch.Tensor:
        """``forward_train(x)[key]`` at any input size (padded to the size multiple, cropped back)."""
        xp, (h, w) = pad_to_multiple(x, max(1, self.entry.size_multiple))
        s = self.adapter.output_scale()
        return self.model.forward_train(xp)[key][..., : h * s, : w * s]

    # ---------------------------------------------------------------- files
    def _payload(self, lr: float) -> dict[str, Any]:
        return {
            "model_name": self.cfg.model,
            "task": self.cfg.task,
            "model": self.model.state_dict(),
            "optimizer": self.optim.optimizer.state_dict(),
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
                **self.hooks.state_dict(),
                "stage": self.stage.index if self.stage else 0,
                "distill": self.distill.state_dict() if self.distill is not None else None,
                "scaler": self.optim.scaler_state(),
                "train_seconds": self.train_seconds,
                "samples_done": self.samples_done,
            },
        }

    # ---------------------------------------------------------------- the loop
    def run(self) -> TrainResult:
        cfg, total = self.cfg, self.cfg.steps
        samples_per_step = cfg.batch * self.dist.world
        batches = self._batches(self.step)
        if getattr(self, "_resume_rng", None) is not None:
            set_rng_state(self._resume_rng)
        self.model.train()
        acc: dict[str, float] = {}
        acc_n = 0
        over_budget = False
        lr = recipe_lr(self.recipe, self.step, total, cfg.lr)
        progress = _Progress(self.show_progress, total, self.step, self.adapter.unit, cfg.model)
        cadence = Cadence(cfg, total, self.dist.broadcast)
        try:
            while cadence.running(self.step):
                stage = stage_at(self.plan, self.step)
                if self.stage is None or stage.index != self.stage.index:
                    self._enter_stage(stage)
                lr = recipe_lr(self.recipe, self.step, total, cfg.lr)
                self.optim.set_lr(lr)
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

                due = cadence.after_step(self.step)
                if due.validate:
                    self._validate_and_log(acc, acc_n, lr, rate)
                    acc, acc_n = {}, 0
                    cadence.validated()
                elif due.log:
                    self._log_row(acc, acc_n, lr, rate)
                    acc, acc_n = {}, 0
                    cadence.logged()
                if due.checkpoint:
                    self._save_last(lr)
                if due.over_budget:
                    over_budget = True
                    break
        finally:
            progress.close()
        result = TrainResult(
            run_dir=self.run_dir, step=self.step, total_steps=total, primary_metric=self.adapter.primary_metric,
            best_value=self.best_value, best_step=self.best_step, last_val=self.last_val,
            stopped=cadence.stop_reason(self.step, over_budget),
            train_seconds=self.train_seconds, unit=self.adapter.unit,
            throughput=self.samples_done / max(self.train_seconds, 1e-9),
            files={k: str(self.run_dir / f) for k, f in (("last", LAST), ("best", BEST), ("metrics", RUN_FILES[1]),
                                                         ("curves", RUN_FILES[2]), ("config", RUN_FILES[0]))
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
        if self.hooks.after_validation(self, val):
            self._enter_stage(self.stage)
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
    """Progress on stderr (loss, lr, throughput); silent when disabled.

    A Rich bar on a terminal. When stderr is a pipe or a file (CI logs, ``--json`` runs under a
    script), a bar is only drawn when it stops, so plain lines are written instead: after the
    first step and then every ``every_s`` seconds.
    """

    def __init__(self, enabled: bool, total: int, start: int, unit: str, title: str, every_s: float = 10.0):
        import sys

        self.enabled, self.total, self.unit, self.title, self.every_s = enabled, total, unit, title, every_s
        self.lines = enabled and not sys.stderr.isatty()
        self.next_line_at = None  # monotonic time of the next plain line; None = at the next step
        self.t0 = time.monotonic()
        if not enabled or self.lines:
            return
        from rich.console import Console
        from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn,
                                   TimeRemainingColumn)

        self.bar = Progress(
            TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("{task.fields[info]}"), TimeElapsedColumn(), TimeRemainingColumn(),
            console=Console(stderr=True), transient=False,
        )
        self.task = self.bar.add_task(title, total=total, completed=start, info="")
        self.bar.start()

    def update(self, step: int, loss: float, lr: float, rate: float, stage: str) -> None:
        if not self.enabled:
            return
        info = f"{stage} loss {loss:.4g} lr {lr:.2e} {rate:.1f} {self.unit}"
        if not self.lines:
            self.bar.update(self.task, completed=step, info=info)
            return
        now = time.monotonic()
        if self.next_line_at is None or now >= self.next_line_at or step == self.total:
            import sys

            print(f"{self.title}: step {step}/{self.total} {info} {now - self.t0:.0f} s", file=sys.stderr, flush=True)
            self.next_line_at = now + self.every_s

    def close(self) -> None:
        if self.enabled and not self.lines:
            self.bar.stop()


def train(cfg: TrainConfig, progress: bool = True) -> TrainResult:
    """Train ``cfg.model`` per its recipe; see the module docstring. Returns a :class:`TrainResult`."""
    run_dir = Path(cfg.out)
    existed = run_dir.exists()
    try:
        trainer = Trainer(cfg, progress=progress)
        try:
            return trainer.run()
        finally:
            trainer.dist.close()
    except BaseException:
        if not cfg.resume:
            _remove_unstarted_run(run_dir, existed)
        raise


def _remove_unstarted_run(run_dir: Path, existed: bool) -> None:
    """After a failure before the first checkpoint, remove the files the run wrote (and its
    folder if this call made it): no run folder holding only ``config.json`` is left behind.
    A run with a checkpoint is kept: it can be resumed."""
    if not run_dir.is_dir() or _has_checkpoint(run_dir):
        return
    with contextlib.suppress(OSError):  # never hide the failure being reported
        for name in RUN_FILES:
            (run_dir / name).unlink(missing_ok=True)
        if not existed:
            run_dir.rmdir()
