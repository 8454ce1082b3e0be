"""Final-score formulas, the paper tables and ``mai score``.

The expected scores are computed by formulas written out here from the reports
(ISP report §2.5 for the ISP score; the depth shape 2^(-20 si) / (C t) from the depth report with the
derived C = 1/640), not by the package.
"""

from __future__ import annotations

import dataclasses
import json

import pytest
from typer.testing import CliRunner

from maikit.cli import app
from maikit.errors import MaikitError
from maikit.scoring import depth_score, isp_score
from maikit.scoring.paper import paper_rows

runner = CliRunner()


def isp_formula(psnr, runtime_ms):
    t = runtime_ms / 1000
    alpha = 20 if t <= 0.2 else 0.5
    return psnr + alpha * (0.2 - min(max(t, 0.03), 5))


def depth_formula(si_rmse, runtime_ms):
    return 2 ** (-20 * si_rmse) / ((1 / 640) * (runtime_ms / 1000))


def _printed(value, text):
    decimals = len(text.split(".")[1]) if "." in text else 0
    return f"{value:.{decimals}f}"


@pytest.mark.parametrize("task,count,metric,formula,score_fn", [
    ("isp", 10, "psnr", isp_formula, isp_score),
    ("depth", 8, "si_rmse", depth_formula, depth_score),
])
def test_paper_rows_match_at_printed_precision(task, count, metric, formula, score_fn):
    rows = paper_rows(task)
    assert len(rows) == count
    for row in rows:
        want = formula(row.metrics[metric], row.runtime_ms)
        assert _printed(want, row.score_text) == row.score_text, row.team
        assert score_fn(row.metrics[metric], row.runtime_ms) == pytest.approx(want, rel=1e-12)


def test_isp_clip_and_alpha_edges():
    assert isp_score(20, 10) == pytest.approx(20 + 20 * (0.2 - 0.03))  # clipped up to 30 ms
    assert isp_score(20, 200) == pytest.approx(20.0)  # alpha 20 at exactly 0.2 s
    assert isp_score(20, 9000) == pytest.approx(20 + 0.5 * (0.2 - 5))  # clipped down to 5 s


@pytest.mark.parametrize("args", [(23, -5), (23, 0), (float("nan"), 5), (23, float("inf"))])
def test_bad_numbers_raise(args):
    with pytest.raises(MaikitError):
        isp_score(*args)


def test_cli_score_json_shapes():
    res = runner.invoke(app, ["score", "isp", "--psnr", "23.2", "--runtime-ms", "61", "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout) == {"task": "isp", "score": pytest.approx(25.98)}
    res = runner.invoke(app, ["score", "depth", "--si-rmse", "0.338", "--runtime-ms", "142", "--json"])
    data = json.loads(res.stdout)
    assert set(data) == {"task", "score"} and data["task"] == "depth"
    assert data["score"] == pytest.approx(depth_formula(0.338, 142))


@pytest.mark.parametrize("task,count", [("isp", 10), ("depth", 8)])
def test_cli_paper_json_and_table(task, count):
    res = runner.invoke(app, ["score", "--paper", task, "--json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert data["task"] == task and len(data["rows"]) == count
    metric = "psnr" if task == "isp" else "si_rmse"
    for r, row in zip(data["rows"], paper_rows(task)):  # every column the table shows, and more
        assert {"team", "published", "computed", "match", "runtime_ms", "size_kb", metric} <= set(r) and r["match"]
        assert r["team"] == row.team and r[metric] == row.metrics[metric] and r["runtime_ms"] == row.runtime_ms
    table = runner.invoke(app, ["score", "--paper", task])
    assert table.exit_code == 0
    if task == "depth":
        assert "1/640" in table.stdout and "DERIVED" in table.stdout


def test_cli_paper_mismatch_exits_1(monkeypatch):
    import maikit.scoring.paper as paper_module

    rows = paper_rows("isp")
    rows[0] = dataclasses.replace(rows[0], score_text="26.98")
    monkeypatch.setattr(paper_module, "paper_rows", lambda task: rows)
    res = runner.invoke(app, ["score", "--paper", "isp", "--json"])
    assert res.exit_code == 1
    assert [r["match"] for r in json.loads(res.stdout)["rows"]].count(False) == 1


@pytest.mark.parametrize("argv,code", [
    (["score", "isp", "--psnr", "23", "--runtime-ms", "-5"], 1),
    (["score", "isp", "--psnr", "nan", "--runtime-ms", "50"], 1),
    (["score", "isp", "--psnr", "-5", "--runtime-ms", "50"], 1),
    (["score", "depth", "--si-rmse", "-0.1", "--runtime-ms", "50"], 1),
    (["score", "depth", "--si-rmse", "0.3", "--runtime-ms", "nan"], 1),
    (["score", "--paper", "rgb"], 1),
    (["score"], 2),
])
def test_cli_bad_numbers_one_line(argv, code):
    res = runner.invoke(app, argv)
    assert res.exit_code == code
    assert len(res.stderr.strip().splitlines()) == 1 and "Traceback" not in res.output
