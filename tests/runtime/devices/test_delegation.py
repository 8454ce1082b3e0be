"""What ran, not what was asked: the delegate a measurement actually applied (and how many of
the model's nodes it took) in the result and the fingerprint, and a flag on a result whose
requested delegate did not apply (issue: a fingerprint said "XNNPACK" while XNNPACK was off)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from maikit.runtime.devices import MeasureProtocol, get_backend
from maikit.runtime.devices._litert import op_names

QUICK = dict(runs=2, min_seconds=0.0, warmup_runs=0, warmup_seconds=0.0)


@pytest.fixture(scope="module")
def no_xnnpack_op_file(tmp_path_factory):
    """A model XNNPACK takes no node of (CUMSUM, which it does not run): asked for, it does not apply."""
    import torch
    import torch.nn as nn

    from maikit.export.tflite import convert_to_tflite

    class CumSum(nn.Module):
        def forward(self, x):
            return torch.cumsum(x, dim=3)

    path = convert_to_tflite(CumSum().eval(), torch.rand(1, 3, 8, 8), tmp_path_factory.mktemp("deleg") / "cumsum.tflite")
    assert op_names(path) == ["CUMSUM"]
    return path


def test_the_fingerprint_names_the_delegate_that_ran_and_its_nodes(smallnet_file):
    dev = get_backend("litert-cpu")
    n = len(op_names(smallnet_file))
    r = dev.measure(smallnet_file, MeasureProtocol(threads=1, **QUICK))
    d = r["delegate"]
    assert d["requested"] == d["name"] == "XNNPACK" and d["applied"] is True
    assert d["nodes"] == d["ops_total"] == n and d["coverage"] == "fully" and d["partitions"] == 1
    assert r["fingerprint"]["delegate"] == f"XNNPACK ({n} of {n} nodes)"
    off = dev.measure(smallnet_file, MeasureProtocol(threads=1, xnnpack=False, **QUICK))
    assert off["delegate"]["requested"] is None and off["delegate"]["nodes"] == 0
    assert off["fingerprint"]["delegate"] == "builtin kernels"
    # the drift series (one child, several items) says the same per item
    on, off2 = dev.measure_series([(smallnet_file, MeasureProtocol(threads=1, **QUICK)),
                                   (smallnet_file, MeasureProtocol(threads=1, xnnpack=False, **QUICK))])
    assert on["delegate"]["applied"] is True and off2["fingerprint"]["delegate"] == "builtin kernels"


def test_a_requested_delegate_that_did_not_apply_is_flagged(no_xnnpack_op_file, tmp_path):
    r = get_backend("litert-cpu").measure(no_xnnpack_op_file, MeasureProtocol(threads=1, **QUICK))
    d = r["delegate"]
    assert d["requested"] == "XNNPACK" and d["applied"] is False and d["nodes"] == 0 and d["coverage"] == "none"
    assert "none of the model's ops" in d["reason"]
    assert r["fingerprint"]["delegate"] == "builtin kernels (XNNPACK requested, not applied)"

    # a worker's runtime job: the result carries the flag where the submission page shows it
    from maikit.worker.device import DeviceRunner

    logs: list[str] = []
    runner = DeviceRunner("litert-cpu", device="cpu-test", state_dir=tmp_path, per_op_top=0)
    job = {"task": "isp", "protocol": {"threads": 1, "min_runs": 2, "min_seconds": 0, "warmup_runs": 0,
                                       "warmup_seconds": 0, "target": "cpu"}}
    body = runner.run(job, Path(no_xnnpack_op_file), SimpleNamespace(memory_mb=4096, cpu_s=120, wall_s=120), log=logs.append)
    assert body["ok"], body
    res = body["result"]
    assert any("the requested XNNPACK delegate did not apply" in w for w in res["warnings"]), res["warnings"]
    assert any(f["source"] == "delegate" and f["op"] == "GRAPH" and "did not apply" in f["reason"] for f in res["findings"])
    assert res["fingerprint"]["delegate"] == "builtin kernels (XNNPACK requested, not applied)"
    assert any("FLAGGED" in line and "did not apply" in line for line in logs)


def test_partial_coverage_counts_the_nodes_taken(gather_rank5_file):
    """XNNPACK leaves GATHER_ND to the builtin kernels: part of the graph, counted."""
    from maikit.runtime.devices.base import delegate_findings

    r = get_backend("litert-cpu").measure(gather_rank5_file, MeasureProtocol(threads=1, **QUICK))
    d = r["delegate"]
    ops = op_names(gather_rank5_file)
    assert d["applied"] is True and d["coverage"] == "partially" and 0 < d["nodes"] < d["ops_total"] == len(ops)
    assert "GATHER_ND" in ops and d["partitions"] >= 1
    assert r["fingerprint"]["delegate"] == f"XNNPACK ({d['nodes']} of {len(ops)} nodes)"
    (f,) = delegate_findings(r)
    assert f["severity"] == "warning" and f"({d['nodes']} of {len(ops)} nodes)" in f["reason"]


def test_bench_reports_the_delegate_that_ran(no_xnnpack_op_file, smallnet_file):
    from maikit.runtime import benchmark_tflite

    assert benchmark_tflite(smallnet_file, threads=1, runs=1, min_seconds=0.0)["delegate"]["coverage"] == "fully"
    r = benchmark_tflite(no_xnnpack_op_file, threads=1, runs=1, min_seconds=0.0)
    assert r["xnnpack"] is True and r["delegate"]["applied"] is False
