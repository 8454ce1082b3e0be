"""`mai models list/show`: JSON shape, values against the registry and the paper table, errors."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from maikit.cli import app
from maikit.models import create_model, list_models
from maikit.scoring.paper import paper_row

runner = CliRunner()
KEYS = {"name", "task", "team", "params", "size_kb", "paper", "trainable"}


def _json(args: list[str]):
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_models_list_json_isp():
    rows = _json(["models", "list", "--task", "isp", "--json"])
    assert [r["name"] for r in rows] == list_models("isp")
    by_name = {r["name"]: r for r in rows}
    for r in rows:
        assert KEYS <= set(r) and r["task"] == "isp"
        assert isinstance(r["params"], int) and isinstance(r["trainable"], bool)
        assert abs(r["size_kb"] - r["params"] * 4 / 1000) < 1e-9
    small = by_name["isp/smallnet"]
    assert small["team"] == "dh_isp" and small["params"] == 4652  # 3 convs: 4->16->16->12
    assert small["paper"] == paper_row("isp", "dh_isp").to_dict()
    assert small["paper"]["team"] == "dh.isp" and small["paper"]["psnr"] == 23.2
    assert by_name["isp/punet"]["paper"] is None
    assert by_name["isp/classic"]["trainable"] is False and by_name["isp/classic"]["params"] == 0
    # enerzai: only the exported sub-net counts
    full = sum(p.numel() for p in create_model("isp/enerzai").parameters())
    assert by_name["isp/enerzai"]["params"] < full


def test_models_list_all_tasks_and_table():
    rows = _json(["models", "list", "--json"])
    assert [r["name"] for r in rows] == list_models()
    result = runner.invoke(app, ["models", "list", "--task", "isp"], env={"COLUMNS": "160"})
    assert result.exit_code == 0
    assert "isp/smallnet" in result.stdout and "18.6 (21)" in result.stdout


def test_models_show_json():
    d = _json(["models", "show", "isp/enerzai", "--json"])
    assert d["name"] == "isp/enerzai" and "Once-for-All" in d["doc"]
    assert d["recipes"]["paper"]["lr"] == 1e-3 and d["recipes"]["paper"]["batch_size"] == 4
    assert [s["name"] for s in d["recipes"]["paper"]["stages"]] == ["joint", "sub_finetune"]
    assert d["paper"]["key"] == "enerzai"
    assert _json(["models", "show", "isp/classic", "--json"])["recipes"] is None
    result = runner.invoke(app, ["models", "show", "isp/smallnet"], env={"COLUMNS": "160"})
    assert result.exit_code == 0 and "recipe: paper" in result.stdout


def test_models_errors_are_one_line():
    for args in (["models", "show", "isp/nope"], ["models", "list", "--task", "video"]):
        result = runner.invoke(app, args)
        assert result.exit_code == 1
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error:"), result.stderr


def test_short_model_names_where_unambiguous():
    assert _json(["models", "show", "smallnet", "--json"])["name"] == "isp/smallnet"
    from maikit.models import list_models, resolve_model_name

    shorts = [n.split("/", 1)[1] for n in list_models()]
    for name in list_models():
        short = name.split("/", 1)[1]
        if shorts.count(short) == 1:
            assert resolve_model_name(short) == name
    result = runner.invoke(app, ["models", "show", "nope"])
    assert result.exit_code == 1 and "unknown model `nope`" in result.stderr
