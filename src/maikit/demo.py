"""The end-to-end demo (``mai demo``, ``make demo``): the whole challenge path in one run.

For each task it synthesises a small dataset in the official layout (ISP patches, depth at
the official 480x640), checks it, trains a zoo model for a few minutes, exports FP32 and
INT8 TFLite files, inspects them for mobile delegate problems, evaluates them (official
metrics on the held-out split, runtime at the challenge shape, final score) and prints a
leaderboard in the columns of the reports' Table 1 (this machine's rows ranked among
themselves, the published rows beside them for reference), with a fidelity-vs-runtime
scatter plot per task. Its last step is a live challenge: ``mai serve --demo`` on an
SQLite platform in ``<folder>/platform`` (a real server process on loopback with one
in-process worker) takes the four exports through the platform's normal pipeline
(preflight, fidelity, runtime, score) and stops; ``mai serve --demo --data-dir
<folder>/platform`` serves it again with the boards filled.

Everything goes into one new folder ``OUT/<timestamp>/`` (``OUT/latest`` links to the
newest); nothing existing is touched. The published runtimes were measured on a phone APU
(ISP) and a Raspberry Pi 4 (depth); ours are this machine's CPU, so scores are comparable
in kind, not in value.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from rich.console import Console

from maikit.errors import MaikitError
from maikit.io import write_json, write_text

TASKS = ("isp", "depth")
PRECISIONS = ("fp32", "int8")
LATEST = "latest"  # OUT/latest -> the newest finished demo folder


@dataclass(frozen=True)
class DemoPlan:
    """Sizes and time budgets of the demo; ``quick`` is a smoke-test version."""

    isp_model: str = "isp/smallnet"
    depth_model: str = "depth/aiia_hit"
    isp_count: int = 360
    depth_count: int = 48
    isp_train_minutes: float = 3.0
    depth_train_minutes: float = 3.5
    val_images: int = 8
    bench_runs: int = 20
    bench_min_seconds: float = 1.0
    bench_max_seconds: float = 15.0
    precisions: tuple[str, ...] = PRECISIONS
    threads: int = 2
    seed: int = 0
    export_hw: dict = field(default_factory=dict)  # task -> (h, w) to shrink exports (quick mode)
    live: bool = True  # the last step: the exports through a live challenge platform
    live_timeout_s: float = 1200.0  # the platform step's longest wait for its results
    # the training budgets' clock: wall time (the demo's minutes), or the process's CPU time,
    # which buys the same training on a busy machine (the quick and short plans: tests, and
    # baselines whose quality must not depend on the load)
    budget_clock: str = "wall"

    @classmethod
    def quick(cls) -> "DemoPlan":
        return cls(isp_count=24, depth_count=6, isp_train_minutes=0.25, depth_train_minutes=0.1, val_images=2,
                   bench_runs=2, bench_min_seconds=0.0, bench_max_seconds=2.0, budget_clock="cpu")

    @classmethod
    def short(cls) -> "DemoPlan":
        """The baselines ``mai serve --demo`` trains when there is no ``mai demo`` output: about
        a minute of training in all (:data:`SHORT_TRAINING`)."""
        return cls(isp_count=48, depth_count=8, isp_train_minutes=0.5, depth_train_minutes=0.5, val_images=2,
                   live=False, budget_clock="cpu")


SHORT_TRAINING = "about 2 minutes (synthetic data, 30 CPU-seconds of training per task, FP32 and INT8 exports)"


def _timestamp() -> str:
    return time.strftime("%Y%m%d-%H%M%S")


def _jobs(plan: DemoPlan) -> dict[str, dict]:
    return {
        "isp": dict(model=plan.isp_model, minutes=plan.isp_train_minutes, count=plan.isp_count),
        "depth": dict(model=plan.depth_model, minutes=plan.depth_train_minutes, count=plan.depth_count),
    }


def _specs() -> dict:
    from maikit.tasks import DEPTH, ISP

    return {spec.name: spec for spec in (ISP, DEPTH)}


def _new_folder(out: str | Path) -> Path:
    folder = Path(out) / _timestamp()
    while folder.exists():  # two demos in the same second
        time.sleep(1.0)
        folder = Path(out) / _timestamp()
    folder.mkdir(parents=True)
    return folder


def _data(folder: Path, plan: DemoPlan, console: Console, step: Callable[[str], None]) -> dict[str, Path]:
    """Steps 1 and 2: the synthetic datasets, checked."""
    from maikit.data.check import check_dataset
    from maikit.data.synth_depth import synth_depth
    from maikit.data.synth_isp import synth_isp

    specs = _specs()
    step("synthesise data in the official layouts (small and synthetic)")
    data = {"isp": folder / "data" / "isp", "depth": folder / "data" / "depth"}
    info = synth_isp(data["isp"], plan.isp_count, seed=plan.seed, val_fraction=0.15)
    console.print(f"  isp: {info.get('train')} train / {info.get('val')} val RAW–RGB pairs (unprocessed photos)")
    info = synth_depth(data["depth"], plan.depth_count, seed=plan.seed, val_fraction=0.15)
    console.print(f"  depth: {info.get('train')} train / {info.get('val')} val rendered scenes at 480x640")

    step("check the datasets")
    for task in TASKS:
        report = check_dataset(data[task], specs[task])
        console.print(f"  {task}: {report.pairs} pairs, {len(report.problems)} problems")
        if report.problems:
            first = report.problems[0]
            raise RuntimeError(f"synthesised {task} data failed its check: {first.file}: {first.reason}")
    return data


def _train_export(folder: Path, plan: DemoPlan, data: dict[str, Path], console: Console, step: Callable[[str], None],
                  summary: dict) -> dict[tuple[str, str], Path]:
    """Steps 3 and 4: each task's model trained, then exported FP32 and INT8."""
    from maikit.export.exporter import export_model
    from maikit.train import TrainConfig, train

    specs, jobs = _specs(), _jobs(plan)
    step("train")
    runs = {}
    for task, job in jobs.items():
        runs[task] = folder / "runs" / job["model"].replace("/", "_")
        clock = "" if plan.budget_clock == "wall" else f" of {plan.budget_clock} time"
        console.print(f"  {job['model']}: fast recipe, {job['minutes']:g} min budget{clock}")
        result = train(TrainConfig(
            task=task, model=job["model"], data=str(data[task]), out=str(runs[task]), recipe="fast",
            seed=plan.seed, device="cpu", max_minutes=job["minutes"], val_images=plan.val_images,
            budget_clock=plan.budget_clock,
        ))
        summary["tasks"].setdefault(task, {}).update(model=job["model"], train_minutes=job["minutes"],
                                                     train_clock=plan.budget_clock,
                                                     train=result.to_dict())

    step("export FP32 and INT8 TFLite (model.tflite + model_none.tflite)")
    exports: dict[tuple[str, str], Path] = {}
    for task in jobs:
        for precision in plan.precisions:
            dest = folder / "export" / f"{task}_{precision}"
            with console.status(f"  {task} {precision}: converting, checking against PyTorch"
                                + (", calibrating" if precision == "int8" else "")):
                record = export_model(runs[task], dest, task=specs[task], precision=precision,
                                      calib=data[task], input_hw=plan.export_hw.get(task))
            exports[(task, precision)] = dest
            shape = "dynamic" if record.get("dynamic") else f"fixed {record.get('none_input_shape')}"
            console.print(f"  {task} {precision}: verify PSNR {record.get('verify_psnr_db', float('nan')):.1f} dB, "
                          f"fidelity file {shape}")
            summary["tasks"][task].setdefault("export", {})[precision] = record
    return exports


def train_baselines(out: str | Path, plan: DemoPlan | None = None, console: Console | None = None) -> Path:
    """Synthesise, check, train and export (the demo's steps 1-4 only) into a new folder under
    ``out``: the baselines ``mai serve --demo`` submits when there is no ``mai demo`` output.
    Returns the folder (``export/{isp,depth}_{fp32,int8}`` and ``summary.json``)."""
    plan = plan or DemoPlan.short()
    console = console or Console(stderr=True)
    folder = _new_folder(out)
    t0, n = time.perf_counter(), [0]

    def step(text: str) -> None:
        n[0] += 1
        console.print(f"baselines step {n[0]}/4: {text} ({time.perf_counter() - t0:.0f} s)", highlight=False)

    summary: dict = {"folder": str(folder), "tasks": {}, "plan": "short"}
    data = _data(folder, plan, console, step)
    _train_export(folder, plan, data, console, step, summary)
    summary["seconds"] = round(time.perf_counter() - t0, 1)
    write_json(folder / "summary.json", summary)
    return folder


def finished_demo(folder: Path) -> bool:
    """A demo folder whose run finished: its summary and all four exports are there."""
    return (folder / "summary.json").is_file() and all(
        (folder / "export" / f"{t}_{p}" / "model.tflite").is_file() for t in TASKS for p in PRECISIONS)


def latest_demo(out: str | Path) -> Path | None:
    """The newest finished demo folder under ``out`` (``mai demo --out OUT``), or None."""
    out = Path(out)
    if not out.is_dir():
        return None
    found = sorted((p for p in out.iterdir() if p.is_dir() and not p.is_symlink() and finished_demo(p)),
                   key=lambda p: p.name)
    return found[-1] if found else None


def run_demo(out: str | Path = "demo_out", plan: DemoPlan | None = None, console: Console | None = None) -> dict:
    """Run the demo; returns the summary that is also written to ``<folder>/summary.json``."""
    from maikit.data.layout import resolve_split
    from maikit.eval import evaluate_model
    from maikit.export.inspect import inspect_tflite
    from maikit.leaderboard import Entry, device_groups, leaderboard_table, paper_entries, scatter_plot
    from maikit.models import get_model_entry

    plan = plan or DemoPlan()
    console = console or Console(stderr=True)
    folder = _new_folder(out)
    t0 = time.perf_counter()
    n_steps = 7 if plan.live else 6
    done = [0]
    summary: dict = {"folder": str(folder), "tasks": {}}

    starts: list[tuple[str, float]] = []  # (step, seconds since the start) for summary["steps"]

    def step(text: str) -> None:
        done[0] += 1
        starts.append((text, time.perf_counter() - t0))
        console.rule(f"[bold]step {done[0]}/{n_steps}[/] {text}  [dim]({starts[-1][1]:.0f} s)[/]")

    specs, jobs = _specs(), _jobs(plan)
    data = _data(folder, plan, console, step)
    exports = _train_export(folder, plan, data, console, step, summary)

    step("inspect for mobile-delegate compatibility")
    for (task, precision), dest in exports.items():
        rep = inspect_tflite(dest / "model.tflite")
        by_target: dict[str, int] = {}
        for f in rep["findings"]:
            by_target[f["target"]] = by_target.get(f["target"], 0) + 1
        console.print(f"  {task} {precision}: {rep['size_bytes'] / 1000:.1f} KB, {sum(rep['ops'].values())} ops, "
                      f"findings per target {by_target or 'none'}")
        summary["tasks"][task].setdefault("inspect", {})[precision] = {
            "size_bytes": rep["size_bytes"], "ops": rep["ops"], "macs": rep.get("macs"), "findings": rep["findings"]}

    step("evaluate (official metrics, runtime at the challenge shape, final score)")
    bench = dict(threads=plan.threads, runs=plan.bench_runs, min_seconds=plan.bench_min_seconds,
                 max_seconds=plan.bench_max_seconds)
    tables = {}
    for task in jobs:
        val = resolve_split(data[task], specs[task], "val")
        entries = paper_entries(specs[task])
        for precision in plan.precisions:
            with console.status(f"  {task} {precision}: fidelity on the held-out split, then the runtime"):
                res = evaluate_model(exports[(task, precision)], specs[task], val, bench_kwargs=bench)
            summary["tasks"][task].setdefault("eval", {})[precision] = res
            size_kb = summary["tasks"][task]["inspect"][precision]["size_bytes"] / 1000.0
            metrics = {m: res[m] for m in ("psnr", "ssim", "ms_ssim", "si_rmse", "rmse", "log10", "rel") if m in res}
            entries.append(Entry(f"maikit {jobs[task]['model']} {precision.upper()}", size_kb, metrics,
                                 res["runtime_ms"], res["score"], "measured", "this CPU"))
            console.print(f"  {task} {precision}: {specs[task].primary_metric} {metrics[specs[task].primary_metric]:.4f}, "
                          f"{res['runtime_ms']:.1f} ms, score {res['score']:.2f}")
        summary["tasks"][task]["paper_row"] = getattr(get_model_entry(jobs[task]["model"]).paper, "team", None)
        tables[task] = leaderboard_table(entries, specs[task])
        plot = scatter_plot(entries, specs[task], folder / f"{task}_fidelity_vs_runtime.png")
        # each row with its rank among the rows of its own device (this CPU's, or the report's)
        summary["tasks"][task]["leaderboard"] = [e.to_dict() | {"rank": i} for _device, group in
                                                 device_groups(entries, specs[task]) for i, e in enumerate(group, 1)]
        summary["tasks"][task]["plot"] = str(plot)

    lines = []
    with open(os.devnull, "w") as sink:
        for table in tables.values():
            rec = Console(record=True, width=170, file=sink)
            rec.print(table)
            lines.append(rec.export_text())
    write_text(folder / "leaderboard.txt", "\n".join(lines))
    write_json(folder / "summary.json", summary | {"seconds": round(time.perf_counter() - t0, 1)})

    if plan.live:
        step("a live challenge: the four exports through the platform (preflight, fidelity, runtime, score)")
        summary["platform"] = live_challenge(folder, plan, console)

    summary["seconds"] = round(time.perf_counter() - t0, 1)
    ends = [t for _text, t in starts[1:]] + [summary["seconds"]]
    summary["steps"] = [{"step": text, "seconds": round(end - start, 1)} for (text, start), end in zip(starts, ends)]
    write_json(folder / "summary.json", summary)
    _link_latest(folder)
    summary["tables"] = tables
    return summary


def _link_latest(folder: Path) -> None:
    """``OUT/latest`` -> this folder (replaced atomically; skipped where links cannot be made)."""
    link = folder.parent / LATEST
    tmp = folder.parent / f".{LATEST}.{os.getpid()}"
    try:
        tmp.unlink(missing_ok=True)
        tmp.symlink_to(folder.name)
        os.replace(tmp, link)
    except OSError:
        tmp.unlink(missing_ok=True)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve_command(platform_dir: Path) -> str:
    """The one command that serves the demo's platform again."""
    return f"mai serve --demo --data-dir {platform_dir}"


def live_challenge(folder: Path, plan: DemoPlan, console: Console) -> dict:
    """``mai serve --demo`` on ``folder/platform`` (a new SQLite platform, its demo challenges'
    validation splits the demo's own, its baselines the demo's exports) as a real server
    process on loopback with one in-process worker; waits until every submission it makes is
    done, prints each as it finishes, stops the server and returns
    ``{"folder", "url_command", "submissions": [...]}``. A submission that failed, or a server
    that stopped or never answered, is a MaikitError naming the reason and the server's log."""
    import httpx

    platform_dir = folder / "platform"
    platform_dir.mkdir()
    log_path = platform_dir / "serve.log"
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    argv = [sys.executable, "-m", "maikit", "serve", "--demo", "--demo-from", str(folder), "--data-dir",
            str(platform_dir), "--reference-root", str(platform_dir), "--port", str(port), "--workers", "1"]
    t0 = time.perf_counter()
    deadline = t0 + plan.live_timeout_s
    with open(log_path, "wb") as log:
        server = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True)

    def log_tail() -> str:
        lines = log_path.read_text(errors="replace").strip().splitlines()
        return " | ".join(lines[-3:]) if lines else "(empty)"

    def check_alive() -> None:
        if server.poll() is not None:
            raise MaikitError(f"the demo's platform stopped (exit {server.returncode}): {log_tail()}", log_path)
        if time.perf_counter() > deadline:
            raise MaikitError(f"the demo's platform did not finish in {plan.live_timeout_s:.0f} s: {log_tail()}", log_path)
        if "seeding the leaderboard failed" in log_path.read_text(errors="replace"):
            raise MaikitError(f"the demo's platform could not submit its baselines: {log_tail()}", log_path)

    marker = platform_dir / "demo" / "seeded"
    rows: dict[int, dict] = {}
    try:
        console.print(f"  starting the platform on {url} (SQLite in {platform_dir}; log: {log_path.name})")
        while not marker.is_file():
            check_alive()
            time.sleep(0.5)
        tokens = json.loads((platform_dir / "demo-tokens.json").read_text())
        ids = [int(x) for x in marker.read_text().split()]
        console.print(f"  submitted {len(ids)} uploads through the API ({time.perf_counter() - t0:.0f} s); "
                      "waiting for fidelity and runtime jobs")
        headers = {"Authorization": f"Bearer {tokens['organiser']}"}
        with httpx.Client(base_url=url, timeout=60, headers=headers) as http:
            while len(rows) < len(ids):
                check_alive()
                for sid in ids:
                    if sid in rows:
                        continue
                    r = http.get(f"/api/submissions/{sid}")
                    r.raise_for_status()
                    sub = r.json()
                    if sub["status"] not in ("Finished", "Failed", "Cancelled"):
                        continue
                    rows[sid] = sub
                    if sub["status"] != "Finished":
                        raise MaikitError(f"the demo's submission {sid} ({sub['challenge']}/{sub['phase']}, "
                                          f"{sub.get('description')}) {sub['status']}: {sub.get('reason')}", log_path)
                    primary = "psnr" if sub["challenge"] == "demo-isp" else "si_rmse"
                    console.print(f"  {sub['challenge']}/{sub['phase']}: {sub.get('description')}: Finished, "
                                  f"{primary} {sub['metrics'][primary]:.4f}, {sub['runtime_ms']:.1f} ms, "
                                  f"score {sub['score']:.2f} ({time.perf_counter() - t0:.0f} s)", highlight=False)
                if len(rows) < len(ids):
                    time.sleep(1.0)
    finally:
        _stop(server)
    return {"folder": str(platform_dir), "command": serve_command(platform_dir), "seconds": round(time.perf_counter() - t0, 1),
            "submissions": [rows[i] for i in sorted(rows)]}


def _stop(server: subprocess.Popen, timeout: float = 30.0) -> None:
    """SIGTERM to the server's process group (uvicorn stops, its workers with it), SIGKILL after ``timeout``."""
    if server.poll() is not None:
        return
    try:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait()
    except ProcessLookupError:
        pass
