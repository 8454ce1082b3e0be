"""Noise study: what the spread of this machine's own timing loop is made of (issue 24, item 4).

The project's measuring loop (:func:`maikit.runtime.loop.measure`, what `mai bench` and the
``litert-cpu`` device worker run) measures one fixed .tflite ``--measurements`` times (each
with the loop's usual settings: benchmark_model's 50 runs / 1 s minimum, 1 warm-up run /
0.5 s). Around every timed inference a probe reads, outside the wall-clock window:

* wall time (``time.perf_counter``, read next to the invoke);
* CPU time of the calling thread (``time.thread_time``) and of the whole process
  (``time.process_time``: all interpreter threads);
* CPU steal from ``/proc/stat`` (per CPU, USER_HZ ticks: what the hypervisor gave to others);
* run-queue wait of every thread of the process (``/proc/self/task/*/schedstat``, the guest's
  own scheduler: waiting behind other guest processes);
* involuntary and voluntary context switches (``getrusage``) and CPU migrations
  (``se.nr_migrations`` of every thread, ``/proc/self/task/*/sched``).

Conditions: the machine as it is ("idle": the load average of every measurement is
recorded, since nothing here can make the machine idle), and with ``--hogs`` CPU-bound
processes running (0 skips it). Candidate estimators of one measurement (the phase
statistic ``avg`` over its runs), each judged by the CV of the ``--measurements`` values:

* ``wall``: the wall time per inference, as reported today;
* ``wall_nosteal``: the wall time over the runs whose interval saw no steal tick (steal-aware
  filter);
* ``wall_clean``: the same, also dropping runs with an involuntary context switch;
* ``wall_minus_steal``: each run's wall time less the largest per-CPU steal of its interval;
* ``wall_minus_wait``: each run's wall time less the steal and the calling thread's run-queue wait;
* ``cpu_thread``: the calling thread's CPU time per inference;
* ``cpu_process``: the process's CPU time per inference divided by the threads.

Perf hardware counters are not available in most guests (``perf stat -e instructions true``
says ``<not supported>``), so none are read. Usage (about 2 minutes on an idle 2-core VM)::

    python benchmarks/noise_study.py [--measurements 10] [--hogs 2] [--threads 2] [--model FILE]
        [--shape 1,544,960,4] [--runs 50] [--min-seconds 1] [--json] [--out noise.json]
    python benchmarks/noise_study.py --from-json noise.json     # the report of a saved run again
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import re
import resource
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_MODEL = ROOT / "src" / "maikit" / "runtime" / "devices" / "data" / "ref_isp_smallnet.tflite"
TICK_NS = 1e9 / os.sysconf("SC_CLK_TCK")
_MIGRATIONS = re.compile(rb"se\.nr_migrations\s*:\s*(\d+)")


def _hog(stop):
    x = 0
    while not stop.is_set():
        for _ in range(100000):
            x = (x * 1103515245 + 12345) & 0xFFFFFFFF


class Probe:
    """Counters read through file descriptors kept open (``pread`` regenerates a /proc file)."""

    def __init__(self):
        self.stat = os.open("/proc/stat", os.O_RDONLY)
        self.threads: list[tuple[int, int, int]] = []  # (tid, schedstat fd, sched fd)

    def attach_threads(self) -> None:
        """Open the per-thread files of every thread the process has now (the interpreter's pool)."""
        self.close_threads()
        for tid in sorted(int(t) for t in os.listdir("/proc/self/task")):
            try:
                ss = os.open(f"/proc/self/task/{tid}/schedstat", os.O_RDONLY)
                sc = os.open(f"/proc/self/task/{tid}/sched", os.O_RDONLY)
            except OSError:
                continue
            self.threads.append((tid, ss, sc))

    def close_threads(self) -> None:
        for _, ss, sc in self.threads:
            os.close(ss)
            os.close(sc)
        self.threads = []

    def close(self) -> None:
        self.close_threads()
        os.close(self.stat)

    def counters(self) -> dict:
        steal = []
        for line in os.pread(self.stat, 8192, 0).split(b"\n"):
            if line.startswith(b"cpu") and line[3:4].isdigit():
                steal.append(int(line.split()[8]))
            elif steal:
                break
        main_tid = threading_id()
        wait_main = wait_all = migrations = 0
        for tid, ss, sc in self.threads:
            try:
                _, delay, _ = os.pread(ss, 256, 0).split()
                m = _MIGRATIONS.search(os.pread(sc, 8192, 0))
            except (OSError, ValueError):  # a thread that ended
                continue
            wait_all += int(delay)
            if tid == main_tid:
                wait_main = int(delay)
            migrations += int(m.group(1)) if m else 0
        ru = resource.getrusage(resource.RUSAGE_SELF)
        return {"steal": steal, "wait_main_ns": wait_main, "wait_all_ns": wait_all, "migrations": migrations,
                "ivcsw": ru.ru_nivcsw, "vcsw": ru.ru_nvcsw}


def threading_id() -> int:
    return int(getattr(os, "gettid", lambda: os.getpid())())


class ProbedBackend:
    """The loop's backend with every ``step`` bracketed by the probe (the probe's reads lie
    outside the wall-clock window of the invoke; the loop's own per-run times include them)."""

    def __init__(self, inner, probe: Probe):
        self.inner, self.probe, self.name = inner, probe, inner.name
        self.records: list[dict] = []

    def load(self):
        self.inner.load()

    def prepare(self):
        self.inner.prepare()
        self.probe.attach_threads()

    def close(self):
        self.inner.close()

    def step(self):
        a = self.probe.counters()
        ta, pa = time.thread_time_ns(), time.process_time_ns()
        w0 = time.perf_counter_ns()
        self.inner.step()
        w1 = time.perf_counter_ns()
        pb, tb = time.process_time_ns(), time.thread_time_ns()
        b = self.probe.counters()
        steal = [(y - x) * TICK_NS for x, y in zip(a["steal"], b["steal"])]
        self.records.append({
            "wall_ms": (w1 - w0) / 1e6,
            "cpu_thread_ms": (tb - ta) / 1e6,
            "cpu_process_ms": (pb - pa) / 1e6,
            "steal_ms": sum(steal) / 1e6,            # all CPUs
            "steal_max_cpu_ms": max(steal, default=0.0) / 1e6,
            "wait_main_ms": (b["wait_main_ns"] - a["wait_main_ns"]) / 1e6,
            "wait_all_ms": (b["wait_all_ns"] - a["wait_all_ns"]) / 1e6,
            "ivcsw": b["ivcsw"] - a["ivcsw"],
            "vcsw": b["vcsw"] - a["vcsw"],
            "migrations": b["migrations"] - a["migrations"],
        })


def _mean(values):
    values = [v for v in values if v is not None]
    return statistics.fmean(values) if values else None


def _cv(values):
    values = [v for v in values if v is not None]
    if len(values) < 2:
        return None
    m = statistics.fmean(values)
    return statistics.pstdev(values) / m if m else None


def _pearson(x, y):
    if len(x) < 3 or statistics.pstdev(x) == 0 or statistics.pstdev(y) == 0:
        return None
    return statistics.correlation(x, y)


ESTIMATORS = ("wall", "wall_nosteal", "wall_clean", "wall_minus_steal", "wall_minus_wait", "cpu_thread", "cpu_process")


STATISTICS = ("avg", "p50", "min")


def _stat(values: list[float], statistic: str):
    if not values:
        return None
    if statistic == "avg":
        return statistics.fmean(values)
    return min(values) if statistic == "min" else statistics.median(values)


def estimators(recs: list[dict], threads: int) -> dict:
    """Every estimator under each statistic of the loop (avg, p50, min over the runs)."""
    per_run = {
        "wall": [r["wall_ms"] for r in recs],
        "wall_nosteal": [r["wall_ms"] for r in recs if r["steal_ms"] == 0],
        "wall_clean": [r["wall_ms"] for r in recs if r["steal_ms"] == 0 and r["ivcsw"] == 0],
        "wall_minus_steal": [r["wall_ms"] - r["steal_max_cpu_ms"] for r in recs],
        "wall_minus_wait": [r["wall_ms"] - r["steal_max_cpu_ms"] - r["wait_main_ms"] for r in recs],
        "cpu_thread": [r["cpu_thread_ms"] for r in recs],
        "cpu_process": [r["cpu_process_ms"] / threads for r in recs],
    }
    out = {st: {k: _stat(v, st) for k, v in per_run.items()} for st in STATISTICS}
    out["kept"] = {"wall_nosteal": len(per_run["wall_nosteal"]), "wall_clean": len(per_run["wall_clean"])}
    return out


def measure_once(model: Path, threads: int, shape, settings) -> dict:
    from maikit.runtime.loop import measure
    from maikit.tflite.backend import TfliteBackend

    probe = Probe()
    backend = ProbedBackend(TfliteBackend(model, threads=threads, shape=shape, resize=shape is not None), probe)
    load_before = os.getloadavg()[0]
    try:
        m = measure(backend, settings)
    finally:
        probe.close()
    recs = backend.records[-m.runs:]  # the timed runs (the first inference and the warm-up come before)
    sums = {k: sum(r[k] for r in recs) for k in ("steal_ms", "wait_main_ms", "wait_all_ms", "ivcsw", "vcsw", "migrations")}
    return {
        "loop_avg_ms": m.avg_ms,  # the loop's own figure (its per-run times include the probe's reads)
        "runs": m.runs,
        "load_before": load_before,
        "load_after": os.getloadavg()[0],
        **{f"total_{k}": v for k, v in sums.items()},
        "runs_with_steal": sum(r["steal_ms"] > 0 for r in recs),
        "runs_with_ivcsw": sum(r["ivcsw"] > 0 for r in recs),
        "estimators": estimators(recs, threads),
        "samples": recs,
    }


def analyse(rows: list[dict]) -> dict:
    """CV of every estimator over the measurements, and what the wall time's spread is made of."""
    out = {"cv": {st: {k: _cv([r["estimators"][st][k] for r in rows]) for k in ESTIMATORS} for st in STATISTICS}}
    out["mean_ms"] = {st: {k: _mean([r["estimators"][st][k] for r in rows]) for k in ESTIMATORS} for st in STATISTICS}
    out["loop_avg_cv"] = _cv([r["loop_avg_ms"] for r in rows])
    out["clean_runs_kept"] = [r["estimators"]["kept"]["wall_clean"] for r in rows]
    out["nosteal_runs_kept"] = [r["estimators"]["kept"]["wall_nosteal"] for r in rows]
    out["load"] = [round(max(r["load_before"], r["load_after"]), 2) for r in rows]
    # between measurements: wall = cpu_thread + gap (gap: the calling thread not running on a CPU)
    wall = [r["estimators"]["avg"]["wall"] for r in rows]
    cpu = [r["estimators"]["avg"]["cpu_thread"] for r in rows]
    gap = [w - c for w, c in zip(wall, cpu)]
    vw = statistics.pvariance(wall)
    if vw > 0:
        cov = sum((c - statistics.fmean(cpu)) * (g - statistics.fmean(gap)) for c, g in zip(cpu, gap)) / len(wall)
        out["wall_variance_share"] = {"cpu_thread": (statistics.pvariance(cpu) + cov) / vw,
                                      "not_running": (statistics.pvariance(gap) + cov) / vw}
    # within measurements, over every timed run: what goes with the runs' wall-minus-cpu gap
    samples = [s for r in rows for s in r["samples"]]
    g = [s["wall_ms"] - s["cpu_thread_ms"] for s in samples]
    out["per_run"] = {
        "runs": len(samples),
        "wall_cv": _cv([s["wall_ms"] for s in samples]),
        "cpu_thread_cv": _cv([s["cpu_thread_ms"] for s in samples]),
        "gap_mean_ms": _mean(g),
        "corr_wall_gap": _pearson([s["wall_ms"] for s in samples], g),
        "corr_wall_cpu_thread": _pearson([s["wall_ms"] for s in samples], [s["cpu_thread_ms"] for s in samples]),
        "corr_gap_steal": _pearson(g, [s["steal_max_cpu_ms"] for s in samples]),
        "corr_gap_wait": _pearson(g, [s["wait_main_ms"] for s in samples]),
        "corr_gap_ivcsw": _pearson(g, [float(s["ivcsw"]) for s in samples]),
        "corr_gap_migrations": _pearson(g, [float(s["migrations"]) for s in samples]),
        "share_with_steal": sum(s["steal_ms"] > 0 for s in samples) / max(len(samples), 1),
        "share_with_ivcsw": sum(s["ivcsw"] > 0 for s in samples) / max(len(samples), 1),
        "share_with_migration": sum(s["migrations"] > 0 for s in samples) / max(len(samples), 1),
    }
    return out


def _series(label: str, n: int, model, threads, shape, settings, quiet: bool) -> dict:
    rows = []
    for i in range(n):
        rows.append(measure_once(model, threads, shape, settings))
        e = rows[-1]["estimators"]["avg"]
        if not quiet:
            print(f"  {label} {i + 1}/{n}: wall {e['wall']:.2f} ms, cpu(thread) {e['cpu_thread']:.2f} ms, "
                  f"steal {rows[-1]['total_steal_ms']:.0f} ms, ivcsw {rows[-1]['total_ivcsw']}, "
                  f"load {rows[-1]['load_after']:.2f}", file=sys.stderr)
    return {"condition": label, "rows": rows, "summary": analyse(rows)}


def _pct(v):
    return "n/a" if v is None else f"{100 * v:.1f} %"


def _r(v):
    return "n/a" if v is None else f"{v:+.2f}"


def report(result: dict) -> str:
    lines = [f"model {result['model']} at {result['shape']}, {result['threads']} threads, "
             f"{result['measurements']} measurements of {result['settings']['runs']} runs / "
             f"{result['settings']['min_seconds']:g} s; {result['machine']}"]
    cols = [(s, st) for s in result["series"] for st in STATISTICS]
    lines.append("CV of the measurements (mean value) per estimator and the loop's statistic:")
    lines.append("| estimator | " + " | ".join(f"{s['condition']}, {st}" for s, st in cols) + " |")
    lines.append("|---|" + "---|" * len(cols))
    for k in ESTIMATORS:
        cells = [f"{_pct(s['summary']['cv'][st][k])} ({s['summary']['mean_ms'][st][k]:.1f})"
                 if s["summary"]["mean_ms"][st][k] is not None else "n/a" for s, st in cols]
        lines.append(f"| {k} | " + " | ".join(cells) + " |")
    for s in result["series"]:
        su, pr = s["summary"], s["summary"]["per_run"]
        share = su.get("wall_variance_share") or {}
        lines.append(f"{s['condition']}: load {su['load']}; loop's own avg CV {_pct(su['loop_avg_cv'])}; "
                     f"runs kept without steal {su['nosteal_runs_kept']}, also without ivcsw {su['clean_runs_kept']}")
        lines.append(f"  variance of the wall means: cpu(thread) {_pct(share.get('cpu_thread'))}, "
                     f"not running {_pct(share.get('not_running'))}")
        lines.append(f"  per run ({pr['runs']}): wall CV {_pct(pr['wall_cv'])}, cpu CV {_pct(pr['cpu_thread_cv'])}, "
                     f"mean wall-cpu {pr['gap_mean_ms']:.2f} ms; r(wall, gap) {_r(pr['corr_wall_gap'])}, "
                     f"r(wall, cpu) {_r(pr['corr_wall_cpu_thread'])}, r(gap, steal) {_r(pr['corr_gap_steal'])}, "
                     f"r(gap, runq wait) {_r(pr['corr_gap_wait'])}, r(gap, ivcsw) {_r(pr['corr_gap_ivcsw'])}, "
                     f"r(gap, migrations) {_r(pr['corr_gap_migrations'])}; runs with steal "
                     f"{_pct(pr['share_with_steal'])}, ivcsw {_pct(pr['share_with_ivcsw'])}, "
                     f"migration {_pct(pr['share_with_migration'])}")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--measurements", type=int, default=10)
    ap.add_argument("--hogs", type=int, default=2, help="CPU-bound processes for the second condition (0: idle only)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--model", type=Path, default=DEFAULT_MODEL)
    ap.add_argument("--shape", default=None, help="run a model at this shape, e.g. 1,272,480,4 (default: its own)")
    ap.add_argument("--runs", type=int, default=None, help="the loop's runs (default: the loop's)")
    ap.add_argument("--min-seconds", type=float, default=None)
    ap.add_argument("--json", action="store_true", help="print the whole result as JSON (samples included)")
    ap.add_argument("--out", type=Path, default=None, help="also write the JSON here")
    ap.add_argument("--from-json", type=Path, default=None, help="report on a saved --out file again (no measuring)")
    a = ap.parse_args(argv)
    if a.from_json:
        result = json.loads(a.from_json.read_text())
        for series in result["series"]:
            for row in series["rows"]:
                row["estimators"] = estimators(row["samples"], result["threads"])
            series["summary"] = analyse(series["rows"])
        print(json.dumps(result, indent=1) if a.json else report(result))
        return 0
    if a.measurements < 2 or a.hogs < 0 or a.threads < 1:
        ap.error("--measurements >= 2, --hogs >= 0, --threads >= 1")
    if not a.model.is_file():
        ap.error(f"--model: no file {a.model}")
    shape = tuple(int(v) for v in a.shape.split(",")) if a.shape else None

    from maikit.runtime.loop import settings_for
    from maikit.runtime.system import machine_info

    settings = settings_for(None, runs=a.runs, min_seconds=a.min_seconds)
    info = machine_info()
    result = {"model": str(a.model.relative_to(ROOT) if a.model.is_relative_to(ROOT) else a.model),
              "shape": list(shape) if shape else "its own", "threads": a.threads, "measurements": a.measurements,
              "settings": {"runs": settings.runs, "min_seconds": settings.min_seconds,
                           "warmup_runs": settings.warmup_runs, "warmup_seconds": settings.warmup_seconds},
              "machine": f"{os.cpu_count()} CPUs, {info.get('cpu') or info.get('processor') or ''}".strip(", "),
              "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "series": []}
    result["series"].append(_series("idle", a.measurements, a.model, a.threads, shape, settings, a.json))
    if a.hogs:
        stop = mp.Event()
        hogs = [mp.Process(target=_hog, args=(stop,), daemon=True) for _ in range(a.hogs)]
        for p in hogs:
            p.start()
        try:
            result["series"].append(_series(f"{a.hogs} CPU hogs", a.measurements, a.model, a.threads, shape, settings, a.json))
        finally:
            stop.set()
            for p in hogs:
                p.join(5)
    if a.out:
        a.out.write_text(json.dumps(result, indent=1))
    if a.json:
        print(json.dumps(result, indent=1))
    else:
        print(report(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
