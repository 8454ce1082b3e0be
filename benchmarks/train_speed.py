"""Training-step speed of every learned zoo model on this CPU, in float32 and in bfloat16 + NHWC.

Each model trains ``--steps`` steps of its ``fast`` recipe through the real trainer
(``maikit.train.train``: data loading, augmentation, forward, losses, backward, optimiser) on a
small synthetic set at the benchmarks' shapes — depth 480×640 frames, ISP packed crops of
``--patch`` — once per precision mode (``--modes``, default ``fp32,bf16``: ``--amp off`` and
``--amp bf16 --channels-last``). Reported: milliseconds per step (the trainer's own step clock,
first step excluded: a run of ``1 + --steps`` steps minus a run of 1 step, divided by
``--steps``) and the speed-up of each mode over the first. One torch thread by default, as the
zoo benchmarks' parallel jobs use.

Prints a Markdown table; writes JSON with ``--json``. Smoke run: ``--smoke``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import torch

import maikit
from maikit.io import write_json
from maikit.models import get_model_entry, list_models
from maikit.train import TrainConfig, train

MODES = {"fp32": dict(amp="off", channels_last=False), "bf16": dict(amp="bf16", channels_last=True),
         "bf16-nchw": dict(amp="bf16", channels_last=False), "fp32-nhwc": dict(amp="off", channels_last=True)}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--task", choices=("depth", "isp", "all"), default="all")
    p.add_argument("--models", default="", help="comma-separated filter, e.g. unet,jmu (default: all)")
    p.add_argument("--modes", default="fp32,bf16", help=f"comma-separated, from {', '.join(MODES)}")
    p.add_argument("--steps", type=int, default=6, help="timed steps per run (after the first)")
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--patch", type=int, default=64, help="ISP packed crop (64 = 128x128 RGB)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--json", type=Path, default=None)
    p.add_argument("--smoke", action="store_true", help="tiny frames, two steps, two models")
    args = p.parse_args(argv)
    unknown = [m for m in args.modes.split(",") if m and m not in MODES]
    if unknown:
        p.error(f"unknown mode(s) {', '.join(unknown)}; choose from {', '.join(MODES)}")
    if min(args.steps, args.batch, args.patch, args.threads) < 1:
        p.error("--steps, --batch, --patch and --threads must be at least 1")
    return args


def make_data(root: Path, task: str, smoke: bool) -> Path:
    if task == "depth":
        from maikit.data.synth_depth import SynthParams, synth_depth

        w, h = (64, 48) if smoke else (640, 480)
        synth_depth(root, 6, seed=0, val_fraction=0.34, params=SynthParams(width=w, height=h))
    else:
        from maikit.data.synth_isp import synth_isp

        synth_isp(root, 10, seed=0, val_fraction=0.2, patch=64 if smoke else 256)
    return root


def mode_options(mode: str) -> dict:
    """TrainConfig fields of a mode; ``channels_last`` only when set, so that the script also
    runs against trainers that predate the option (``--modes fp32`` with an older checkout on
    PYTHONPATH gives before/after numbers)."""
    opts = dict(MODES[mode])
    if not opts["channels_last"]:
        del opts["channels_last"]
    return opts


def step_ms(name: str, task: str, data: Path, work: Path, steps: int, args: argparse.Namespace, mode: str) -> float:
    """Milliseconds per step after the first: (time of 1 + steps) − (time of 1), same seed."""
    def run(n: int, tag: str) -> float:
        cfg = TrainConfig(task=task, model=name, data=str(data), out=str(work / f"{tag}_{n}"), recipe="fast",
                          steps=n, batch=args.batch, patch=args.patch if task == "isp" else None, device="cpu",
                          val_every=n, val_images=1, **mode_options(mode))
        return train(cfg, progress=False).train_seconds

    tag = f"{name.replace('/', '_')}_{mode}"
    return (run(1 + steps, tag) - run(1, tag)) / steps * 1000.0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    modes = [m for m in args.modes.split(",") if m]
    tasks = ("depth", "isp") if args.task == "all" else (args.task,)
    wanted = {m.strip() for m in args.models.split(",") if m.strip()}
    steps = 2 if args.smoke else args.steps
    if args.smoke:
        args.patch = 16
    rows = []
    with tempfile.TemporaryDirectory(prefix="mai_train_speed_") as tmp:
        for task in tasks:
            names = [n for n in list_models(task) if get_model_entry(n).trainable
                     and (not wanted or n in wanted or n.split("/", 1)[1] in wanted)]
            if args.smoke:
                names = names[:2]
            if not names:
                continue
            data = make_data(Path(tmp) / f"data_{task}", task, args.smoke)
            for name in names:
                row = {"model": name, "ms": {}}
                for mode in modes:
                    print(f"{name} {mode} ...", file=sys.stderr, flush=True)
                    row["ms"][mode] = step_ms(name, task, data, Path(tmp) / "runs", steps, args, mode)
                rows.append(row)
    print(markdown(rows, modes, args))
    if args.json:
        write_json(args.json, {"benchmark": "train_speed", "threads": args.threads, "batch": args.batch,
                               "patch": args.patch, "steps": steps, "modes": {m: MODES[m] for m in modes},
                               "torch": torch.__version__, "maikit": str(Path(maikit.__file__).parent), "rows": rows})
    return 0


def markdown(rows: list[dict], modes: list[str], args: argparse.Namespace) -> str:
    base = modes[0]
    head = "| model | " + " | ".join([f"{m} ms/step" for m in modes] + [f"{m} speed-up" for m in modes[1:]]) + " |"
    lines = [f"Training step, batch {args.batch}, {args.threads} thread(s), fast recipes "
             f"(depth {'64×48' if args.smoke else '480×640'} frames, ISP {2 * args.patch}×{2 * args.patch} crops)",
             "", head,
             "|---|" + "---:|" * (2 * len(modes) - 1)]
    for r in rows:
        ms = r["ms"]
        cells = [f"{ms[m]:.0f}" for m in modes] + [f"{ms[base] / ms[m]:.2f}×" for m in modes[1:]]
        lines.append(f"| {r['model']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
