"""Which XNNPACK kernels a .tflite runs on an AVX2-only x86 CPU, and how many instructions each costs.

On an AVX2 machine without AVX-512 or VNNI, `isp/smallnet` in INT8 was measured slower than in
FP32 (60.6 vs 51.9 ms, 2 threads), the reverse of an AVX-512 machine. Without such a machine at
hand, this script lets XNNPACK choose its kernels as it would there: under valgrind, whose
virtual CPU reports SSE..AVX2 and FMA3 but no AVX-512, XNNPACK's CPU detection takes the AVX2
code paths. Callgrind then counts the instructions every function executes; instruction counts
are repeatable and do not depend on the machine's load (time under valgrind means nothing).

Each file is run twice, once with 1 inference and once with 2, and the difference is the cost of
one inference (set-up such as XNNPACK's indirection buffers falls out). Usage::

    python benchmarks/simd_kernels.py [--model isp/smallnet] [--work bench_runs/simd] [--out simd.json]

Needs `valgrind` (Debian package). Takes a few minutes: FP32 FMA code runs ~100x slower under
valgrind.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

RUNNER = r"""
import sys, numpy as np
from ai_edge_litert.interpreter import Interpreter
path, n = sys.argv[1], int(sys.argv[2])
it = Interpreter(model_path=path, num_threads=1)
it.allocate_tensors()
d = it.get_input_details()[0]
rng = np.random.default_rng(0)
if np.issubdtype(d["dtype"], np.integer):
    info = np.iinfo(d["dtype"])
    x = rng.integers(info.min, info.max, size=d["shape"], endpoint=True).astype(d["dtype"])
else:
    x = rng.random(d["shape"], dtype=np.float32)
it.set_tensor(d["index"], x)
for _ in range(n):
    it.invoke()
"""


def _callgrind(model: Path, runs: int, work: Path) -> dict[str, int]:
    out = work / f"{model.parent.name}.{runs}.callgrind"
    script = work / "run_model.py"
    script.write_text(RUNNER)
    cmd = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", sys.executable, str(script), str(model), str(runs)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"error: valgrind failed on {model}: {proc.stderr.strip().splitlines()[-1:]}")
    text = subprocess.run(["callgrind_annotate", "--threshold=100", str(out)], capture_output=True, text=True, check=True).stdout
    counts: dict[str, int] = {}
    for line in text.splitlines():
        if "PROGRAM TOTALS" in line:
            counts["TOTAL"] = int(line.split()[0].replace(",", ""))
            continue
        m = re.match(r"\s*([\d,]+)\s+\([\d. %]+\)\s+(\S.*?)\s*(\[.*\])?$", line)
        if m:
            name = m.group(2).split(":")[-1]
            counts[name] = counts.get(name, 0) + int(m.group(1).replace(",", ""))
    return counts


def per_inference(model: Path, work: Path) -> dict[str, int]:
    one, two = _callgrind(model, 1, work), _callgrind(model, 2, work)
    diff = {k: two.get(k, 0) - one.get(k, 0) for k in set(one) | set(two)}
    return {k: v for k, v in diff.items() if v > 0}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="isp/smallnet", help="zoo model to export (random weights)")
    ap.add_argument("--work", type=Path, default=Path("bench_runs/simd"))
    ap.add_argument("--out", type=Path, default=None, help="JSON results file")
    ap.add_argument("--top", type=int, default=6, help="functions listed per file")
    args = ap.parse_args(argv)
    if args.top < 1:
        ap.error("--top must be at least 1")
    if shutil.which("valgrind") is None:
        ap.error("valgrind is not installed (apt-get install valgrind)")
    args.work.mkdir(parents=True, exist_ok=True)
    results = {}
    for precision in ("fp32", "int8"):
        out = args.work / precision
        if not (out / "model.tflite").exists():
            subprocess.run([sys.executable, "-m", "maikit", "export", "--model", args.model, "--out", str(out),
                            "--precision", precision], check=True, capture_output=True)
        print(f"[{precision}] callgrind, 1 and 2 inferences ...", file=sys.stderr, flush=True)
        counts = per_inference(out / "model.tflite", args.work)
        results[precision] = {"total": counts.pop("TOTAL"), "functions": dict(sorted(counts.items(), key=lambda kv: -kv[1]))}
    print(f"| file | instructions per inference (M) | top functions (M instructions) |")
    print("|---|---:|---|")
    for precision, r in results.items():
        top = ", ".join(f"`{k}` {v / 1e6:.0f}" for k, v in list(r["functions"].items())[: args.top])
        print(f"| {args.model} {precision} | {r['total'] / 1e6:.0f} | {top} |")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({"model": args.model, "results": results}, indent=2) + "\n")


if __name__ == "__main__":
    main()
