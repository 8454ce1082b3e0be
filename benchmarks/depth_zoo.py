"""Train every depth model of the zoo for the same CPU time and compare them with trivial baselines.

Data: ``maikit.data.synth_depth`` ray-casts procedural rooms and yards with exact depth
(``--count`` scenes, default 340: 300 for training, the last 40 held out). Each model trains
with its ``fast`` recipe for ``--minutes`` of its own CPU time (``--budget-clock``; the recipe's step count sets
the learning-rate schedule; the run stops when the budget is spent), then is scored on the
held-out scenes and on the real Middlebury 2014 "Motorcycle" frame bundled with
scikit-image (``maikit.data.real.motorcycle_rgbd``) with the official si-RMSE / RMSE /
LOG10 / REL (per-image mean). Two predictors that look at no pixel set the floor:

* ``const-median``: every pixel = the median valid training depth;
* ``row-mean``: pixel (r, c) = the mean valid training depth of row r (resampled when the
  frame heights differ) — the "floor is near, horizon is far" prior.

Prints a Markdown table; writes JSON (``--json``, default ``WORK/depth_zoo.json``). Smoke
run: ``python benchmarks/depth_zoo.py --smoke``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import torch

from maikit.data.depth import DepthDataset, read_depth_mm
from _parallel import add_parallel_args, run_parallel
from maikit.errors import MaikitError
from maikit.io import write_json
from maikit.metrics import DepthMetrics
from maikit.models import create_model, get_model_entry, list_models
from maikit.models.blocks import param_count
from maikit.train import TrainConfig, load_trained, train
from maikit.train.config import AMP_MODES
from maikit.train.predict import predict_depth_photo


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--minutes", type=float, default=10.0, help="training budget per model (default 10)")
    p.add_argument("--models", default="", help="comma-separated filter, e.g. tcl,jmu (default: all)")
    p.add_argument("--work", type=Path, default=Path("bench_runs/depth_zoo"), help="data and run folders")
    p.add_argument("--count", type=int, default=340, help="synthetic scenes (train + val)")
    p.add_argument("--val", type=int, default=40, help="held-out scenes")
    p.add_argument("--width", type=int, default=640)
    p.add_argument("--height", type=int, default=480)
    p.add_argument("--batch", type=int, default=None, help="override the recipes' batch size")
    p.add_argument("--steps", type=int, default=None, help="override the recipes' step count (sets the schedule)")
    p.add_argument("--lr", type=float, default=None, help="override the recipes' initial learning rate")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    p.add_argument("--amp", default="auto", choices=AMP_MODES, help="training precision (mai train --amp)")
    p.add_argument("--channels-last", action="store_true", help="train in NHWC memory format")
    p.add_argument("--json", type=Path, default=None)
    add_parallel_args(p)
    p.add_argument("--smoke", action="store_true", help="tiny scenes and a few seconds per model")
    return p.parse_args(argv)


def ensure_data(root: Path, count: int, n_val: int, width: int, height: int, seed: int) -> Path:
    from maikit.data.synth_depth import SynthParams, synth_depth

    if (root / "train").is_dir() and (root / "val").is_dir():
        return root
    info = synth_depth(root, count, seed=seed, val_fraction=n_val / count,
                       params=SynthParams(width=width, height=height))
    print(f"synthesised {info['train']} train / {info['val']} val scenes in {info['seconds']:.0f} s", file=sys.stderr)
    return root


def _depth_files(split: Path) -> list[Path]:
    return sorted((split / "depth").glob("*.png"))


def trivial_predictors(data: Path) -> dict[str, np.ndarray]:
    """The training split's median depth and its per-row mean depth (mm), from valid pixels only."""
    values, row_sum, row_cnt = [], None, None
    for f in _depth_files(data / "train"):
        d = read_depth_mm(f).astype(np.float64)
        valid = d > 0
        values.append(d[valid][::7])  # a subsample is plenty for a median
        s, c = (d * valid).sum(1), valid.sum(1)
        row_sum = s if row_sum is None else row_sum + s
        row_cnt = c if row_cnt is None else row_cnt + c
    median = float(np.median(np.concatenate(values)))
    rows = np.where(row_cnt > 0, row_sum / np.maximum(row_cnt, 1), median)
    return {"median_mm": np.array(median), "row_mean_mm": rows}


def _row_map(rows: np.ndarray, hw: tuple[int, int]) -> np.ndarray:
    h, w = hw
    col = cv2.resize(rows[:, None].astype(np.float32), (1, h), interpolation=cv2.INTER_LINEAR)
    return np.repeat(col, w, axis=1)


def score_trivial(priors: dict, frames: list[tuple[np.ndarray, np.ndarray]]) -> dict[str, dict]:
    const, rowm = DepthMetrics(), DepthMetrics()
    for _, gt_mm in frames:
        const.update(np.full(gt_mm.shape, float(priors["median_mm"])), gt_mm)
        rowm.update(_row_map(priors["row_mean_mm"], gt_mm.shape), gt_mm)
    return {"const-median": const.compute(), "row-mean": rowm.compute()}


def val_frames(data: Path, limit: int | None) -> list[tuple[np.ndarray, np.ndarray]]:
    ds = DepthDataset(data / "val")
    n = len(ds) if limit is None else min(limit, len(ds))
    return [ds.load(i) for i in range(n)]


def real_frames() -> list[tuple[np.ndarray, np.ndarray]]:
    from maikit.data.real import motorcycle_rgbd

    rgb, depth_mm, _ = motorcycle_rgbd()
    return [(rgb, depth_mm)]


@torch.no_grad()
def score_model(model: torch.nn.Module, frames: list[tuple[np.ndarray, np.ndarray]]) -> dict:
    from maikit.tasks import get_task

    acc = DepthMetrics()
    hw = get_task("depth").train_input_hw
    for rgb, gt_mm in frames:
        acc.update(predict_depth_photo(model, rgb, hw), gt_mm)
    return acc.compute()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.smoke:
        args.minutes, args.count, args.val = min(args.minutes, 0.05), min(args.count, 8), min(args.val, 2)
        args.width, args.height = 64, 48
    if args.threads:
        torch.set_num_threads(args.threads)
    wanted = {m.strip().split("/")[-1] for m in args.models.split(",") if m.strip()}
    names = [n for n in list_models("depth") if not wanted or n.split("/")[-1] in wanted]
    data = ensure_data(args.work / "data", args.count, args.val, args.width, args.height, args.seed)
    val_limit = 2 if args.smoke else None
    synth_val, real = val_frames(data, val_limit), real_frames()

    priors = trivial_predictors(data)
    rows = []
    trivial_synth, trivial_real = score_trivial(priors, synth_val), score_trivial(priors, real)
    for key in ("const-median", "row-mean"):
        rows.append({"model": key, "params": 0, "trained": False, "synth": trivial_synth[key],
                     "real": trivial_real[key], "steps": 0, "images_per_s": None})

    if args.jobs > 1:
        passthrough = ["--minutes", str(args.minutes), "--work", str(args.work), "--count", str(args.count),
                       "--val", str(args.val), "--width", str(args.width), "--height", str(args.height),
                       "--seed", str(args.seed), "--budget-clock", args.budget_clock] \
            + (["--batch", str(args.batch)] if args.batch else []) + (["--steps", str(args.steps)] if args.steps else []) \
            + (["--lr", str(args.lr)] if args.lr else []) + (["--smoke"] if args.smoke else []) \
            + ["--amp", args.amp] + (["--channels-last"] if args.channels_last else [])
        trainable = [n for n in names if get_model_entry(n).trainable]
        rows += [r for r in run_parallel(__file__, trainable, args.jobs, passthrough) if r.get("trained")
                 or "error" in r]
        names = []
    for name in names:
        entry = get_model_entry(name)
        if not entry.trainable or entry.recipes is None:
            continue
        params = param_count(create_model(name))
        run = args.work / "runs" / f"{entry.short_name}_seed{args.seed}_{time.strftime('%Y%m%d-%H%M%S')}"
        cfg = TrainConfig(task="depth", model=name, data=str(data), out=str(run), recipe="fast", seed=args.seed,
                          batch=args.batch, steps=args.steps, lr=args.lr, device="cpu", max_minutes=args.minutes,
                          budget_clock=args.budget_clock, val_images=val_limit, amp=args.amp,
                          channels_last=args.channels_last,
                          val_every=args.steps or entry.recipes.fast.steps)  # validate once, at the end
        print(f"training {name} for {args.minutes:g} min ...", file=sys.stderr)
        cpu0 = time.process_time()
        try:
            r = train(cfg, progress=sys.stderr.isatty())
            model, _ = load_trained(run, prefer="last.pt")
        except MaikitError as e:
            rows.append({"model": name, "params": params, "trained": False, "error": str(e)})
            continue
        rows.append({"model": name, "params": params, "trained": True, "synth": score_model(model, synth_val),
                     "real": score_model(model, real), "steps": r.step, "images_per_s": r.throughput,
                     "minutes": r.train_seconds / 60, "cpu_minutes": (time.process_time() - cpu0) / 60,
                     "run": str(run)})

    print(markdown(rows, args))
    out = args.json or args.work / "depth_zoo.json"
    write_json(out, {"benchmark": "depth_zoo", "minutes_per_model": args.minutes, "count": args.count,
                     "val": args.val, "frame": [args.height, args.width], "seed": args.seed,
                     "budget_clock": args.budget_clock, "jobs": args.jobs, "amp": args.amp,
                     "channels_last": args.channels_last,
                     "torch_threads": 1 if args.jobs > 1 else torch.get_num_threads(), "rows": rows})
    print(f"\nresults: {out}", file=sys.stderr)
    return 0


def markdown(rows: list[dict], args: argparse.Namespace) -> str:
    def f(v, fmt=".4f"):
        return "—" if v is None else format(v, fmt)

    precision = "" if args.amp == "auto" else f", --amp {args.amp}"
    precision += ", channels-last" if args.channels_last else ""
    lines = [f"Depth zoo, {args.minutes:g} min ({args.budget_clock} clock{precision}) training per model (fast recipes); "
             "synthetic held-out scenes and the real Middlebury motorcycle", "",
             "| model | params | si-RMSE | RMSE (m) | LOG10 | REL | real si-RMSE | real RMSE (m) | steps | images/s |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in sorted(rows, key=lambda r: (r.get("synth") or {}).get("si_rmse", 1e9)):
        if "error" in r:
            lines.append(f"| {r['model']} | {r['params']:,} | error: {r['error']} | | | | | | | |")
            continue
        s, q = r["synth"], r["real"]
        label = r["model"] + ("" if r["trained"] else " (trivial)")
        lines.append(f"| {label} | {r['params']:,} | {f(s['si_rmse'])} | {f(s['rmse'], '.3f')} | {f(s['log10'])} | "
                     f"{f(s['rel'])} | {f(q['si_rmse'])} | {f(q['rmse'], '.3f')} | {r['steps']} | "
                     f"{f(r['images_per_s'], '.2f')} |")
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
