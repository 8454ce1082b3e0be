"""benchmarks/conv_kernels.py times ONNX Runtime's convolutions from its own profiler."""

from __future__ import annotations

import importlib.util
import sys
import time
from pathlib import Path

import numpy as np
import torch

BENCH = Path(__file__).resolve().parents[2] / "benchmarks"


def _module():
    sys.path.insert(0, str(BENCH))  # the script imports deploy.py's round timing, as when run from there
    try:
        spec = importlib.util.spec_from_file_location("conv_kernels_bench", BENCH / "conv_kernels.py")
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        return mod
    finally:
        sys.path.remove(str(BENCH))


def test_onnx_conv_kernel_time_sums_the_conv_nodes_and_leaves_out_the_rest(tmp_path):
    from maikit.export.onnx import OnnxRunner, export_onnx

    bench = _module()
    # two convolutions and a bilinear resize between them: the figure is the convolutions' time,
    # so below the whole run's time, and it grows when a third convolution is added
    def model(n_convs):
        layers = []
        for i in range(n_convs):
            layers.append(torch.nn.Conv2d(8, 8, 3, padding=1))
            if i == 0:
                layers.append(torch.nn.Upsample(scale_factor=2, mode="bilinear"))
        return torch.nn.Sequential(*layers).eval()

    x = np.random.default_rng(0).uniform(0, 1, (1, 8, 64, 64)).astype(np.float32)
    figures = {}
    for n in (2, 3):
        path = tmp_path / f"m{n}.onnx"
        export_onnx(model(n), torch.from_numpy(x), path, layout="nchw")
        figures[n] = bench.onnx_conv_kernel_ms(path, x, threads=1, runs=10)
        runner = OnnxRunner(path, threads=1)
        runner.run(x)
        t0 = time.perf_counter()
        for _ in range(10):
            runner.run(x)
        wall_ms = (time.perf_counter() - t0) / 10 * 1000
        assert 0 < figures[n] < wall_ms
    # the third convolution runs at 128×128 like the second: 9/5 of the two-convolution work
    assert figures[3] > 1.3 * figures[2]


def test_every_case_is_a_single_convolution_in_litert(tmp_path):
    from maikit.export.inspect import inspect_tflite
    from maikit.export.tflite import convert_to_tflite

    bench = _module()
    for name, cin, cout, k, groups, _, _ in bench.CASES:
        path = convert_to_tflite(bench._conv(cin, cout, k, groups), torch.zeros(1, cin, 16, 16), tmp_path / "c.tflite")
        ops = inspect_tflite(path, targets=())["ops"]
        assert ops == ({"DEPTHWISE_CONV_2D": 1} if groups > 1 else {"CONV_2D": 1}), name
