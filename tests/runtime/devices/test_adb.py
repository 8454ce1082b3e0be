"""The `adb` backend: benchmark_model's output parsed from fixtures in its documented format,
and the whole path (push, run, parse, fingerprint) against a stand-in `adb` that runs the
commands on this machine with a stand-in `benchmark_model` (a phone is hardware we cannot
have: see tests/runtime/devices/standin/)."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from _device_helpers import FIXTURES, STANDIN

from maikit.runtime.devices import MeasureProtocol, ModelFault, get_backend
from maikit.runtime.devices.adb import parse_benchmark_output


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
