"""``mai train``: train a zoo model on a dataset with its recipe (thin layer over ``maikit.train``).

Works the same under ``torchrun`` for data-parallel training (only rank 0 prints and writes).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

import typer

from maikit.cli._common import console, positive, print_json, raw_convention_option
from maikit.tasks import RAW_CONVENTIONS, TASK_NAMES


def _fmt(v) -> str:
    return f"{v:.4f}" if isinstance(v, float) else str(v)


def train_cmd(
    task: str = typer.Option(..., "--task", "-t", help=f"Task: {' | '.join(TASK_NAMES)}."),
    model: str = typer.Option(..., "--model", "-m", help="Zoo model, e.g. smallnet or isp/smallnet (see `mai models list`)."),
    data: Path = typer.Option(..., "--data", "-d", help="Dataset root with train/ and val/ (or validation/)."),
    out: Path = typer.Option(..., "--out", "-o", help="Run folder for checkpoints, metrics.csv and curves.png."),
    steps: Optional[int] = typer.Option(None, "--steps", min=1, help="Optimiser steps. Default: the recipe's."),
    batch: Optional[int] = typer.Option(None, "--batch", min=1, help="Batch size per process. Default: the recipe's."),
    lr: Optional[float] = typer.Option(None, "--lr", callback=positive, help="Initial learning rate. Default: the recipe's."),
    patch: Optional[int] = typer.Option(None, "--patch", min=1, help="ISP: packed training crop size (128 = 256x256 RGB)."),
    recipe: Optional[str] = typer.Option(None, "--recipe", help="Training recipe: paper (as published, the default) or fast (CPU-friendly, no VGG)."),
    seed: Optional[int] = typer.Option(None, "--seed", min=0, help="Seed for weights, data order and augmentation (default 0)."),
    device: Optional[str] = typer.Option(None, "--device", help="cpu, cuda, cuda:N or auto (the default)."),
    resume: bool = typer.Option(False, "--resume", help="Continue the run in --out from its last.pt, exactly."),
    vgg_weights: Optional[Path] = typer.Option(None, "--vgg-weights", help="torchvision-format VGG-19 state dict (perceptual loss)."),
    teacher: Optional[Path] = typer.Option(None, "--teacher", help="Trained teacher run folder or checkpoint: adds the recipe's distillation loss."),
    weights: Optional[Path] = typer.Option(None, "--weights", help="Initial weights (checkpoint, run folder or state dict)."),
    val_every: Optional[int] = typer.Option(None, "--val-every", min=1, help="Validate every N steps. Default: steps/10."),
    val_images: Optional[int] = typer.Option(None, "--val-images", min=1, help="Validate on at most N images (faster)."),
    ckpt_every: Optional[int] = typer.Option(None, "--ckpt-every", min=1, help="Save last.pt every N steps. Default: --val-every."),
    workers: Optional[int] = typer.Option(None, "--workers", min=0, help="Data-loading worker processes (default 0: load in this process)."),
    minutes: Optional[float] = typer.Option(None, "--minutes", callback=positive, help="Stop after this many minutes of training (then validate and save)."),
    amp: Optional[str] = typer.Option(None, "--amp", help="Mixed precision: auto (the default: float16 on CUDA, off on CPU), off, fp16 (CUDA) or bf16 (CPU or CUDA; about 2x faster on CPUs with AVX512-BF16/AMX)."),
    no_amp: bool = typer.Option(False, "--no-amp", help="Same as --amp off."),
    channels_last: bool = typer.Option(False, "--channels-last", help="Train in NHWC memory format (faster convolutions on CPU)."),
    raw_convention: Optional[str] = typer.Option(None, "--raw-convention", help="ISP RAW convention: " + ", ".join(RAW_CONVENTIONS) + " (default mai21)."),
    convention: Optional[str] = typer.Option(None, "--convention", hidden=True, help="Old name of --raw-convention."),
    budget_clock: Optional[str] = typer.Option(None, "--budget-clock", help="What --minutes counts: wall (elapsed, the default) or cpu (this process's CPU time)."),
    json_out: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
) -> None:
    """Train a model with its recipe; validate with the official metrics; keep last/best checkpoints."""
    from maikit.train import TrainConfig, train

    # only what was given: every default lives in TrainConfig (and the recipe)
    given = dict(
        steps=steps, batch=batch, lr=lr, patch=patch, recipe=recipe, seed=seed, device=device, val_every=val_every,
        val_images=val_images, ckpt_every=ckpt_every, workers=workers, vgg_weights=vgg_weights, teacher=teacher,
        weights=weights, amp="off" if no_amp else amp, channels_last=channels_last or None, max_minutes=minutes,
        budget_clock=budget_clock, convention=raw_convention_option(raw_convention, convention),
    )
    cfg = TrainConfig(task=task, model=model, data=str(data), out=str(out), resume=resume,
                      **{k: str(v) if isinstance(v, Path) else v for k, v in given.items() if v is not None})
    result = train(cfg, progress=True)  # a bar on stderr, also with --json (stdout stays JSON)
    if int(os.environ.get("RANK", "0")) != 0:
        return
    if json_out:
        print_json(result.to_dict())
        return
    from rich.table import Table

    table = Table(title=f"{result.run_dir} — {result.stopped} at step {result.step}/{result.total_steps}")
    table.add_column("item")
    table.add_column("value")
    best = "—" if result.best_value is None else f"{result.best_value:.4f} (step {result.best_step})"
    table.add_row(f"best val {result.primary_metric}", best)
    for k, v in result.last_val.items():
        table.add_row(f"last val {k}", _fmt(v))
    table.add_row("throughput", f"{result.throughput:.2f} {result.unit}")
    for k, v in result.files.items():
        table.add_row(k, v)
    console.print(table)


def register(app: typer.Typer) -> None:
    app.command("train")(train_cmd)
