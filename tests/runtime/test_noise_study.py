"""benchmarks/noise_study.py (issue 24 item 4): its estimators from known per-run records,
and one short real run of the probe (Linux's /proc files, the loop, the JSON it writes)."""

from __future__ import annotations

import importlib.util
import json
import statistics
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "noise_study.py"


@pytest.fixture(scope="module")
def study():
    spec = importlib.util.spec_from_file_location("noise_study", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    sys.modules["noise_study"] = mod
    spec.loader.exec_module(mod)
    yield mod
    sys.modules.pop("noise_study", None)


def _rec(wall, cpu, steal=0.0, wait=0.0, ivcsw=0):
    return {"wall_ms": wall, "cpu_thread_ms": cpu, "cpu_process_ms": 2 * cpu, "steal_ms": steal, "steal_max_cpu_ms": steal,
            "wait_main_ms": wait, "wait_all_ms": wait, "ivcsw": ivcsw, "vcsw": 0, "migrations": 0}


def test_estimators_from_known_runs(study):
    recs = [_rec(10.0, 4.0), _rec(30.0, 5.0, steal=10.0, wait=5.0, ivcsw=2), _rec(14.0, 6.0, ivcsw=1), _rec(12.0, 5.0)]
    e = study.estimators(recs, threads=2)
    assert e["avg"]["wall"] == pytest.approx(66.0 / 4)
    assert e["avg"]["wall_nosteal"] == pytest.approx((10.0 + 14.0 + 12.0) / 3)  # the run with steal dropped
    assert e["avg"]["wall_clean"] == pytest.approx((10.0 + 12.0) / 2)  # and the one with a switch
    assert e["avg"]["wall_minus_steal"] == pytest.approx((10.0 + 20.0 + 14.0 + 12.0) / 4)
    assert e["avg"]["wall_minus_wait"] == pytest.approx((10.0 + 15.0 + 14.0 + 12.0) / 4)
    assert e["avg"]["cpu_thread"] == e["avg"]["cpu_process"] == pytest.approx(5.0)
    assert e["p50"]["wall"] == pytest.approx(13.0) and e["min"]["cpu_thread"] == 4.0
    assert e["kept"] == {"wall_nosteal": 3, "wall_clean": 2}


def test_the_spread_of_measurements(study):
    # three measurements: the CPU time steady, the wall time not
    rows = []
    for wall, cpu in ((10.0, 5.0), (20.0, 5.0), (15.0, 5.0)):
        recs = [_rec(wall, cpu), _rec(wall, cpu)]
        rows.append({"estimators": study.estimators(recs, 2), "samples": recs, "loop_avg_ms": wall,
                     "load_before": 1.0, "load_after": 1.5})
    a = study.analyse(rows)
    assert a["cv"]["avg"]["wall"] == pytest.approx(statistics.pstdev([10, 20, 15]) / 15)
    assert a["cv"]["avg"]["cpu_thread"] == 0.0
    assert a["wall_variance_share"] == {"cpu_thread": 0.0, "not_running": 1.0}
    assert a["load"] == [1.5, 1.5, 1.5]


def test_a_short_real_run(study, tiny_isp_tflite, tmp_path, capsys):
    out = tmp_path / "noise.json"
    assert study.main(["--measurements", "2", "--hogs", "0", "--runs", "3", "--min-seconds", "0", "--threads", "1",
                       "--model", str(tiny_isp_tflite), "--out", str(out)]) == 0
    assert "CV of the measurements" in capsys.readouterr().out
    r = json.loads(out.read_text())
    (series,) = r["series"]
    assert [len(row["samples"]) for row in series["rows"]] == [3, 3]
    for s in (s for row in series["rows"] for s in row["samples"]):
        assert 0 < s["cpu_thread_ms"] <= s["wall_ms"] + 0.5 and s["steal_ms"] >= 0 and s["wait_main_ms"] >= 0
        assert s["ivcsw"] >= 0 and s["migrations"] >= 0
    assert study.main(["--from-json", str(out)]) == 0
