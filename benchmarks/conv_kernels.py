"""Kernel check: one convolution alone, in LiteRT (XNNPACK, FP32 and INT8) and in ONNX Runtime.

`benchmarks/deploy.py` compares whole models. Where LiteRT FP32 is slower than ONNX Runtime for
a model that is nothing but dense 3×3 convolutions, or INT8 barely faster than FP32 for a
depth-wise network, this script asks whether the export can be blamed: every case is a graph
of ONE convolution (+ ReLU, which both runtimes fuse), converted exactly as `mai export`
converts (``maikit.export.tflite.convert_to_tflite``, NHWC; ``maikit.export.onnx``, NCHW;
int8 by ``maikit.export.quantize.quantize_int8``). Nothing is left to the graph, so any
difference is the runtimes' kernels. The shapes are the ones that dominate the deployment
table's misses (isp/noahtcv's full-resolution body, depth/unet's encoder and decoder, depth/jmu's
head).

All timing goes through ``maikit.runtime``, in interleaved rounds as in deploy.py. ONNX Runtime
runs a lone NCHW convolution with its blocked-layout (NCHWc) kernel between a ReorderInput and a
ReorderOutput, which a whole model pays once, not per convolution; so ONNX Runtime's convolution
is also timed alone, from its own profiler (the median over runs of the Conv nodes' kernel
time), and the FP32 comparison uses that. Usage::

    python benchmarks/conv_kernels.py [--threads 1] [--rounds 3] [--out conv_kernels.json]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

# (name, in channels, out channels, kernel, groups, input H, W)
CASES = [
    ("isp/noahtcv body 3×3 16→16 @544×960", 16, 16, 3, 1, 544, 960),
    ("depth/unet encoder 3×3 16→16 @240×320", 16, 16, 3, 1, 240, 320),
    ("depth/unet decoder 3×3 384→128 @30×40", 384, 128, 3, 1, 30, 40),
    ("depth/jmu head depth-wise 3×3 24 @128×160", 24, 24, 3, 24, 128, 160),
    ("depth/jmu head 1×1 24→16 @128×160", 24, 16, 1, 1, 128, 160),
]


def _conv(cin: int, cout: int, k: int, groups: int):
    import torch

    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Conv2d(cin, cout, k, padding=k // 2, groups=groups), torch.nn.ReLU()).eval()


def bench_case(case, work: Path, settings, threads: int, rounds: int) -> dict:
    import torch

    from deploy import measure_rounds  # same interleaving as the model table

    from maikit.export.inspect import inspect_tflite
    from maikit.export.onnx import export_onnx
    from maikit.export.quantize import quantize_int8
    from maikit.export.tflite import convert_to_tflite
    from maikit.runtime.backends import OnnxBackend, TfliteBackend

    name, cin, cout, k, groups, h, w = case
    model = _conv(cin, cout, k, groups)
    rng = np.random.default_rng(0)
    x = rng.uniform(0.0, 1.0, size=(1, h, w, cin)).astype(np.float32)
    x_nchw = np.ascontiguousarray(x.transpose(0, 3, 1, 2))
    fp32 = convert_to_tflite(model, torch.from_numpy(x_nchw), work / "fp32.tflite", layout="nhwc")
    info = inspect_tflite(fp32, targets=())
    if sum(info["ops"].values()) != 1:  # the premise: nothing but the convolution in the graph
        raise RuntimeError(f"{name}: the LiteRT graph is not one convolution: {info['ops']}")
    (work / "int8.tflite").write_bytes(quantize_int8(fp32.read_bytes(), [x, rng.uniform(0, 1, x.shape).astype(np.float32)]))
    export_onnx(model, torch.from_numpy(x_nchw), work / "model.onnx", layout="nchw")
    backends = {
        "litert_fp32": TfliteBackend(fp32, threads=threads, input=x),
        "litert_int8": TfliteBackend(work / "int8.tflite", threads=threads, input=x),
        "onnx": OnnxBackend(work / "model.onnx", x_nchw, threads),
    }
    row = {"case": name, "macs": info["macs"], "tflite_ops": info["ops"],
           "int8_ops": inspect_tflite(work / "int8.tflite", targets=())["ops"]}
    for key, r in measure_rounds(backends, settings, rounds).items():
        row[f"{key}_ms"] = r["avg_ms"]
        row[f"{key}_rounds_ms"] = r["rounds_ms"]
    row["onnx_conv_kernel_ms"] = onnx_conv_kernel_ms(work / "model.onnx", x_nchw, threads, runs=3 if settings.runs <= 3 else 20)
    return row


def onnx_conv_kernel_ms(path: Path, x_nchw: np.ndarray, threads: int, runs: int = 20) -> float:
    """Median over ``runs`` of the Conv nodes' kernel time (ms) in ONNX Runtime's own profile."""
    import json
    from collections import defaultdict

    from maikit.export.onnx import OnnxRunner

    # the same session settings as the timed OnnxBackend, plus the profiler
    runner = OnnxRunner(path, threads=threads, profile_prefix=str(path.with_suffix("")))
    for _ in range(3 + runs):
        runner.run(x_nchw)
    events = json.loads(Path(runner.session.end_profiling()).read_text())
    per_node: dict[str, list[float]] = defaultdict(list)
    for e in events:
        if e.get("cat") == "Node" and e["name"].endswith("_kernel_time") and e.get("args", {}).get("op_name") in ("Conv", "FusedConv"):
            per_node[e["name"]].append(e["dur"] / 1000.0)
    if not per_node:
        raise RuntimeError(f"no Conv node in the ONNX Runtime profile of {path}")
    # the last `runs` runs of every Conv node, summed run by run
    sums = np.sum([v[-runs:] for v in per_node.values()], axis=0)
    return float(np.median(sums))


def markdown(rows: list[dict], threads: int) -> str:
    gmacs = lambda r, key: r["macs"] / r[key] / 1e6  # noqa: E731 - GMAC/s from ms
    lines = [f"| case ({threads} thread{'s' if threads > 1 else ''}) | GMACs | LiteRT FP32 ms | ONNX RT ms (graph) "
             "| ONNX RT Conv kernel ms | FP32 / ORT kernel | FP32 GMAC/s LiteRT / ORT kernel | LiteRT INT8 ms "
             "| INT8 speed-up |",
             "|" + "---|" * 9]
    for r in rows:
        lines.append(
            f"| {r['case']} | {r['macs'] / 1e9:.3f} | {r['litert_fp32_ms']:.2f} | {r['onnx_ms']:.2f} "
            f"| {r['onnx_conv_kernel_ms']:.2f} | {r['litert_fp32_ms'] / r['onnx_conv_kernel_ms']:.2f} "
            f"| {gmacs(r, 'litert_fp32_ms'):.1f} / {gmacs(r, 'onnx_conv_kernel_ms'):.1f} "
            f"| {r['litert_int8_ms']:.2f} | {r['litert_fp32_ms'] / r['litert_int8_ms']:.2f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    from deploy import _settings

    from maikit.io import write_json
    from maikit.runtime.system import machine_info

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--rounds", type=int, default=3, help="interleaved timing rounds per case (default 3)")
    ap.add_argument("--quick", action="store_true", help="few timed runs (a smoke run)")
    ap.add_argument("--out", type=Path, default=Path("conv_kernels.json"), help="JSON results file")
    args = ap.parse_args(argv)
    if args.rounds < 1 or args.threads < 1:
        ap.error("--rounds and --threads must be at least 1")
    settings = _settings(args.quick, args.rounds)
    rows = []
    for i, case in enumerate(CASES):
        print(f"[{i + 1}/{len(CASES)}] {case[0]}", file=sys.stderr, flush=True)
        with tempfile.TemporaryDirectory(prefix="mai-kernels-") as tmp:
            rows.append(bench_case(case, Path(tmp), settings, args.threads, args.rounds))
    print(markdown(rows, args.threads))
    write_json(args.out, {"machine": machine_info(), "threads": args.threads, "rounds": args.rounds, "cases": rows})
    print(f"results: {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
