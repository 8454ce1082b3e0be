"""Per-op profile (`mai bench --per-op`): every op cut out and timed alone."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torch.nn as nn
from typer.testing import CliRunner

from maikit.cli import app
from maikit.errors import MaikitError
from maikit.export import convert_to_tflite, inspect_tflite
from maikit.export.inspect import read_tflite
from maikit.export.tflite import TfliteRunner
from maikit.runtime.opprofile import profile_ops, single_op_models


@pytest.fixture(scope="module")
def small_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("ops") / "small.tflite"
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(4, 8, 3, padding=1), nn.Tanh(), nn.Conv2d(8, 12, 3, padding=1), nn.PixelShuffle(2))
    convert_to_tflite(model.eval(), torch.rand(1, 4, 8, 12), path)
    return path


def test_one_row_per_op_in_graph_order_with_times_and_shares(small_file):
    prof = profile_ops(small_file, threads=1, runs=2, min_seconds=0.0)
    graph_ops = [op["op"] for op in read_tflite(small_file)["subgraphs"][0]["ops"]]
    assert [r["op"] for r in prof["ops"]] == graph_ops
    assert [r["node"] for r in prof["ops"]] == list(range(len(graph_ops)))
    assert all(r["ms"] is not None and r["ms"] > 0 for r in prof["ops"])
    assert {k: v["count"] for k, v in prof["by_type"].items()} == inspect_tflite(small_file, targets=())["ops"]
    assert sum(r["share"] for r in prof["ops"]) == pytest.approx(1.0)
    assert prof["sum_ms"] == pytest.approx(sum(r["ms"] for r in prof["ops"]))
    conv = [r for r in prof["ops"] if r["op"] == "CONV_2D"]
    assert conv and all(r["delegated"] for r in conv)  # XNNPACK takes float convolutions
    assert not any(r["delegated"] for r in profile_ops(small_file, threads=1, runs=1, min_seconds=0.0, xnnpack=False)["ops"])


def test_a_single_op_model_computes_what_the_op_computes(tmp_path):
    torch.manual_seed(1)
    conv = nn.Conv2d(3, 5, 3, padding=1).eval()
    path = convert_to_tflite(conv, torch.rand(1, 3, 6, 7), tmp_path / "conv.tflite")
    (one,) = list(single_op_models(path))
    assert (one.node, one.op, one.shape, one.note) == (0, "CONV_2D", [1, 6, 7, 5], None)
    (tmp_path / "one.tflite").write_bytes(one.data)
    x = np.random.default_rng(0).random((1, 6, 7, 3), dtype=np.float32)
    with torch.no_grad():
        ref = conv(torch.from_numpy(x).permute(0, 3, 1, 2)).permute(0, 2, 3, 1).numpy()
    np.testing.assert_allclose(TfliteRunner(tmp_path / "one.tflite").run(x), ref, rtol=1e-5, atol=1e-5)


def test_bad_files_and_dynamic_shapes(tmp_path):
    junk = tmp_path / "junk.tflite"
    junk.write_bytes(b"\x00" * 64)
    with pytest.raises(MaikitError, match="junk.tflite"):
        profile_ops(junk)
    dynamic = convert_to_tflite(nn.Conv2d(3, 4, 3, padding=1).eval(), torch.rand(1, 3, 8, 8), tmp_path / "dyn.tflite",
                                dynamic_hw=True)
    with pytest.raises(MaikitError, match="static shapes"):
        profile_ops(dynamic)


def test_cli_per_op_json_and_table(small_file):
    runner = CliRunner()
    args = ["bench", str(small_file), "--runs", "2", "--min-seconds", "0", "--warmup-seconds", "0", "--per-op"]
    res = runner.invoke(app, args + ["--json"])
    assert res.exit_code == 0, res.output
    prof = json.loads(res.stdout)["op_profile"]
    assert len(prof["ops"]) == sum(inspect_tflite(small_file, targets=())["ops"].values())
    res = runner.invoke(app, args + ["--top", "2"])
    assert res.exit_code == 0, res.output
    assert "slowest 2 ops" in res.output and "DEPTH_TO_SPACE" in res.output
    res = runner.invoke(app, args + ["--compare", "torch"])
    assert res.exit_code != 0 and "--per-op" in res.output
