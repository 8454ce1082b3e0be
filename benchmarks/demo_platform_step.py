"""The demo's last step (the live challenge) timed on its own, on a finished demo folder.

`mai demo`'s step 7 starts ``mai serve --demo`` on a new SQLite platform, submits the four
exports (both tasks, FP32 and INT8) plus one testing-phase upload per task through the API
and waits until every one is Finished. This script runs that step again on a copy of a
finished demo folder (data, exports and summary; the old platform left out) and reports its
wall-clock time, the CPU time it and its children used (the server process, its in-process
worker and the sandboxed evaluations it waits for) and the load average before and after.
The CPU time barely moves with other jobs on the machine; on an idle machine the step, which
runs one job at a time, takes about that long plus the polling waits.

Usage: python benchmarks/demo_platform_step.py DEMO_FOLDER [--json]
       (DEMO_FOLDER: e.g. demo_out/latest from `make demo`)
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import tempfile
import time
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folder", type=Path)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    from rich.console import Console

    from maikit.demo import DemoPlan, finished_demo, live_challenge

    source = args.folder.resolve()
    if not finished_demo(source):
        raise SystemExit(f"{source}: not a finished demo folder (summary.json and export/*_{{fp32,int8}})")
    with tempfile.TemporaryDirectory(prefix="demo-step-") as tmp:
        folder = Path(tmp) / source.name
        shutil.copytree(source, folder, ignore=shutil.ignore_patterns("platform", "runs"))
        load0 = os.getloadavg()
        cpu0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        result = live_challenge(folder, DemoPlan(), Console(stderr=True))
        wall = time.perf_counter() - t0
        cpu1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        load1 = os.getloadavg()
    out = {"wall_s": round(wall, 1),
           "children_cpu_s": round((cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime), 1),
           "submissions": len(result["submissions"]), "load_before": load0, "load_after": load1,
           "cores": os.cpu_count()}
    print(json.dumps(out) if args.json else
          f"live step: {out['wall_s']} s wall, {out['children_cpu_s']} s CPU (server and its children), "
          f"{out['submissions']} submissions Finished; load {load0[0]:.1f} -> {load1[0]:.1f} on {out['cores']} cores")


if __name__ == "__main__":
    main()
