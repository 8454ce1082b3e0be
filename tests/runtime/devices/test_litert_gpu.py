"""`litert-gpu` and `mai inspect --target gpu --verify`: LiteRT's GPU accelerator on Mesa's
software Vulkan (installed by scripts/system-deps.sh), run for real in a child process."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from maikit.runtime.devices import MeasureProtocol, get_backend
from maikit.runtime.devices.litert_gpu import gpu_check, parse_gpu_log

needs_vulkan = pytest.mark.needs("vulkan")


def _mai(*args, env=None):
    return subprocess.run([sys.executable, "-m", "maikit", *map(str, args)], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=300)


def test_log_parser_reads_rejections_and_counts():
    text = ("INFO: something\nERROR: Following operations are not supported by GPU delegate:\n"
            "GATHER_ND: Operation is not supported.\n"
            "TRANSPOSE: Permutation for transpose is invalid. model/block;3\n"
            "3 operations will run on the GPU, and the remaining 6 operations will run on the CPU.\n")
    log = parse_gpu_log(text)
    assert log["rejected"] == [{"op": "GATHER_ND", "reason": "Operation is not supported.", "where": None},
                               {"op": "TRANSPOSE", "reason": "Permutation for transpose is invalid.", "where": "model/block;3"}]
    assert log["counts"] == (3, 6) and log["no_device"] is None


@needs_vulkan
def test_smallnet_runs_fully_on_the_gpu_and_matches_the_cpu(smallnet_file):
    c = gpu_check(smallnet_file, precision="fp32")
    assert c["fully_on_gpu"] and c["rejected"] == []
    assert c["gpu_ops"] == c["ops_total"] == 7 and c["cpu_ops"] == 0
    assert c["outputs_match"] and c["max_abs_diff"] < 1e-4


@needs_vulkan
def test_gather_nd_and_rank5_reshape_are_rejected_with_the_delegates_reasons(gather_rank5_file):
    r = _mai("inspect", gather_rank5_file, "--target", "gpu", "--verify", "--json")
    assert r.returncode == 0, r.stderr
    c = json.loads(r.stdout)["gpu_check"]
    rejected = {(x["op"], x["reason"]) for x in c["rejected"]}
    # the rank-5 tensor runs RESHAPE -> MUL -> RESHAPE; the index is one GATHER_ND
    assert rejected == {("GATHER_ND", "Operation is not supported."),
                        ("RESHAPE", "Tensor dimensions must be less than 5."),
                        ("MUL", "Tensor dimensions must be less than 5.")}
    assert c["ops_total"] == 9 and c["gpu_ops"] + c["cpu_ops"] == 9 and c["cpu_ops"] >= 4
    assert not c["fully_on_gpu"] and c["outputs_match"]
    text = _mai("inspect", gather_rank5_file, "--target", "gpu", "--verify").stdout
    assert "rejected GATHER_ND: Operation is not supported." in text
    assert f"{c['gpu_ops']} on the GPU, {c['cpu_ops']} on the CPU" in text


@needs_vulkan
def test_dynamic_file_is_checked_at_a_static_shape(dynamic_file):
    r = _mai("inspect", dynamic_file, "--target", "gpu", "--verify", "--json")
    assert r.returncode == 1 and "dynamic" in r.stderr and "--shape" in r.stderr
    r = _mai("inspect", dynamic_file, "--target", "gpu", "--verify", "--shape", "1x40x56x3", "--json")
    assert r.returncode == 0, r.stderr
    c = json.loads(r.stdout)["gpu_check"]
    assert c["checked_shape"] == [1, 40, 56, 3] and c["fully_on_gpu"] and c["outputs_match"]


def test_without_vulkan_the_command_says_so_in_one_line(smallnet_file):
    r = _mai("inspect", smallnet_file, "--target", "gpu", "--verify", env={"VK_ICD_FILENAMES": "/nonexistent/icd.json"})
    assert r.returncode == 2
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "GPU check not run: no usable Vulkan device" in lines[0]


@needs_vulkan
def test_gpu_backend_measures_and_carries_the_check(smallnet_file):
    r = get_backend("litert-gpu").measure(smallnet_file, MeasureProtocol(runs=3, min_seconds=0.0, warmup_runs=1, warmup_seconds=0.0))
    assert r["runs"] == 3 and len(r["samples_ms"]) == 3 and r["compatibility"]["fully_on_gpu"]
    assert any("not a phone" in n for n in r["notes"])


@needs_vulkan
def test_device_runner_says_why_there_is_no_per_op_profile_and_carries_the_delegates_findings(gather_rank5_file, tmp_path):
    from pathlib import Path
    from types import SimpleNamespace

    from maikit.worker.device import DeviceRunner

    runner = DeviceRunner("litert-gpu", device="lavapipe", state_dir=tmp_path, per_op_top=3)
    job = {"task": "isp", "protocol": {"threads": 1, "min_runs": 2, "min_seconds": 0, "warmup_runs": 1,
                                       "warmup_seconds": 0, "target": "gpu"}}
    body = runner.run(job, Path(gather_rank5_file), SimpleNamespace(memory_mb=8192, cpu_s=600, wall_s=600))
    assert body["ok"], body
    r = body["result"]
    assert r["op_profile"] is None and r["op_profile_note"].startswith("no per-op profile on litert-gpu")
    c = r["compatibility"]
    mine = [f for f in r["findings"] if f.get("source") == "delegate"]
    assert {f["op"] for f in mine if f["op"] != "GRAPH"} == {x["op"] for x in c["rejected"]} >= {"GATHER_ND"}
    graph = [f for f in mine if f["op"] == "GRAPH"]
    assert len(graph) == 1 and graph[0]["severity"] == "warning"
    assert graph[0]["reason"] == f"{c['gpu_ops']} of {c['ops_total']} ops run on the GPU, {c['cpu_ops']} on the CPU"
    # the static findings for the target are there too (GATHER_ND is flagged without running it)
    assert any(f.get("source") is None and f["op"] == "GATHER_ND" for f in r["findings"])
