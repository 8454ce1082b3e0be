"""The participant's commands for the testing phase against a real server: ``mai kit``
downloads the starting kit with its sha256 checked, ``mai factsheet`` saves and shows the
team's factsheet, ``mai submit --code --factsheet`` sends a whole bundle and prints the
preflight's reason for an incomplete one."""

from __future__ import annotations

import hashlib
import json
import os

import yaml
from bundle_testing import factsheet, zip_bytes
from platform_testing import challenge_def
from typer.testing import CliRunner

from maikit.cli import app


def _mai(live, *args, who="alice"):
    r = CliRunner().invoke(app, [*args, "--server", live.url, "--token", live.tokens[who]])
    return r


def test_kit_factsheet_and_submit_with_a_bundle(live, isp_split, tiny_models, tmp_path):
    kit = tmp_path / "kit"
    kit.mkdir()
    (kit / "train.zip").write_bytes(os.urandom(5000))
    d = challenge_def("cli1", isp_split)
    d["kit"] = {"folder": str(kit), "files": [{"path": "train.zip", "title": "Training data", "kind": "training"}]}
    d["phases"][1]["bundle"] = {"code": "required", "factsheet": "required"}
    live.create_challenge(d)

    out = tmp_path / "mine"
    r = _mai(live, "kit", "--challenge", "cli1", "--out", str(out), "--json")
    assert r.exit_code == 0, r.output
    got = json.loads(r.stdout)
    assert (out / "train.zip").read_bytes() == (kit / "train.zip").read_bytes()
    assert {f["name"] for f in got["files"]} == {"train.zip", "optimisation-guideline-cpu.md"}
    assert hashlib.sha256((out / "optimisation-guideline-cpu.md").read_bytes()).hexdigest() == next(
        f["sha256"] for f in got["files"] if f["name"].startswith("optimisation"))
    again = json.loads(_mai(live, "kit", "--challenge", "cli1", "--out", str(out), "--json").stdout)
    assert all(d["kept"] for d in again["downloaded"])  # already there with the right sha256
    assert _mai(live, "kit", "--challenge", "nope").exit_code == 1

    model = str(tiny_models["isp"] / "model.tflite")
    r = _mai(live, "submit", model, "--challenge", "cli1", "--phase", "testing")
    assert r.exit_code == 1 and "incomplete bundle: this phase needs the code archive and the factsheet" in r.output

    sheet = tmp_path / "factsheet.yaml"
    sheet.write_text(yaml.safe_dump(factsheet("Tiny & Co", members=[{"name": "No Mail"}])))
    r = _mai(live, "factsheet", str(sheet), "--challenge", "cli1", "--phase", "testing")
    assert r.exit_code == 1 and "members[0] is the contact: give their e-mail (HTTP 422)" in r.output
    sheet.write_text(yaml.safe_dump(factsheet("Tiny & Co")))
    r = _mai(live, "factsheet", str(sheet), "--challenge", "cli1", "--phase", "testing")
    assert r.exit_code == 0 and r.stdout.startswith("Tiny & Co: Tiny & Co's method (saved ")
    shown = json.loads(_mai(live, "factsheet", "--challenge", "cli1", "--phase", "testing", "--json").stdout)
    assert shown["factsheet"]["team"] == "Tiny & Co" and shown["editable"]

    code = tmp_path / "code.zip"
    code.write_bytes(zip_bytes({"train.py": b"print(1)\n"}))
    r = _mai(live, "submit", model, "--challenge", "cli1", "--phase", "testing", "--code", str(code), "--factsheet",
             str(sheet), "--json")
    assert r.exit_code == 0, r.output
    sub = live.get(f"/api/submissions/{json.loads(r.stdout)['id']}", "alice").json()
    assert sub["code"]["sha256"] == hashlib.sha256(code.read_bytes()).hexdigest()
    r = _mai(live, "submit", model, "--challenge", "cli1", "--phase", "testing", "--code", str(tmp_path / "missing.zip"))
    assert r.exit_code == 1 and "missing.zip: --code: not a file" in r.output
