"""``mai train``: train a zoo model on a dataset with its recipe (thin layer over ``maikit.train``).

Works the same under ``torchrun`` for data-parallel training (only rank 0 prints and writes).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from maikit.cli._common import console, handle_errors, print_json
from maikit.tasks import RAW_CONVENTIONS, TASK_NAMES


def _fmt(v) -> str:
    return f"{v:.4f}" if isinstance(v, float) else str(v)


@handle_errors
def train_cmd(
    task: str = typer.Option(..., "--task", "-t", help=f"Task: {' | '.join(TASK_NAMES)}."),
    model: str = typer.Option(..., "--model", "-m", help="Zoo model, e.g. smallnet or isp/smallnet (see `mai models list`)."),
    data: Path = typer.Option(..., "--data", "-d", help="Dataset root with train/ and val/ (or validation/)."),
    out: Path = typer.Option(..., "--out", "-o", help="Run folder for checkpoints, metrics.csv and curves.png."),
    steps: Optional[int] = typer.Option(None, "--steps", help="Optimiser steps. Default: the recipe's."),
    batch: Optional[int] = typer.Option(None, "--batch", help="Batch size per process. Default: the recipe's."),
    lr: Optional[float] = typer.Option(None, "--lr", help="Initial learning rate. Default: the recipe's."),
    patch: Optional[int] = typer.Option(None, "--patch", help="ISP: packed training crop size (128 = 256x256 RGB)."),
    recipe: str = typer.Option("paper", "--recipe", help="Training recipe: paper (as published) or fast (CPU-friendly, no VGG)."),
    seed: int = typer.Option(0, "--seed", help="Seed for weights, data order and augmentation."),
    device: str = typer.Option("auto", "--device", help="cpu, cuda, cuda:N or auto."),
    resume: bool = typer.Option(False, "--resume", help="Continue the run in --out from its last.pt, exactly."),
    vgg_weights: Optional[Path] = typer.Option(None, "--vgg-weights", help="torchvision-format VGG-19 state dict (perceptual loss)."),
    teacher: Optional[Path] = typer.Option(None, "--teacher", help="Trained teacher run folder or checkpoint: adds the recipe's distillation loss."),
    weights: Optional[Path] = typer.Option(None, "--weights", help="Initial weights (checkpoint, run folder or state dict)."),
    val_every: Optional[int] = typer.Option(None, "--val-every", help="Validate every N steps. Default: steps/10."),
    val_images: Optional[int] = typer.Option(None, "--val-images", help="Validate on at most N images (faster)."),
    ckpt_every: Optional[int] = typer.Option(None, "--ckpt-every", help="Save last.pt every N steps. Default: --val-every."),
    workers: int = typer.Option(0, "--workers", help="Data-loading worker processes."),
    minutes: Optional[float] = typer.Option(None, "--minutes", help="Stop after this many minutes of training (then validate and save)."),
    amp: str = typer.Option("auto", "--amp", help="Mixed precision: auto (float16 on CUDA, off on CPU), off, fp16 (CUDA) or bf16 (CPU or CUDA; about 2x faster on CPUs with AVX512-BF16/AMX)."),
    no_amp: bool = typer.Option(False, "--no-amp", help="Same as --amp off."),
    channels_last: bool = typer.Option(False, "--channels-last", help="Train in NHWC memory format (faster convolutions on CPU)."),
    convention: str = typer.Option("mai21", "--convention", help="ISP RAW convention: " + ", ".join(RAW_CONVENTIONS)),
    budget_clock: str = typer.Option("wall", "--budget-clock", help="What --minutes counts: wall (elapsed) or cpu (this process's CPU time)."),
    json_out: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
) -> None:
    """Train a model with its recipe; validate with the official metrics; keep last/best checkpoints."""
    from maikit.train import TrainConfig, train

    cfg = TrainConfig(
        task=task, model=model, data=str(data), out=str(out), steps=steps, batch=batch, lr=lr, patch=patch,
        recipe=recipe, seed=seed, device=device, resume=resume, val_every=val_every, val_images=val_images,
        ckpt_every=ckpt_every, workers=workers, vgg_weights=str(vgg_weights) if vgg_weights else None,
        teacher=str(teacher) if teacher else None, weights=str(weights) if weights else None, amp="off" if no_amp else amp,
        channels_last=channels_last,
        max_minutes=minutes, budget_clock=budget_clock, convention=convention,
    )
    result = train(cfg, progress=not json_out)
    if int(os.environ.get("RANK", "0")) != 0:
        return
    if json_out:
        print_json(result.to_dict())
        return
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
