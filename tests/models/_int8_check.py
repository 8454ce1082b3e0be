"""Shared by the zoo conversion tests: quantise a converted float file to int8 and run it."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from maikit.export import inspect_tflite
from maikit.export.calib import random_inputs
from maikit.export.inspect import read_tflite
from maikit.export.quantize import quantize_int8
from maikit.export.tflite import TfliteRunner
from maikit.tasks import get_task


_WEIGHTED = ("CONV_2D", "DEPTHWISE_CONV_2D", "TRANSPOSE_CONV", "FULLY_CONNECTED")


def int8_matches_float(float_path: Path, task: str, shape_nhwc: tuple[int, ...]) -> None:
    """Static int8 (2 random calibration inputs) runs at the float file's shape and stays near
    the float output on an unseen input: mean |int8 − fp32| within 5 % of the float output's
    largest magnitude (random-weight models give nearly constant outputs, so no correlation)."""
    q = quantize_int8(float_path.read_bytes(), random_inputs(get_task(task), shape_nhwc, 2))
    q_path = float_path.with_name(float_path.stem + "_int8.tflite")
    q_path.write_bytes(q)
    runner = TfliteRunner(q_path, threads=2)
    x = random_inputs(get_task(task), shape_nhwc, 1, seed=5)[0]
    got, ref = runner.run(x), TfliteRunner(float_path, threads=2).run(x)
    assert got.shape == ref.shape and np.isfinite(got).all()
    assert np.abs(got - ref).mean() <= 0.05 * np.abs(ref).max()
    if inspect_tflite(float_path, targets=())["params"] >= 2000:  # not for isp/classic's few fixed taps
        sg = read_tflite(q_path)["subgraphs"][0]
        convs = [op for op in sg["ops"] if op["op"] in _WEIGHTED]
        assert convs
        for op in convs:  # int8 weights and activations in every convolution
            # the weights are input 1 of all four (TRANSPOSE_CONV: output shape, weights, input, bias)
            assert sg["tensors"][op["inputs"][1]]["dtype"] == "int8", op["op"]
            assert sg["tensors"][op["outputs"][0]]["dtype"] == "int8", op["op"]
