"""Start-up time of the ``mai`` command: wall time, CPU time and what each command imports.

Each command runs ``--runs`` times in a fresh interpreter (``python -m maikit ...``); the
report gives the median wall time, the median CPU time of the child (user + system, less
sensitive to other load on the machine than the wall time), and the heavy libraries the
command imported, read from ``python -X importtime`` (with that module's cumulative import
time in ms). Usage (from the repository root):

    .venv/bin/python benchmarks/cli_startup.py [--runs 7] [--json] [--src OTHER/src]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

COMMANDS = (
    ["--help"],
    ["score", "isp", "--psnr", "23.2", "--runtime-ms", "61"],
    ["score", "--paper", "depth", "--json"],
    ["train", "--help"],
    ["models", "list", "--help"],
)
HEAVY = ("torch", "litert_torch", "ai_edge_litert", "cv2", "matplotlib", "numpy", "scipy", "skimage", "onnxruntime",
         "pydantic", "typer", "rich")
_LINE = re.compile(r"import time:\s+\d+ \|\s+(\d+) \|(\s*)(\S+)")


SRC = str(Path(__file__).resolve().parents[1] / "src")


def _env() -> dict:
    src = SRC
    return {**os.environ, "PYTHONPATH": src + os.pathsep + os.environ.get("PYTHONPATH", "")}


def run_once(argv: list[str]) -> tuple[float, float]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "maikit", *argv], env=_env(), stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, check=True)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def heavy_imports(argv: list[str]) -> dict[str, float]:
    """Top-level heavy packages the command imported -> cumulative import time (ms)."""
    res = subprocess.run([sys.executable, "-X", "importtime", "-m", "maikit", *argv], env=_env(),
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, check=True)
    out = {}
    for m in _LINE.finditer(res.stderr):
        name = m.group(3)
        if name in HEAVY:
            out[name] = max(out.get(name, 0.0), int(m.group(1)) / 1000)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=7, help="runs per command (median reported)")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--src", help="measure the maikit sources in this folder instead (e.g. an older checkout's src/)")
    args = ap.parse_args()
    global SRC
    SRC = args.src or SRC
    if args.runs < 1:
        ap.error("--runs must be at least 1")
    rows = []
    for argv in COMMANDS:
        run_once(argv)  # warm the file cache
        times = [run_once(argv) for _ in range(args.runs)]
        rows.append({
            "command": "mai " + " ".join(argv),
            "wall_s": statistics.median(t[0] for t in times),
            "cpu_s": statistics.median(t[1] for t in times),
            "imports_ms": heavy_imports(argv),
        })
    load = os.getloadavg()[0]
    if args.json:
        print(json.dumps({"load_avg_1min": load, "cpus": os.cpu_count(), "rows": rows}, indent=2))
        return
    print(f"{os.cpu_count()} CPUs, load average {load:.1f}; median of {args.runs} runs")
    print("| command | wall s | CPU s | heavy imports (cumulative ms) |")
    print("|---|---|---|---|")
    for r in rows:
        imp = ", ".join(f"{k} {v:.0f}" for k, v in sorted(r["imports_ms"].items(), key=lambda kv: -kv[1]))
        print(f"| `{r['command']}` | {r['wall_s']:.2f} | {r['cpu_s']:.2f} | {imp} |")


if __name__ == "__main__":
    main()
