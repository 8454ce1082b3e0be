"""The measuring loop's stopping rules, benchmark_tflite and `mai bench`."""

from __future__ import annotations

import json

import numpy as np
import pytest
from _clock import FakeClock, StepBackend
from typer.testing import CliRunner

from maikit.cli import app
from maikit.errors import MaikitError
from maikit.runtime import DEFAULTS, PROFILES, LoopSettings, Measurement, benchmark_tflite, measure, settings_for

KEYS = ("init_ms", "first_ms", "avg_ms", "std_ms", "min_ms", "max_ms", "p50_ms", "p90_ms", "runs", "threads", "peak_rss_mb")


@pytest.fixture(scope="module")
def tiny_file(tiny_isp_tflite):
    return tiny_isp_tflite  # 1x16x16x4 in (tests/conftest.py)


def test_runs_until_both_count_and_min_time():
    # steps of 2**-7 s keep the clock's arithmetic exact
    clock = FakeClock()
    b = StepBackend(clock, 2**-7, load_s=0.25)
    r = measure(b, LoopSettings(runs=3, min_seconds=0.125, max_seconds=5, warmup_runs=2, warmup_seconds=2**-5), clock=clock)
    assert isinstance(r, Measurement)
    assert r.runs == 16 and r.elapsed_s == 0.125  # the time rule dominates: more than 3 runs
    assert r.warmup_runs == 4  # both rules: >= 2 runs and >= 2**-5 s
    assert r.init_ms == 250.0 and r.first_ms == r.avg_ms == r.p50_ms == 1000 * 2**-7 and r.std_ms == 0
    assert b.calls == 1 + r.warmup_runs + r.runs and b.closed
    assert r.stopped_by == "runs_and_min_seconds"
    r = measure(StepBackend(clock, 2**-9), LoopSettings(runs=40, min_seconds=0.0, max_seconds=5, warmup_runs=0, warmup_seconds=0), clock=clock)
    assert r["runs"] == 40 and r.warmup_runs == 0  # the count rule dominates
    assert r["min_ms"] <= r["p50_ms"] <= r["p90_ms"] <= r["max_ms"] and r["min_ms"] == 1000 * 2**-9


def test_steps_of_different_lengths_give_the_statistics():
    clock = FakeClock()
    times = iter([0.001] + [0.001, 0.002, 0.003, 0.004] * 5)

    class Varying(StepBackend):
        def step(self):
            self.calls += 1
            self.clock.advance(next(times))

    r = measure(Varying(clock, 0), LoopSettings(runs=20, min_seconds=0, max_seconds=5, warmup_runs=0, warmup_seconds=0), clock=clock)
    ms = np.array([1.0, 2.0, 3.0, 4.0] * 5)
    assert r.runs == 20
    assert r.avg_ms == pytest.approx(ms.mean()) and r.std_ms == pytest.approx(ms.std())
    assert r.p90_ms == pytest.approx(np.percentile(ms, 90)) and r.max_ms == pytest.approx(4.0)


def test_cpu_time_is_recorded_beside_the_wall_time():
    """A run that spends part of its wall time off the CPU: the wall figures are the steps'
    lengths, the CPU figures the CPU clock's advance in each step, read outside the window."""
    wall, cpu = FakeClock(), FakeClock(start=5.0)
    plan = iter([(0.004, 0.001)] + [(0.004, 0.002), (0.008, 0.002), (0.004, 0.003), (0.016, 0.001)] * 3)

    class HalfIdle(StepBackend):
        def step(self):
            w, c = next(plan)
            self.clock.advance(w)
            cpu.advance(c)

    r = measure(HalfIdle(wall, 0), LoopSettings(runs=12, min_seconds=0, max_seconds=5, warmup_runs=0, warmup_seconds=0),
                clock=wall, cpu_clock=cpu)
    assert r.samples_ms == pytest.approx([4.0, 8.0, 4.0, 16.0] * 3)
    assert r.cpu_samples_ms == pytest.approx([2.0, 2.0, 3.0, 1.0] * 3)
    assert r.avg_ms == pytest.approx(8.0) and r.cpu_avg_ms == pytest.approx(2.0)
    assert r.cpu_p50_ms == pytest.approx(2.0) and r.cpu_min_ms == pytest.approx(1.0) and r.cpu_max_ms == pytest.approx(3.0)
    assert r["cpu_std_ms"] == pytest.approx(np.std([2.0, 2.0, 3.0, 1.0]))


def test_max_seconds_caps_the_run():
    clock = FakeClock()
    r = measure(StepBackend(clock, 2**-7), LoopSettings(runs=10**6, min_seconds=0.0, max_seconds=0.25, warmup_runs=0, warmup_seconds=0), clock=clock)
    assert r.stopped_by == "max_seconds"
    assert r.elapsed_s == 0.25 and r.runs == 32


def test_max_runs_caps_a_fast_model_before_min_seconds():
    """A model of microseconds would keep hundreds of thousands of samples over min_seconds,
    more than a worker's result may carry: the count stops at max_runs (a larger runs wins)."""
    clock = FakeClock()
    r = measure(StepBackend(clock, 2**-10), LoopSettings(runs=3, min_seconds=4.0, max_seconds=10, warmup_runs=0,
                                                          warmup_seconds=0, max_runs=64), clock=clock)
    assert r.runs == 64 == len(r.samples_ms) and r.stopped_by == "max_runs" and r.elapsed_s == 64 * 2**-10
    r = measure(StepBackend(clock, 2**-10), LoopSettings(runs=100, min_seconds=4.0, max_seconds=10, warmup_runs=0,
                                                          warmup_seconds=0, max_runs=64), clock=clock)
    assert r.runs == 100 and r.stopped_by == "max_runs"
    r = measure(StepBackend(clock, 2**-7), LoopSettings(runs=3, min_seconds=0.25, max_seconds=10, warmup_runs=0,
                                                         warmup_seconds=0, max_runs=64), clock=clock)
    assert r.runs == 32 and r.stopped_by == "runs_and_min_seconds"  # the time rule came first
    assert DEFAULTS.max_runs == 20000
    with pytest.raises(MaikitError, match="max_runs"):
        LoopSettings(max_runs=0)


def test_one_defaults_table():
    import inspect

    from maikit.cli.bench import bench
    from maikit.runtime.bench import benchmark_tflite as fn

    params = inspect.signature(fn).parameters
    for name in ("runs", "min_seconds", "max_seconds", "warmup_runs", "warmup_seconds"):
        assert params[name].default == getattr(DEFAULTS, name)
    assert DEFAULTS == LoopSettings() == settings_for(None)
    cli = inspect.signature(bench).parameters
    assert cli["warmup"].default.default == DEFAULTS.warmup_runs
    assert f"default {DEFAULTS.runs}," in cli["runs"].default.help


def test_measurement_reads_like_a_mapping():
    clock = FakeClock()
    r = measure(StepBackend(clock, 2**-7), LoopSettings(runs=2, min_seconds=0, max_seconds=5, warmup_runs=0, warmup_seconds=0), clock=clock)
    d = {**r}
    assert d == r.as_dict() and d["runs"] == 2 and "avg_ms" in r and r.get("nope") is None
    assert json.loads(json.dumps(d, allow_nan=False)) == d  # plain JSON values: finite numbers, no tuples
    with pytest.raises(KeyError):
        r["nope"]


def test_profiles_and_bad_settings():
    assert (PROFILES["quick"].runs, PROFILES["quick"].min_seconds, PROFILES["quick"].max_seconds) == (128, 10, 60)
    assert (PROFILES["normal"].runs, PROFILES["normal"].min_seconds, PROFILES["normal"].max_seconds) == (1024, 60, 600)
    assert settings_for("quick", runs=5).runs == 5 and settings_for("quick", runs=None).runs == 128
    with pytest.raises(MaikitError, match="profile"):
        settings_for("fast")
    with pytest.raises(MaikitError, match="max_seconds"):
        LoopSettings(min_seconds=2, max_seconds=1)


def test_benchmark_tflite_rules_and_keys(tiny_file):
    r = benchmark_tflite(tiny_file, threads=2, runs=7, min_seconds=0.2, warmup_runs=2, warmup_seconds=0.0)
    for key in KEYS:
        assert key in r
    assert r["runs"] >= 7 and r["elapsed_s"] >= 0.2 and r["threads"] == 2
    assert r["warmup_runs"] >= 2 and r["input_shape"] == [1, 16, 16, 4]
    assert r["runtime_version"] and r["cpu"]
    # the inference thread's CPU time per run: never more than its wall time (the CPU clock is
    # read just outside the wall clock's window: a few microseconds more at most)
    assert len(r["cpu_samples_ms"]) == len(r["samples_ms"]) == r["runs"]
    assert all(0 < c <= w + 0.5 for c, w in zip(r["cpu_samples_ms"], r["samples_ms"]))
    assert 0 < r["cpu_min_ms"] <= r["cpu_avg_ms"] <= r["cpu_max_ms"]
    capped = benchmark_tflite(tiny_file, runs=10**7, min_seconds=0.0, max_seconds=0.3, warmup_seconds=0.0)
    assert capped["stopped_by"] == "max_seconds" and capped["runs"] < 10**7


def test_given_input_and_wrong_shape(tiny_file, tmp_path):
    good = tmp_path / "x.npy"
    np.save(good, np.ones((1, 16, 16, 4), np.float32))
    r = benchmark_tflite(tiny_file, runs=2, min_seconds=0, warmup_seconds=0, input=good, xnnpack=False)
    assert r["runs"] >= 2 and r["xnnpack"] is False
    bad = tmp_path / "bad.npy"
    np.save(bad, np.ones((1, 8, 8, 3), np.float32))
    with pytest.raises(MaikitError):
        benchmark_tflite(tiny_file, runs=2, min_seconds=0, input=bad)


def test_cli_json_and_errors(tiny_file, tmp_path):
    runner = CliRunner()
    res = runner.invoke(app, ["bench", str(tiny_file), "--runs", "3", "--min-seconds", "0", "--json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert all(k in data for k in KEYS) and data["runs"] >= 3
    res = runner.invoke(app, ["bench", str(tiny_file), "--runs", "2", "--min-seconds", "0", "--compare", "torch"])
    assert res.exit_code == 1 and "export.json" in res.output
    junk = tmp_path / "junk.tflite"
    junk.write_bytes(b"not a model")
    res = runner.invoke(app, ["bench", str(junk)])
    assert res.exit_code == 1 and "junk.tflite" in res.output and "Traceback" not in res.output


def test_compare_torch_and_onnx_for_an_exported_zoo_model(tmp_path):
    from maikit.export import export_model
    from maikit.runtime import benchmark_compare

    export_model("isp/smallnet", tmp_path, input_hw=(32, 48))
    settings = LoopSettings(runs=3, min_seconds=0.0, max_seconds=10, warmup_runs=1, warmup_seconds=0.0)
    r = benchmark_compare(tmp_path / "model.tflite", ("torch", "onnx"), threads=2, settings=settings)
    assert set(r["backends"]) == {"tflite", "torch", "onnx"}
    for res in r["backends"].values():
        assert res["runs"] >= 3 and all(k in res for k in KEYS if k != "threads")
    assert (tmp_path / "model.onnx").is_file()  # exported on the fly
