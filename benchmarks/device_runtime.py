"""Device-runtime benchmark: can the worker's runtime figure be trusted, and what does its
path cost compared with `mai bench`?

1. **Repeatability, idle**: one model measured ``--repeats`` times through the path a worker
   takes (``litert-cpu`` backend: child process, phase protocol; drift control against the
   calibrated reference). Reports the coefficient of variation of the reported runtimes.
2. **Repeatability with a CPU hog started halfway**: the same, with ``--hogs`` CPU-bound
   processes started before the second half. The drift control must flag or repeat the
   disturbed measurements, not report them silently.
3. **Overhead**: the same file, same protocol, ``benchmark_tflite`` (what `mai bench` runs)
   vs the backend, interleaved ``--rounds`` times: the reported latency and the wall time of
   one job (the backend starts a child process and imports LiteRT there).

The job model is isp/smallnet at half the ISP latency shape (1x272x480x4, built here with
PyTorch); the reference is the shipped smallnet at 1x544x960x4. Usage::

    python benchmarks/device_runtime.py [--repeats 10] [--hogs 2] [--rounds 5] [--out device_runtime.json]
        [--threads 2] [--min-seconds 1] [--parts idle,hog,overhead]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import statistics
import sys
import tempfile
import time
from pathlib import Path


def _hog(stop):
    x = 0
    while not stop.is_set():
        for _ in range(100000):
            x = (x * 1103515245 + 12345) & 0xFFFFFFFF


def _cv(values):
    m = statistics.fmean(values)
    return statistics.pstdev(values) / m if m else float("nan")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=10)
    ap.add_argument("--hogs", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--tolerance", type=float, default=0.10)
    ap.add_argument("--threads", type=int, default=2, help="the protocol's threads (2: all cores of the 2-core machine)")
    ap.add_argument("--min-seconds", type=float, default=1.0, help="the protocol's shortest measurement")
    ap.add_argument("--parts", default="idle,hog,overhead", help="comma-separated: idle, hog, overhead")
    ap.add_argument("--out", type=Path, default=None)
    a = ap.parse_args(argv)
    if a.repeats < 2 or a.rounds < 1 or a.hogs < 0 or a.threads < 1 or a.min_seconds < 0:
        ap.error("--repeats >= 2, --rounds >= 1, --hogs >= 0, --threads >= 1, --min-seconds >= 0")
    parts = {x.strip() for x in a.parts.split(",") if x.strip()}
    if not parts or parts - {"idle", "hog", "overhead"}:
        ap.error(f"--parts: choose from idle, hog, overhead (got {a.parts!r})")

    import torch

    from maikit.export.tflite import convert_to_tflite
    from maikit.models import create_model
    from maikit.runtime.devices import MeasureProtocol, get_backend
    from maikit.runtime.drift import DriftPolicy, calibrate, measure_with_drift

    tmp = Path(tempfile.mkdtemp(prefix="mai-devbench-"))
    model = tmp / "smallnet_half.tflite"
    torch.manual_seed(0)
    convert_to_tflite(create_model("isp/smallnet").eval(), torch.rand(1, 4, 272, 480), model)

    device = get_backend("litert-cpu")
    protocol = MeasureProtocol(threads=a.threads, runs=30, min_seconds=a.min_seconds, warmup_runs=1, warmup_seconds=0.5)
    policy = DriftPolicy(tolerance=a.tolerance, cv_tolerance=0.25, max_attempts=3)
    out = {"machine": device.fingerprint(), "protocol": protocol.to_dict(),
           "policy": {"tolerance": policy.tolerance, "cv_tolerance": policy.cv_tolerance, "max_attempts": policy.max_attempts}}

    print("calibrating the reference (5 runs)...", file=sys.stderr)
    baseline = calibrate(device, n=5)
    out["baseline"] = {k: baseline[k] for k in ("baseline_ms", "values_ms", "spread")}
    print(f"  baseline {baseline['baseline_ms']:.2f} ms, spread {baseline['spread']:.1%}", file=sys.stderr)

    def series(label, hog_from=None):
        rows, stop, procs = [], mp.Event(), []
        for i in range(a.repeats):
            if hog_from is not None and i == hog_from:
                procs = [mp.Process(target=_hog, args=(stop,), daemon=True) for _ in range(a.hogs)]
                for p in procs:
                    p.start()
            r = measure_with_drift(device, model, protocol, baseline, policy)
            d = r["drift"]
            samples = sorted(r.get("samples_ms") or [])
            stats = {"avg": statistics.fmean(samples), "p50": statistics.median(samples), "min": samples[0]} if samples else {}
            rows.append({"value_ms": r["value_ms"], "ok": d["ok"], "attempts": len(d["attempts"]),
                         "drift": d["drift"], "cv": r["cv"], "hog": bool(procs), "stats_ms": stats,
                         "reference_ms": [d["reference_before_ms"], d["reference_after_ms"]]})
            print(f"  {label} {i + 1}: {r['value_ms']:.2f} ms  drift {d['drift']:.1%}  attempts {len(d['attempts'])}"
                  f"  {'ok' if d['ok'] else 'FLAGGED'}{'  (hog running)' if procs else ''}", file=sys.stderr)
        stop.set()
        for p in procs:
            p.join(timeout=10)
        values = [x["value_ms"] for x in rows]
        clean = [x["value_ms"] for x in rows if x["ok"]]
        # the same measurements read with the other statistics (from each reported attempt's raw samples)
        by_stat = {k: _cv([x["stats_ms"][k] for x in rows]) for k in ("avg", "p50", "min") if all(x["stats_ms"] for x in rows)}
        return {"rows": rows, "cv_all": _cv(values), "cv_clean": _cv(clean) if len(clean) > 1 else None,
                "cv_by_statistic": by_stat,
                "flagged": sum(not x["ok"] for x in rows), "repeated": sum(x["attempts"] > 1 for x in rows)}

    if "idle" in parts:
        print("repeatability, idle:", file=sys.stderr)
        out["idle"] = series("idle")
    if "hog" in parts:
        print("repeatability, CPU hog from the middle:", file=sys.stderr)
        out["hog"] = series("hog", hog_from=a.repeats // 2)
    if "overhead" in parts:
        overhead(a, out, device, model, protocol)
    for k in ("idle", "hog"):
        if k not in out:
            continue
        s = out[k]
        print(f"{k}: CV of reported runtime {s['cv_all']:.1%} (clean only: "
              f"{'-' if s['cv_clean'] is None else format(s['cv_clean'], '.1%')}), flagged {s['flagged']}, repeated {s['repeated']}; "
              "same runs read as " + ", ".join(f"{k} {v:.1%}" for k, v in s["cv_by_statistic"].items()))
    if a.out:
        a.out.write_text(json.dumps(out, indent=2))
    return 0


def overhead(a, out: dict, device, model: Path, protocol) -> None:
    from maikit.runtime import benchmark_tflite

    print("overhead vs benchmark_tflite:", file=sys.stderr)
    bench_ms, dev_ms, bench_wall, dev_wall = [], [], [], []
    kw = dict(threads=protocol.threads, runs=protocol.runs, min_seconds=protocol.min_seconds, warmup_runs=1, warmup_seconds=0.5)
    for _ in range(a.rounds):
        t0 = time.perf_counter()
        bench_ms.append(benchmark_tflite(model, **kw)["avg_ms"])
        bench_wall.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        dev_ms.append(device.measure(model, protocol)["value_ms"])
        dev_wall.append(time.perf_counter() - t0)
    med = statistics.median
    out["overhead"] = {"bench_avg_ms": bench_ms, "device_avg_ms": dev_ms, "bench_wall_s": bench_wall, "device_wall_s": dev_wall,
                       "latency_ratio": med(dev_ms) / med(bench_ms), "wall_extra_s": med(dev_wall) - med(bench_wall)}
    o = out["overhead"]
    print(f"  latency: bench {med(bench_ms):.2f} ms, backend {med(dev_ms):.2f} ms (ratio {o['latency_ratio']:.3f}); "
          f"wall per job: bench {med(bench_wall):.2f} s, backend {med(dev_wall):.2f} s", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
