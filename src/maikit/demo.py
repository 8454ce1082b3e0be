"""The end-to-end demo (``mai demo``, ``make demo``): the whole challenge path in one run.

For each task it synthesises a small dataset in the official layout, checks it, trains a
zoo model for a few minutes, exports FP32 and INT8 TFLite files, inspects them for mobile
delegate problems, evaluates them (official metrics on the held-out split, runtime at the
challenge shape, final score) and prints a leaderboard in the columns of the reports'
Table 1 next to the published rows, with a fidelity-vs-runtime scatter plot per task.

Everything goes into one new folder ``OUT/<timestamp>/``; nothing existing is touched.
The published runtimes were measured on a phone APU (ISP) and a Raspberry Pi 4 (depth);
ours are this machine's CPU, so scores are comparable in kind, not in value.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from rich.console import Console

from maikit.io import write_json, write_text


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
    precisions: tuple[str, ...] = ("fp32", "int8")
    threads: int = 2
    seed: int = 0
    export_hw: dict = field(default_factory=dict)  # task -> (h, w) to shrink exports (quick mode)

    @classmethod
    def quick(cls) -> "DemoPlan":
        return cls(isp_count=24, depth_count=6, isp_train_minutes=0.1, depth_train_minutes=0.1, val_images=2,
                   bench_runs=2, bench_min_seconds=0.0, bench_max_seconds=2.0)


Step = Callable[[str], None]


def _timestamp() -> str:
    return time.strftime("%Y%m%d-%H%M%S")


def run_demo(out: str | Path = "demo_out", plan: DemoPlan | None = None, console: Console | None = None) -> dict:
    """Run the demo; returns the summary that is also written to ``<folder>/summary.json``."""
    from maikit.data.check import check_dataset
    from maikit.data.layout import resolve_split
    from maikit.data.synth_depth import synth_depth
    from maikit.data.synth_isp import synth_isp
    from maikit.eval import evaluate_model
    from maikit.export.exporter import export_model
    from maikit.export.inspect import inspect_tflite
    from maikit.leaderboard import Entry, leaderboard_table, paper_entries, scatter_plot
    from maikit.models import get_model_entry
    from maikit.tasks import DEPTH, ISP
    from maikit.train import TrainConfig, train

    plan = plan or DemoPlan()
    console = console or Console(stderr=True)
    folder = Path(out) / _timestamp()
    while folder.exists():  # two demos in the same second
        time.sleep(1.0)
        folder = Path(out) / _timestamp()
    folder.mkdir(parents=True)
    t0 = time.perf_counter()
    n_steps = 6
    summary: dict = {"folder": str(folder), "tasks": {}}

    def step(i: int, text: str) -> None:
        console.rule(f"[bold]step {i}/{n_steps}[/] {text}  [dim]({time.perf_counter() - t0:.0f} s)[/]")

    jobs = {
        "isp": dict(model=plan.isp_model, minutes=plan.isp_train_minutes, count=plan.isp_count),
        "depth": dict(model=plan.depth_model, minutes=plan.depth_train_minutes, count=plan.depth_count),
    }
    specs = {spec.name: spec for spec in (ISP, DEPTH)}

    step(1, "synthesise data in the official layouts")
    data = {}
    data["isp"] = folder / "data" / "isp"
    info = synth_isp(data["isp"], plan.isp_count, seed=plan.seed, val_fraction=0.15)
    console.print(f"  isp: {info.get('train')} train / {info.get('val')} val RAW–RGB pairs (unprocessed photos)")
    data["depth"] = folder / "data" / "depth"
    info = synth_depth(data["depth"], plan.depth_count, seed=plan.seed, val_fraction=0.15)
    console.print(f"  depth: {info.get('train')} train / {info.get('val')} val rendered scenes")

    step(2, "check the datasets")
    for task in ("isp", "depth"):
        report = check_dataset(data[task], specs[task])
        console.print(f"  {task}: {report.pairs} pairs, {len(report.problems)} problems")
        if report.problems:
            first = report.problems[0]
            raise RuntimeError(f"synthesised {task} data failed its check: {first.file}: {first.reason}")

    step(3, "train")
    runs = {}
    for task, job in jobs.items():
        runs[task] = folder / "runs" / job["model"].replace("/", "_")
        console.print(f"  {job['model']}: fast recipe, {job['minutes']:.1f} min budget")
        result = train(TrainConfig(
            task=task, model=job["model"], data=str(data[task]), out=str(runs[task]), recipe="fast",
            seed=plan.seed, device="cpu", max_minutes=job["minutes"], val_images=plan.val_images,
        ))
        summary["tasks"].setdefault(task, {})["train"] = result.to_dict()

    step(4, "export FP32 and INT8 TFLite (model.tflite + model_none.tflite)")
    exports: dict[tuple[str, str], Path] = {}
    for task in jobs:
        for precision in plan.precisions:
            dest = folder / "export" / f"{task}_{precision}"
            record = export_model(runs[task], dest, task=specs[task], precision=precision,
                                  calib=data[task], input_hw=plan.export_hw.get(task))
            exports[(task, precision)] = dest
            console.print(f"  {task} {precision}: verify PSNR {record.get('verify_psnr_db', float('nan')):.1f} dB, "
                          f"dynamic={record.get('dynamic')}")
            summary["tasks"][task].setdefault("export", {})[precision] = record

    step(5, "inspect for mobile-delegate compatibility")
    for (task, precision), dest in exports.items():
        rep = inspect_tflite(dest / "model.tflite")
        by_target: dict[str, int] = {}
        for f in rep["findings"]:
            by_target[f["target"]] = by_target.get(f["target"], 0) + 1
        console.print(f"  {task} {precision}: {rep['size_bytes'] / 1000:.1f} KB, {sum(rep['ops'].values())} ops, "
                      f"findings per target {by_target or 'none'}")
        summary["tasks"][task].setdefault("inspect", {})[precision] = {
            "size_bytes": rep["size_bytes"], "ops": rep["ops"], "macs": rep.get("macs"), "findings": rep["findings"]}

    step(6, "evaluate (official metrics, runtime at the challenge shape, final score)")
    bench = dict(threads=plan.threads, runs=plan.bench_runs, min_seconds=plan.bench_min_seconds,
                 max_seconds=plan.bench_max_seconds)
    for task in jobs:
        val = resolve_split(data[task], specs[task], "val")
        entries = paper_entries(specs[task])
        for precision in plan.precisions:
            res = evaluate_model(exports[(task, precision)], specs[task], val, bench_kwargs=bench)
            summary["tasks"][task].setdefault("eval", {})[precision] = res
            size_kb = summary["tasks"][task]["inspect"][precision]["size_bytes"] / 1000.0
            metrics = {m: res[m] for m in ("psnr", "ssim", "ms_ssim", "si_rmse", "rmse", "log10", "rel") if m in res}
            entries.append(Entry(f"maikit {jobs[task]['model']} {precision.upper()}", size_kb, metrics,
                                 res["runtime_ms"], res["score"], "measured", "this CPU"))
        summary["tasks"][task]["paper_row"] = getattr(get_model_entry(jobs[task]["model"]).paper, "team", None)
        table = leaderboard_table(entries, specs[task])
        plot = scatter_plot(entries, specs[task], folder / f"{task}_fidelity_vs_runtime.png")
        summary["tasks"][task]["leaderboard"] = [e.to_dict() for e in entries]
        summary["tasks"][task]["plot"] = str(plot)
        summary["tasks"][task]["table"] = table

    summary["seconds"] = round(time.perf_counter() - t0, 1)
    tables = {t: summary["tasks"][t].pop("table") for t in jobs}
    write_json(folder / "summary.json", summary)
    lines = []
    with open(os.devnull, "w") as sink:
        for table in tables.values():
            rec = Console(record=True, width=170, file=sink)
            rec.print(table)
            lines.append(rec.export_text())
    write_text(folder / "leaderboard.txt", "\n".join(lines))
    summary["tables"] = tables
    return summary
