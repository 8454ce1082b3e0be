"""benchmarks/deploy.py times a model's backends in interleaved rounds and keeps the median."""

from __future__ import annotations

import importlib.util
import time
from pathlib import Path

import pytest

from maikit.runtime import LoopSettings


def _deploy_module():
    path = Path(__file__).resolve().parents[2] / "benchmarks" / "deploy.py"
    spec = importlib.util.spec_from_file_location("deploy_bench", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


class Sleeper:
    """A backend whose step sleeps a set time per round; records the order of loads."""

    def __init__(self, name, per_round_s, log):
        self.name, self.per_round_s, self.log, self.round = name, per_round_s, log, -1

    def load(self):
        self.round += 1
        self.log.append(self.name)

    def prepare(self):
        pass

    def step(self):
        time.sleep(self.per_round_s[self.round])

    def close(self):
        pass


def test_rounds_interleave_backends_and_report_the_median_round():
    deploy = _deploy_module()
    log: list[str] = []
    backends = {"a": Sleeper("a", [0.002, 0.030, 0.002], log), "b": Sleeper("b", [0.004, 0.004, 0.004], log)}
    settings = LoopSettings(runs=2, min_seconds=0.0, max_seconds=5.0, warmup_runs=0, warmup_seconds=0.0)
    out = deploy.measure_rounds(backends, settings, rounds=3)
    assert log == ["a", "b", "a", "b", "a", "b"]
    assert len(out["a"]["rounds_ms"]) == 3
    # the slow middle round of "a" (a burst of outside load) does not set its figure
    assert out["a"]["rounds_ms"][1] > 25
    assert out["a"]["avg_ms"] == pytest.approx(sorted(out["a"]["rounds_ms"])[1])
    assert out["a"]["avg_ms"] < 10 and 3.5 < out["b"]["avg_ms"] < 15


def test_round_settings_split_the_runs_and_time():
    deploy = _deploy_module()
    one, three = deploy._settings(False, 1), deploy._settings(False, 3)
    assert three.runs * 3 >= one.runs and three.min_seconds * 3 == pytest.approx(one.min_seconds)
