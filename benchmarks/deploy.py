"""Deployment benchmark: every zoo model at the challenge shape, in one run.

For each model: LiteRT FP32 and INT8 latency (XNNPACK, 2 threads), PyTorch eager and ONNX
Runtime latency (same loop, same threads), MACs, and the compute-bound limit
``2 * MACs / SGEMM FLOP/s`` with the FLOP/s of a 4096 x 4096 float32 matrix product
measured in the same run. Then the Spearman rank correlation between our LiteRT CPU
runtimes of the seven depth solutions and their published Raspberry Pi 4 runtimes
(depth report Table 1; the duplicate ``tencent_star`` row is left out).

All timing goes through ``maikit.runtime``. Models use random weights (runtime does not
depend on them). The four backends of a model are timed in ``--rounds`` interleaved rounds
(FP32, INT8, PyTorch, ONNX, then again), each round with its share of the runs and minimum
time; a backend's figure is the median of its round averages, so that a burst of load from
outside the process (this is a shared virtual machine) hits one round, not one backend.
Usage::

    python benchmarks/deploy.py [--models isp/smallnet,depth/tcl] [--quick] [--rounds 3] [--out deploy.json]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np


def _settings(quick: bool, rounds: int = 1):
    """One round's loop settings: ≥ 20 runs and ≥ 2 s per backend over all rounds."""
    from maikit.runtime import LoopSettings

    if quick:
        return LoopSettings(runs=3, min_seconds=0.0, max_seconds=30.0, warmup_runs=1, warmup_seconds=0.0)
    return LoopSettings(runs=max(1, -(-20 // rounds)), min_seconds=2.0 / rounds, max_seconds=120.0 / rounds)


def measure_rounds(backends: dict, settings, rounds: int, clock=None) -> dict[str, dict]:
    """Time every backend once per round, in turn; ``{key: {"avg_ms": median of rounds, "rounds_ms": [...]}}``.

    ``clock``: the measuring loop's clock (default: its own, ``time.perf_counter``).
    """
    from maikit.runtime.loop import measure

    kwargs = {} if clock is None else {"clock": clock}
    per: dict[str, list[float]] = {key: [] for key in backends}
    for _ in range(rounds):
        for key, backend in backends.items():
            per[key].append(measure(backend, settings, **kwargs).avg_ms)
    return {key: {"avg_ms": float(np.median(v)), "rounds_ms": v} for key, v in per.items()}


def bench_model(name: str, work: Path, settings, threads: int, rounds: int = 1) -> dict:
    import torch

    from maikit.errors import MaikitError, first_line
    from maikit.export import inspect_tflite
    from maikit.export.exporter import verify_psnr
    from maikit.export.calib import random_inputs
    from maikit.export.inspect import conv_share, read_tflite
    from maikit.export.onnx import export_onnx
    from maikit.export.quantize import quantize_int8
    from maikit.export.source import resolve_source
    from maikit.export.tflite import TfliteRunner, convert_to_tflite
    from maikit.models import get_model_entry
    from maikit.runtime.backends import OnnxBackend, TfliteBackend, TorchBackend, random_input
    from maikit.tasks import get_task

    entry = get_model_entry(name)
    spec = get_task(entry.task)
    row: dict = {"model": name, "task": entry.task, "paper": entry.paper.key if entry.paper else None,
                 "paper_runtime_ms": entry.paper.runtime_ms if entry.paper else None}
    # model.tflite as `mai export` writes it (TCL's blocks folded by resolve_source, NHWC, latency
    # shape); the fidelity file and data calibration are not needed for timing
    model = resolve_source(name).model
    x = random_input(spec.latency_input_shape, np.float32)
    x_nchw = np.ascontiguousarray(x.transpose(0, 3, 1, 2))
    fp32 = convert_to_tflite(model, torch.from_numpy(x_nchw), work / "fp32.tflite", layout="nhwc")
    with torch.no_grad():
        ref = model(torch.from_numpy(x_nchw)).permute(0, 2, 3, 1).numpy()
    row["verify_psnr_db"] = verify_psnr(ref, TfliteRunner(fp32, threads=threads).run(x), spec)
    row["macs"] = inspect_tflite(fp32, targets=())["macs"]
    row["conv_share"] = conv_share(read_tflite(fp32)["subgraphs"][0])
    backends = {"litert_fp32": TfliteBackend(fp32, threads=threads, input=x)}
    try:  # a model that int8 cannot handle keeps its other measurements
        q = quantize_int8(fp32.read_bytes(), random_inputs(spec, spec.latency_input_shape, 2))
        (work / "int8.tflite").write_bytes(q)
        TfliteRunner(work / "int8.tflite", threads=threads)  # loads, or a one-line error
        backends["litert_int8"] = TfliteBackend(work / "int8.tflite", threads=threads, input=x)
    except Exception as e:  # noqa: BLE001 - recorded in the table
        row["int8_error"] = f"{type(e).__name__}: {first_line(e, default='')[:100]}"
    backends["torch"] = TorchBackend(lambda: model, x_nchw, threads)
    onnx_path = work / "model.onnx"
    try:  # a model ONNX cannot export keeps its other measurements
        export_onnx(model, torch.from_numpy(x_nchw), onnx_path, layout="nchw")
        backends["onnx"] = OnnxBackend(onnx_path, x_nchw, threads)
    except MaikitError as e:
        row["onnx_error"] = e.reason.splitlines()[0][:100]  # without the file name
    for key, r in measure_rounds(backends, settings, rounds).items():
        row[f"{key}_ms"] = r["avg_ms"]
        row[f"{key}_rounds_ms"] = r["rounds_ms"]
    return row


def spearman_depth(rows: list[dict]) -> dict:
    from scipy.stats import spearmanr

    from maikit.scoring.paper import paper_rows

    published = {r.key: r.runtime_ms for r in paper_rows("depth") if r.key != "tencent_star"}
    pairs = [(r["litert_fp32_ms"], published[r["paper"]]) for r in rows
             if r.get("paper") in published and r.get("litert_fp32_ms") is not None]
    if len(pairs) < 3:
        return {"pairs": len(pairs), "rho": None, "p_value": None}
    rho, p = spearmanr([a for a, _ in pairs], [b for _, b in pairs])
    return {"pairs": len(pairs), "rho": float(rho), "p_value": float(p)}


def _fmt(v, digits=1) -> str:
    return "—" if v is None else (f"{v:.{digits}f}" if isinstance(v, float) else str(v))


CONV_DOMINATED = 0.9  # conv share of the arithmetic (maikit.export.inspect.conv_share)
INT8_TARGET = 1.6
SMALLNET_BOUND_TARGET = 2.5


def _ratio(a, b):
    return a / b if a is not None and b else None


def targets(rows: list[dict]) -> dict:
    """The issue's three targets, each with the models that miss it."""
    ok = [r for r in rows if not r.get("error")]
    slower = [r["model"] for r in ok if r.get("onnx_ms") is not None and r["litert_fp32_ms"] > r["onnx_ms"]]
    no_onnx = [r["model"] for r in ok if r.get("onnx_ms") is None]
    conv = [r for r in ok if (r.get("conv_share") or 0) >= CONV_DOMINATED]
    int8_miss = [r["model"] for r in conv if (_ratio(r["litert_fp32_ms"], r.get("litert_int8_ms")) or 0) < INT8_TARGET]
    small = next((r for r in ok if r["model"] == "isp/smallnet"), None)
    small_ratio = _ratio(small["litert_fp32_ms"], small.get("compute_limit_ms")) if small else None
    return {
        "fp32_not_slower_than_onnx": {"met": not slower and not no_onnx, "slower": slower, "no_onnx": no_onnx},
        "int8_speedup_conv_dominated": {"met": not int8_miss, "threshold": INT8_TARGET,
                                        "models": [r["model"] for r in conv], "missed": int8_miss},
        "smallnet_within_bound": {"met": small_ratio is not None and small_ratio <= SMALLNET_BOUND_TARGET,
                                  "ratio": small_ratio},
        "errors": [r["model"] for r in rows if r.get("error")],
    }


def markdown(rows: list[dict], sgemm: dict, rho: dict, goals: dict) -> str:
    from maikit.runtime.system import cpu_description

    head = ("| model | GMACs | conv share | LiteRT FP32 ms | LiteRT INT8 ms | INT8 speed-up | PyTorch ms | ONNX RT ms "
            "| FP32 / ONNX | compute limit ms | FP32 / limit | paper ms | note |")
    lines = [head, "|" + "---|" * 13]
    for r in rows:
        gmacs = r["macs"] / 1e9 if r.get("macs") else None
        lines.append("| " + " | ".join([
            r["model"], _fmt(gmacs, 3), _fmt(r.get("conv_share"), 2), _fmt(r.get("litert_fp32_ms")),
            _fmt(r.get("litert_int8_ms")), _fmt(_ratio(r.get("litert_fp32_ms"), r.get("litert_int8_ms")), 2),
            _fmt(r.get("torch_ms")), _fmt(r.get("onnx_ms")), _fmt(_ratio(r.get("litert_fp32_ms"), r.get("onnx_ms")), 2),
            _fmt(r.get("compute_limit_ms"), 2), _fmt(_ratio(r.get("litert_fp32_ms"), r.get("compute_limit_ms")), 2),
            _fmt(r.get("paper_runtime_ms")),
            r.get("error") or "; ".join(f"{k.split('_')[0].upper()}: {r[k]}" for k in ("int8_error", "onnx_error") if r.get(k)),
        ]) + " |")
    lines.append("")
    lines.append(f"Machine: {cpu_description()}.")
    lines.append(f"SGEMM {sgemm['n']}x{sgemm['n']}: {sgemm['gflops']:.1f} GFLOP/s ({sgemm['threads']} threads). "
                 f"Spearman rho (depth, LiteRT FP32 vs published Raspberry Pi 4, {rho['pairs']} models): "
                 f"{_fmt(rho['rho'], 3)} (p = {_fmt(rho['p_value'], 3)})")
    g = goals
    yes = lambda ok: "met" if ok else "MISSED"  # noqa: E731
    f32 = g["fp32_not_slower_than_onnx"]
    lines.append(f"- LiteRT FP32 no slower than ONNX Runtime: {yes(f32['met'])}"
                 + (f" (slower: {', '.join(f32['slower'])})" if f32["slower"] else "")
                 + (f" (no ONNX number: {', '.join(f32['no_onnx'])})" if f32["no_onnx"] else ""))
    i8 = g["int8_speedup_conv_dominated"]
    lines.append(f"- INT8 ≥ {i8['threshold']}× faster for the {len(i8['models'])} convolution-dominated models "
                 f"(conv share ≥ {CONV_DOMINATED}): {yes(i8['met'])}"
                 + (f" (missed: {', '.join(i8['missed'])})" if i8["missed"] else ""))
    sb = g["smallnet_within_bound"]
    lines.append(f"- isp/smallnet FP32 within {SMALLNET_BOUND_TARGET}× of its compute-bound limit: {yes(sb['met'])} "
                 f"({_fmt(sb['ratio'], 2)}×)")
    if g["errors"]:
        lines.append(f"- failed: {', '.join(g['errors'])}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    from maikit.errors import first_line
    from maikit.io import write_json
    from maikit.models import list_models
    from maikit.runtime import measure_sgemm_flops
    from maikit.runtime.system import machine_info

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default=None, help="comma-separated model names (default: the whole zoo)")
    ap.add_argument("--quick", action="store_true", help="few timed runs (a smoke run)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=3, help="interleaved timing rounds per model (default 3)")
    ap.add_argument("--out", type=Path, default=Path("deploy_results.json"), help="JSON results file")
    args = ap.parse_args(argv)

    names = list_models() if not args.models else [n.strip() for n in args.models.split(",") if n.strip()]
    if args.rounds < 1:
        ap.error("--rounds must be at least 1")
    settings = _settings(args.quick, args.rounds)
    sgemm = measure_sgemm_flops(4096, threads=args.threads)
    rows = []
    for i, name in enumerate(names):
        print(f"[{i + 1}/{len(names)}] {name}", file=sys.stderr, flush=True)
        with tempfile.TemporaryDirectory(prefix="mai-deploy-") as tmp:
            try:
                row = bench_model(name, Path(tmp), settings, args.threads, args.rounds)
            except Exception as e:  # noqa: BLE001 - one model's failure is a row, not the end of the run
                row = {"model": name, "error": f"{type(e).__name__}: {first_line(e, default='')}"[:120]}
        if row.get("macs"):
            row["compute_limit_ms"] = 2.0 * row["macs"] / sgemm["flops"] * 1000.0
        rows.append(row)
        # partial results survive an interrupted run
        write_json(args.out, {"machine": machine_info(), "threads": args.threads, "quick": args.quick,
                              "rounds": args.rounds, "sgemm": sgemm, "partial": True, "models": rows})
    rho = spearman_depth(rows)
    goals = targets(rows)
    print(markdown(rows, sgemm, rho, goals))
    write_json(args.out, {"machine": machine_info(), "threads": args.threads, "quick": args.quick,
                          "rounds": args.rounds, "sgemm": sgemm, "spearman_depth": rho, "targets": goals, "models": rows})
    print(f"results: {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
