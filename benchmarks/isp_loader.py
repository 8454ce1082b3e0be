"""ISP data benchmark: synthesis speed, loader throughput, and memory vs dataset size.

    .venv/bin/python benchmarks/isp_loader.py [--data DIR] [--synth-count 1000]

1. Without ``--data``: writes ``--synth-count`` 256x256 synthetic pairs (``synth_isp``) into a
   temporary folder and reports pairs/s.
2. Loader: ``DataLoader(IspDataset(train, patch=128, augment=True), batch_size=32,
   num_workers=2, shuffle=True)``; after one warm-up batch, times ``--batches`` batches and
   reports packed 128x128 patches/s.
3. Memory: in a fresh process per size, an ``IspDataset`` is built from a list of N file
   pairs (the real files repeated) and ``--rss-batches`` batches are drawn with the same
   loader settings; peak RSS of the main process and of the largest worker are reported.
   Flat numbers between 1k and 24k (the official training set size) show the index does
   not grow with the data.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _loader(dataset, args):
    import torch

    return torch.utils.data.DataLoader(
        dataset, batch_size=args.batch_size, num_workers=args.workers, shuffle=True,
        generator=torch.Generator().manual_seed(0),
    )


def _maxrss_mb(who: int) -> float:
    return resource.getrusage(who).ru_maxrss / 1024.0  # Linux reports KiB


def _current_rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024.0
    return float("nan")


def rss_child(args) -> None:
    """Runs in a fresh process: index N pairs, draw a few batches, print peak RSS as JSON."""
    from maikit.data.isp import IspDataset
    from maikit.data.layout import find_pairs
    from maikit.tasks import ISP

    base = find_pairs(Path(args.data) / "train", ISP)
    pairs = list(itertools.islice(itertools.cycle(base), args.rss_child))
    del base
    rss_before = _current_rss_mb()
    t0 = time.perf_counter()
    ds = IspDataset(files=pairs, patch=args.patch, augment=True)
    build_s = time.perf_counter() - t0
    del pairs
    index_mb = _current_rss_mb() - rss_before
    for i, _ in enumerate(_loader(ds, args)):
        if i + 1 >= args.rss_batches:
            break
    # the loader's workers have exited and been reaped: RUSAGE_CHILDREN is the largest one
    print(json.dumps({
        "n": len(ds), "build_s": round(build_s, 3),
        "main_peak_rss_mb": round(_maxrss_mb(resource.RUSAGE_SELF), 1),
        "index_rss_mb": round(index_mb, 2),
        "index_bytes": int(ds._names.nbytes + ds._inputs.nbytes + ds._targets.nbytes),
        "worker_peak_rss_mb": round(_maxrss_mb(resource.RUSAGE_CHILDREN), 1),
    }))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", help="existing ISP dataset root with train/ (default: synthesise one)")
    p.add_argument("--synth-count", type=int, default=1000)
    p.add_argument("--batches", type=int, default=30)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--patch", type=int, default=128)
    p.add_argument("--sizes", default="1000,24000", help="dataset sizes for the memory test")
    p.add_argument("--rss-batches", type=int, default=8)
    p.add_argument("--rss-child", type=int, default=0, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.rss_child:
        return rss_child(args)

    import torch

    from maikit.data.isp import IspDataset
    from maikit.data.synth_isp import synth_isp

    report: dict = {"cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads()}
    tmp = None
    if args.data is None:
        tmp = tempfile.TemporaryDirectory(prefix="mai-isp-bench-")
        args.data = tmp.name
        t0 = time.perf_counter()
        synth_isp(args.data, args.synth_count, seed=0, val_fraction=0.0)
        s = time.perf_counter() - t0
        report["synth"] = {"pairs": args.synth_count, "seconds": round(s, 2), "pairs_per_s": round(args.synth_count / s, 1)}
        print(f"synth: {args.synth_count} pairs (256x256) in {s:.1f} s = {args.synth_count / s:.1f} pairs/s", flush=True)

    ds = IspDataset(Path(args.data) / "train", patch=args.patch, augment=True)
    it = iter(_loader(ds, args))
    next(it)  # warm-up: worker start-up
    n = 0
    t0 = time.perf_counter()
    for _ in range(args.batches):
        try:
            x, _y = next(it)
        except StopIteration:
            it = iter(_loader(ds, args))
            x, _y = next(it)
        n += x.shape[0]
    s = time.perf_counter() - t0
    report["loader"] = {"patches": n, "seconds": round(s, 2), "patches_per_s": round(n / s, 1),
                        "batch_size": args.batch_size, "workers": args.workers, "patch": args.patch}
    print(f"loader: {n} patches ({args.patch}x{args.patch} packed, augment) in {s:.2f} s = {n / s:.1f} patches/s", flush=True)

    report["memory"] = []
    for size in [int(v) for v in args.sizes.split(",")]:
        cmd = [sys.executable, __file__, "--data", args.data, "--rss-child", str(size),
               "--rss-batches", str(args.rss_batches), "--batch-size", str(args.batch_size),
               "--workers", str(args.workers), "--patch", str(args.patch)]
        out = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)
        report["memory"].append(out)
        print(f"memory: N={size:>6}: index {out['index_bytes'] / 1e6:.2f} MB built in {out['build_s']:.3f} s, main peak RSS "
              f"{out['main_peak_rss_mb']:.0f} MB, worker peak RSS {out['worker_peak_rss_mb']:.0f} MB", flush=True)
    print(json.dumps(report, indent=2))
    if tmp is not None:
        tmp.cleanup()


if __name__ == "__main__":
    main()
