"""The `adb` backend: benchmark_model's output (timings, failures, the operator table of
--enable_op_profiling) parsed from fixtures in its documented format, and the whole path
(push, run, parse, fingerprint, per-op profile, cancel) against a stand-in `adb` that runs the
commands on this machine with a stand-in `benchmark_model` (a phone is hardware we cannot
have: see tests/runtime/devices/standin/)."""

from __future__ import annotations

import os
import sys
import threading
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from _device_helpers import FIXTURES, STANDIN, processes, wait_until

from maikit.runtime.devices import MeasureProtocol, ModelFault, get_backend
from maikit.runtime.devices.adb import parse_benchmark_output, parse_op_profile

SRC = Path(__file__).resolve().parents[3] / "src"


def _fixture(name):
    return (FIXTURES / name).read_text()


def test_parses_cpu_run_timings_in_ms_and_memory():
    p = parse_benchmark_output(_fixture("cpu_xnnpack.txt"))
    assert p["fault"] is None
    assert p["init_ms"] == pytest.approx(12.571)
    assert p["first_ms"] == pytest.approx(81.25)
    assert p["warmup"] == {"count": 9, "first_ms": 81.25, "curr_ms": 55.12, "min_ms": 54.875, "max_ms": 81.25,
                           "avg_ms": pytest.approx(58.2134), "std_ms": 8.19}
    inf = p["inference"]
    assert (inf["count"], inf["min_ms"], inf["max_ms"], inf["std_ms"]) == (50, 54.102, 60.713, 1.204)
    assert inf["avg_ms"] == pytest.approx(55.5122) == p["inference_avg_ms"]
    assert (p["memory_init_mb"], p["memory_overall_mb"]) == (4.0625, 31.2812)
    assert (p["delegate"], p["delegate_coverage"]) == ("XNNPACK", "completely")


def test_parses_prefixed_gpu_run_with_rejected_ops_percentiles_and_peak_memory():
    p = parse_benchmark_output(_fixture("gpu_partial.txt"))
    assert p["fault"] is None
    assert p["gpu_rejected"] == [{"op": "GATHER_ND", "reason": "Operation is not supported."},
                                 {"op": "RESHAPE", "reason": "Tensor dimensions must be less than 5."}]
    assert (p["delegate"], p["delegate_coverage"]) == ("GPU", "partially")
    assert p["inference"]["count"] == 52 and p["inference"]["median_ms"] == pytest.approx(20.25)
    assert p["init_ms"] == pytest.approx(911.413)
    assert p["memory_peak_mb"] == 71.25


@pytest.mark.parametrize("name, kind, words", [
    ("missing_op.txt", "unsupported_op", "GELU"),
    ("prepare_failed.txt", "prepare_failed", "node 3 (RESHAPE) failed to prepare"),
    ("delegate_failed.txt", "delegate_not_applied", "NNAPI delegate could not be applied"),
    ("not_a_model.txt", "not_a_model", "not a valid Flatbuffer"),
])
def test_failure_messages_map_to_the_common_fault_kinds(name, kind, words):
    f = parse_benchmark_output(_fixture(name))["fault"]
    assert f["kind"] == kind and words in f["reason"]


def test_output_without_timings_is_a_fault_not_a_zero():
    f = parse_benchmark_output("STARTING!\nLoaded model x\nSegmentation fault\n")["fault"]
    assert f["kind"] == "invoke_failed" and "Segmentation fault" in f["reason"]


def test_op_table_with_the_start_column_becomes_the_per_op_profile():
    p = parse_op_profile(_fixture("op_profile_start_column.txt"), top=3)
    # the initialisation table (AllocateTensors) comes first in the text and is not an op
    assert p["op_count"] == 6 and "AllocateTensors" not in p["by_type"]
    assert [(r["node"], r["op"], r["name"]) for r in p["top_ops"]] == [
        (0, "CONV_2D", "[net/conv1/Relu]"), (2, "CONV_2D", "[net/conv2/Relu]"), (4, "RESIZE_BILINEAR", "[net/up]")]
    assert [r["ms"] for r in p["top_ops"]] == pytest.approx([2.4, 1.8, 0.84])
    assert p["top_ops"][0]["first_ms"] == pytest.approx(2.512) and p["top_ops"][0]["calls"] == 1
    assert list(p["by_type"]) == ["CONV_2D", "RESIZE_BILINEAR", "DEPTHWISE_CONV_2D", "ADD", "DEPTH_TO_SPACE"]
    assert p["by_type"]["CONV_2D"] == {"count": 2, "timed": 2, "ms": pytest.approx(4.2), "share": pytest.approx(0.7)}
    assert p["sum_ms"] == pytest.approx(6.0) and p["model_ms"] == pytest.approx(6.0125) and p["profiled_runs"] == 20
    assert not any(r["delegated"] for r in p["top_ops"])
    # the same text's timings still parse: the operator table does not disturb them
    assert parse_benchmark_output(_fixture("op_profile_start_column.txt"))["inference"]["count"] == 20


def test_op_table_of_newer_builds_with_xnnpack_operators():
    p = parse_op_profile(_fixture("op_profile_xnnpack.txt"), top=10)
    rows = {r["op"]: r for r in p["top_ops"]}
    # names with spaces and commas; an op called 6 times per run counts 6 x its average per call
    assert rows["Convolution (NHWC, F32) GEMM"]["ms"] == pytest.approx(0.6) and rows["Convolution (NHWC, F32) GEMM"]["calls"] == 6
    assert rows["Add (ND, F32)"]["ms"] == pytest.approx(0.1)
    assert rows["Convolution (NHWC, F32) IGEMM"]["delegated"] and not rows["GATHER_ND"]["delegated"]
    assert rows["GATHER_ND"]["node"] == 7 and rows["GATHER_ND"]["name"] == "[net/tf.gather_nd/GatherNd]"
    assert [r["op"] for r in p["top_ops"]][:2] == ["Convolution (NHWC, F32) IGEMM", "Convolution (NHWC, F32) GEMM"]
    assert p["sum_ms"] == pytest.approx(2.5) and p["by_type"]["GATHER_ND"]["share"] == pytest.approx(0.1)
    assert p["op_count"] == 5 and p["model_ms"] == pytest.approx(2.5417)
    # the numbers after XNNPACK's operator names are its own, not the graph's nodes
    assert rows["Add (ND, F32)"]["node"] is None


def test_delegate_internal_table_replaces_the_delegate_node_and_other_subgraphs_are_skipped():
    p = parse_op_profile(_fixture("op_profile_delegate_internal.txt"))
    assert set(p["by_type"]) == {"Convolution (NHWC, F32) IGEMM", "Fully Connected (NC, F32) GEMM", "Add (ND, F32)",
                                 "RESIZE_BILINEAR", "WHILE"}  # no TfLiteXNNPackDelegate, no ADD of subgraph 1
    assert [(r["node"], r["op"], round(r["ms"], 6)) for r in p["top_ops"]] == [
        (None, "Convolution (NHWC, F32) IGEMM", 2.0), (None, "Fully Connected (NC, F32) GEMM", 0.9),
        (1, "RESIZE_BILINEAR", 0.5), (None, "Add (ND, F32)", 0.1), (2, "WHILE", 0.02)]
    assert p["sum_ms"] == pytest.approx(3.52) and p["model_ms"] == pytest.approx(3.52) and p["profiled_runs"] == 10
    assert [r["delegated"] for r in p["top_ops"]] == [True, True, False, True, False]


def test_op_rows_of_older_builds_without_node_index_or_call_count():
    """The README's sample layout: names without `:N`, `times called` 0 (such builds did not count)."""
    text = ("Operator-wise Profiling Info for Regular Benchmark Runs:\n"
            "============================== Run Order ==============================\n"
            "\t[node type]\t[start]\t[first]\t[avg ms]\t[%]\t[cdf%]\t[mem KB]\t[times called]\t[Name]\n"
            "\tCONV_2D\t0.000\t3.100\t3.000\t75.000%\t75.000%\t0.000\t0\t[a/conv]\n"
            "\tSOFTMAX\t3.001\t1.050\t1.000\t25.000%\t100.000%\t0.000\t0\t[a/softmax]\n")
    p = parse_op_profile(text)
    assert [(r["node"], r["op"], r["name"], r["ms"]) for r in p["top_ops"]] == [
        (0, "CONV_2D", "[a/conv]", 3.0), (1, "SOFTMAX", "[a/softmax]", 1.0)]
    assert p["model_ms"] is None and p["sum_ms"] == pytest.approx(4.0)


def test_output_without_an_op_table_has_no_profile():
    assert parse_op_profile(_fixture("cpu_xnnpack.txt")) is None


def _with_this_python(src, dst):
    """A copy of a stand-in script that runs with this interpreter (it needs LiteRT)."""
    lines = src.read_text().splitlines(keepends=True)
    dst.write_text(f"#!{sys.executable}\n" + "".join(lines[1:]))
    dst.chmod(0o755)
    return dst


@pytest.fixture()
def phone(tmp_path):
    log = tmp_path / "adb.log"
    binary = _with_this_python(STANDIN / "benchmark_model", tmp_path / "benchmark_model")
    dev = get_backend("adb", benchmark_model_path=str(binary), adb=str(STANDIN / "adb"),
                      serial="STANDIN01", remote_dir=str(tmp_path / "phone"))
    return dev, log


def test_end_to_end_through_standin_adb(phone, smallnet_file, monkeypatch):
    dev, log = phone
    monkeypatch.setenv("STANDIN_ADB_LOG", str(log))
    proto = MeasureProtocol(threads=1, runs=7, min_seconds=0.0, warmup_runs=2, warmup_seconds=0.0)
    r = dev.measure(smallnet_file, proto)
    assert r["backend"] == "adb" and r["samples_ms"] is None
    assert r["runs"] == 7 and r["warmup_runs"] == 2
    s = r["stats"]
    assert s["min_ms"] <= r["value_ms"] == s["avg_ms"] <= s["max_ms"]
    assert r["fingerprint"]["model"] == "StandIn Phone 1000" and r["fingerprint"]["soc"] == "MT6889"
    assert r["fingerprint"]["os"] == "Android 13 (SDK 33)"
    assert r["memory_mb"] == 9.5
    cmds = log.read_text().splitlines()
    assert all(c.startswith("-s STANDIN01 ") for c in cmds)
    run = next(c for c in cmds if "--graph=" in c)
    for flag in ("--num_threads=1", "--num_runs=7", "--warmup_runs=2", "--min_secs=0", "--use_xnnpack=true"):
        assert flag in run
    assert (dev.remote_dir + "/benchmark_model") in run
    # the binary is pushed once per backend, the model every time
    dev.measure(smallnet_file, proto)
    pushes = [c for c in log.read_text().splitlines() if " push " in c]
    assert sum("benchmark_model" in c for c in pushes) == 1 and sum("model.tflite" in c for c in pushes) == 2


def test_standin_failure_is_a_model_fault(phone, tmp_path):
    dev, _ = phone
    junk = tmp_path / "junk.tflite"
    junk.write_bytes(np.random.default_rng(0).bytes(256))
    with pytest.raises(ModelFault) as e:
        dev.measure(junk, MeasureProtocol(runs=1, min_seconds=0.0))
    assert e.value.kind == "not_a_model"


def test_gpu_delegate_flags_and_rejections_reach_the_result(phone, smallnet_file, tmp_path, monkeypatch):
    dev, log = phone
    dev.delegate = "gpu"
    gpu_log = tmp_path / "gpu.txt"
    gpu_log.write_text("ERROR: Following operations are not supported by GPU delegate:\n"
                       "GATHER_ND: Operation is not supported.\n"
                       "5 operations will run on the GPU, and the remaining 4 operations will run on the CPU.\n")
    monkeypatch.setenv("STANDIN_GPU_LOG", str(gpu_log))
    monkeypatch.setenv("STANDIN_ADB_LOG", str(log))
    r = dev.measure(smallnet_file, MeasureProtocol(runs=2, min_seconds=0.0, warmup_runs=1, warmup_seconds=0.0))
    assert r["delegate"]["gpu_rejected"] == [{"op": "GATHER_ND", "reason": "Operation is not supported."}]
    run = next(c for c in log.read_text().splitlines() if "--graph=" in c)
    assert "--use_gpu=true" in run and "--use_xnnpack=false" in run


def _op_names(path):
    from maikit.runtime.devices._litert import op_names

    return op_names(path)


def test_per_op_profile_is_a_second_profiled_run_through_standin_adb(phone, smallnet_file, monkeypatch):
    dev, log = phone
    monkeypatch.setenv("STANDIN_ADB_LOG", str(log))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(SRC), os.environ.get("PYTHONPATH")])))
    proto = MeasureProtocol(threads=1, runs=4, min_seconds=0.0, warmup_runs=1, warmup_seconds=0.0)
    dev.measure(smallnet_file, proto)
    prof = dev.profile(smallnet_file, proto, top=3)
    runs = [c for c in log.read_text().splitlines() if "--graph=" in c]
    assert len(runs) == 2 and "--enable_op_profiling" not in runs[0]  # the timed run is not profiled
    assert "--enable_op_profiling=true" in runs[1] and "--num_threads=1" in runs[1]
    ops = _op_names(smallnet_file)
    assert prof["op_count"] == len(ops) and set(prof["by_type"]) == set(ops)
    assert sum(t["count"] for t in prof["by_type"].values()) == len(ops)
    top = prof["top_ops"]
    assert len(top) == 3 and [r["ms"] for r in top] == sorted((r["ms"] for r in top), reverse=True)
    assert all(ops[r["node"]] == r["op"] for r in top)
    assert prof["sum_ms"] == pytest.approx(sum(t["ms"] for t in prof["by_type"].values()))
    assert prof["model_ms"] > 0 and prof["delegate"] == "xnnpack"


def test_device_runner_puts_the_phones_profile_and_delegate_findings_in_the_result(smallnet_file, tmp_path, monkeypatch):
    from maikit.worker.device import DeviceRunner

    binary = _with_this_python(STANDIN / "benchmark_model", tmp_path / "benchmark_model")
    gpu_log = tmp_path / "gpu.txt"
    gpu_log.write_text("ERROR: Following operations are not supported by GPU delegate:\n"
                       "GATHER_ND: Operation is not supported.\n")
    monkeypatch.setenv("STANDIN_GPU_LOG", str(gpu_log))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(SRC), os.environ.get("PYTHONPATH")])))
    runner = DeviceRunner("adb", {"benchmark_model_path": str(binary), "adb": str(STANDIN / "adb"), "delegate": "gpu",
                                  "remote_dir": str(tmp_path / "phone")}, device="standin-phone", state_dir=tmp_path,
                          per_op_top=2)
    job = {"task": "isp", "protocol": {"threads": 1, "min_runs": 2, "min_seconds": 0, "warmup_runs": 1,
                                       "warmup_seconds": 0, "target": "gpu"}}
    body = runner.run(job, Path(smallnet_file), SimpleNamespace(memory_mb=4096, cpu_s=600, wall_s=600))
    assert body["ok"], body
    r = body["result"]
    assert len(r["op_profile"]["top_ops"]) == 2 and r["op_profile_note"] is None
    assert r["op_profile"]["op_count"] == len(_op_names(smallnet_file))
    mine = [f for f in r["findings"] if f.get("source") == "delegate"]
    assert mine == [{"target": "gpu", "node": None, "op": "GATHER_ND", "severity": "warning", "source": "delegate",
                     "reason": "the GPU delegate rejects it: Operation is not supported. (runs on the CPU)"}]


def test_cancel_stops_benchmark_model_on_the_phone(smallnet_file, tmp_path, monkeypatch):
    """A cancelled job (the worker's heartbeat sets the event) stops benchmark_model. Killing the
    local adb leaves a command running on a phone (the stand-in runs it in a session of its
    own, likewise): the backend must stop it there too."""
    from maikit.worker.device import DeviceRunner

    log = tmp_path / "adb.log"
    monkeypatch.setenv("STANDIN_ADB_LOG", str(log))
    binary = _with_this_python(STANDIN / "benchmark_model", tmp_path / "benchmark_model")
    remote = tmp_path / "phone"
    runner = DeviceRunner("adb", {"benchmark_model_path": str(binary), "adb": str(STANDIN / "adb"),
                                  "remote_dir": str(remote)}, device="standin-phone", state_dir=tmp_path)
    job = {"task": "isp", "protocol": {"threads": 1, "min_runs": 10**6, "min_seconds": 500, "max_seconds": 550,
                                       "warmup_runs": 1, "warmup_seconds": 0}}
    cancel, outcome = threading.Event(), []
    t = threading.Thread(target=lambda: outcome.append(
        runner.run(job, Path(smallnet_file), SimpleNamespace(memory_mb=4096, cpu_s=900, wall_s=900), cancel=cancel)))
    t.start()
    # the binary itself: its path is an argument of its own (of the adb that pushes it too, but
    # that one has no --graph=; the adb that runs it has both inside one shell-command argument)
    on_phone = lambda: [p for p in processes(argv_equals=str(remote / "benchmark_model"))  # noqa: E731
                        if p in processes(argv_contains="--graph=")]
    try:
        wait_until(on_phone, what="benchmark_model running on the stand-in phone")
    finally:
        cancel.set()
    t.join(timeout=120)
    assert not t.is_alive() and outcome == [{"ok": False, "reason": "cancelled", "fault": "infrastructure"}]
    wait_until(lambda: not on_phone(), timeout=60, what="benchmark_model gone from the phone")
    assert any("kill -9" in c for c in log.read_text().splitlines())
