"""Train every learned ISP model of the zoo for the same CPU time and compare them.

Data: ``maikit.data.synth_isp`` unprocesses the photos bundled with scikit-image into RAW
(Brooks et al. 2019, docs/references.md#unprocessing): ``--count`` 256×256 patch pairs (default 700, i.e. 630 for
training), with the validation split cut from photos never used for training. Each model
trains with its ``fast`` recipe for ``--minutes`` of wall-clock time (the recipe's step
count defines the learning-rate schedule; the run stops when the budget is spent), then
is scored on the whole held-out split with the official PSNR / SSIM. ``isp/classic`` (a
fixed demosaic + white balance + tone pipeline) is the reference a learned ISP should beat.

Prints a Markdown table; writes the numbers as JSON (``--json``, default
``WORK/isp_zoo.json``). Smoke run: ``python benchmarks/isp_zoo.py --smoke``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

from _parallel import add_parallel_args, run_parallel
from maikit.errors import MaikitError
from maikit.io import write_json
from maikit.models import create_model, get_model_entry, list_models
from maikit.models.blocks import param_count
from maikit.tasks import ISP
from maikit.train import TrainConfig, get_adapter, train


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--minutes", type=float, default=10.0, help="training budget per model (default 10)")
    p.add_argument("--models", default="", help="comma-separated filter, e.g. smallnet,punet (default: all)")
    p.add_argument("--work", type=Path, default=Path("bench_runs/isp_zoo"), help="data and run folders")
    p.add_argument("--count", type=int, default=700, help="synthetic patch pairs (train + val)")
    p.add_argument("--val-fraction", type=float, default=0.1)
    p.add_argument("--patch", type=int, default=64, help="packed training crop (64 = 128x128 RGB)")
    p.add_argument("--batch", type=int, default=None, help="override the recipes' batch size")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    p.add_argument("--json", type=Path, default=None, help="where to write the results (JSON)")
    add_parallel_args(p)
    p.add_argument("--smoke", action="store_true", help="tiny data and a few seconds per model")
    return p.parse_args(argv)


def ensure_data(root: Path, count: int, val_fraction: float, seed: int) -> Path:
    from maikit.data.synth_isp import synth_isp

    if (root / "train").is_dir() and (root / "val").is_dir():
        return root
    info = synth_isp(root, count, seed=seed, val_fraction=val_fraction, patch=256)
    print(f"synthesised {info['train']} train / {info['val']} val pairs in {info['seconds']:.0f} s "
          f"(val photos: {', '.join(info['photos']['val'])})", file=sys.stderr)
    return root


@torch.no_grad()
def evaluate_fixed(model_name: str, data: Path, val_images: int | None) -> dict:
    """Official metrics of a model that needs no training (``isp/classic``) on the val split."""
    adapter = get_adapter(ISP)
    cfg = TrainConfig(task="isp", model=model_name, data=str(data), out="")
    ds = adapter.val_dataset(cfg)
    model = create_model(model_name).eval()
    metrics = adapter.new_metrics()
    t0, n = time.perf_counter(), 0
    for i in range(len(ds) if val_images is None else min(val_images, len(ds))):
        x, y = ds[i]
        metrics.update(adapter.predict(model, x[None], get_model_entry(model_name).size_multiple), y[None])
        n += 1
    return {**metrics.compute(), "eval_seconds": time.perf_counter() - t0}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.smoke:
        args.minutes, args.count = min(args.minutes, 0.05), min(args.count, 24)
        args.patch = min(args.patch, 16)
    if args.threads:
        torch.set_num_threads(args.threads)
    wanted = {m.strip().split("/")[-1] for m in args.models.split(",") if m.strip()}
    names = [n for n in list_models("isp") if not wanted or n.split("/")[-1] in wanted]
    data = ensure_data(args.work / "data", args.count, args.val_fraction, args.seed)
    val_images = 4 if args.smoke else None

    rows = []
    if args.jobs > 1:
        passthrough = ["--minutes", str(args.minutes), "--work", str(args.work), "--count", str(args.count),
                       "--val-fraction", str(args.val_fraction), "--patch", str(args.patch), "--seed", str(args.seed),
                       "--budget-clock", args.budget_clock] + (["--batch", str(args.batch)] if args.batch else []) \
            + (["--smoke"] if args.smoke else [])
        rows = run_parallel(__file__, names, args.jobs, passthrough)
        names = []
    for name in names:
        entry = get_model_entry(name)
        params = param_count(create_model(name))
        if not entry.trainable or entry.recipes is None:
            m = evaluate_fixed(name, data, val_images)
            rows.append({"model": name, "params": params, "trained": False, "psnr": m["psnr"], "ssim": m.get("ssim"),
                         "steps": 0, "patches_per_s": None, "minutes": 0.0})
            continue
        run = args.work / "runs" / f"{entry.short_name}_seed{args.seed}_{time.strftime('%Y%m%d-%H%M%S')}"
        fast = entry.recipes.fast
        cfg = TrainConfig(task="isp", model=name, data=str(data), out=str(run), recipe="fast", seed=args.seed,
                          patch=args.patch, batch=args.batch, device="cpu", max_minutes=args.minutes,
                          budget_clock=args.budget_clock, val_every=fast.steps,
                          val_images=val_images)  # validate once, at the end
        print(f"training {name} for {args.minutes:g} min ...", file=sys.stderr)
        cpu0 = time.process_time()
        try:
            r = train(cfg, progress=sys.stderr.isatty())
        except MaikitError as e:
            rows.append({"model": name, "params": params, "trained": False, "error": str(e)})
            continue
        rows.append({"model": name, "params": params, "trained": True, "psnr": r.last_val.get("psnr"),
                     "ssim": r.last_val.get("ssim"), "steps": r.step, "patches_per_s": r.throughput,
                     "minutes": r.train_seconds / 60, "cpu_minutes": (time.process_time() - cpu0) / 60,
                     "run": str(run)})

    print(markdown(rows, args))
    out = args.json or args.work / "isp_zoo.json"
    write_json(out, {"benchmark": "isp_zoo", "minutes_per_model": args.minutes, "patch": args.patch,
                     "count": args.count, "seed": args.seed, "budget_clock": args.budget_clock, "jobs": args.jobs,
                     "torch_threads": 1 if args.jobs > 1 else torch.get_num_threads(), "rows": rows})
    print(f"\nresults: {out}", file=sys.stderr)
    return 0


def markdown(rows: list[dict], args: argparse.Namespace) -> str:
    def f(v, fmt):
        return "—" if v is None else format(v, fmt)

    lines = [f"ISP zoo, {args.minutes:g} min ({args.budget_clock} clock) training per model (fast recipes), "
             "held-out synthetic val", "",
             "| model | params | PSNR (dB) | SSIM | steps | patches/s | CPU min |", "|---|---:|---:|---:|---:|---:|---:|"]
    for r in sorted(rows, key=lambda r: -(r.get("psnr") or -1e9)):
        if "error" in r:
            lines.append(f"| {r['model']} | {r.get('params', 0):,} | error: {r['error']} | | | | |")
            continue
        label = r["model"] + ("" if r["trained"] else " (fixed)")
        lines.append(f"| {label} | {r['params']:,} | {f(r['psnr'], '.2f')} | {f(r['ssim'], '.4f')} | "
                     f"{r['steps']} | {f(r['patches_per_s'], '.1f')} | {f(r.get('cpu_minutes'), '.1f')} |")
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
