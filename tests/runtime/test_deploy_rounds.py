"""benchmarks/deploy.py times a model's backends in interleaved rounds and keeps the median."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from _clock import FakeClock

from maikit.runtime import LoopSettings


def _deploy_module():
    path = Path(__file__).resolve().parents[2] / "benchmarks" / "deploy.py"
    spec = importlib.util.spec_from_file_location("deploy_bench", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


class RoundBackend:
    """A backend whose step takes a set time of ``clock`` per round; records the order of loads."""

    def __init__(self, name, clock, per_round_s, log):
        self.name, self.clock, self.per_round_s, self.log, self.round = name, clock, per_round_s, log, -1

    def load(self):
        self.round += 1
        self.log.append(self.name)

    def prepare(self):
        pass

    def step(self):
        self.clock.advance(self.per_round_s[self.round])

    def close(self):
        pass


def test_rounds_interleave_backends_and_report_the_median_round():
    deploy = _deploy_module()
    clock, log = FakeClock(), []
    # step times are binary fractions so that the clock's arithmetic is exact
    a, b = [2**-9, 2**-5, 2**-9], [2**-8] * 3
    backends = {"a": RoundBackend("a", clock, a, log), "b": RoundBackend("b", clock, b, log)}
    settings = LoopSettings(runs=2, min_seconds=0.0, max_seconds=5.0, warmup_runs=0, warmup_seconds=0.0)
    out = deploy.measure_rounds(backends, settings, rounds=3, clock=clock)
    assert log == ["a", "b", "a", "b", "a", "b"]
    assert out["a"]["rounds_ms"] == pytest.approx([1000 * v for v in a])
    # the slow middle round of "a" (a burst of outside load) does not set its figure
    assert out["a"]["rounds_ms"][1] > 25
    assert out["a"]["avg_ms"] == pytest.approx(sorted(out["a"]["rounds_ms"])[1])
    assert out["a"]["avg_ms"] == pytest.approx(1000 * 2**-9) and out["b"]["avg_ms"] == pytest.approx(1000 * 2**-8)


def test_round_settings_split_the_runs_and_time():
    deploy = _deploy_module()
    one, three = deploy._settings(False, 1), deploy._settings(False, 3)
    assert three.runs * 3 >= one.runs and three.min_seconds * 3 == pytest.approx(one.min_seconds)
