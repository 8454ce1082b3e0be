"""The starting kit through a real server (SQLite and PostgreSQL): declared downloads with size
and sha256 for signed-in participants, the generated optimisation guideline, and the hidden
reference data unreachable by any name, link or folder."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from bundle_testing import finish, register_worker
from platform_testing import challenge_def

from maikit.export.targets import GPU_CONDITIONS, SUPPORTED_OPS


def _kit(root: Path) -> Path:
    kit = root / "kit"
    (kit / "starter").mkdir(parents=True)
    (kit / "train.zip").write_bytes(os.urandom(3000))
    (kit / "val_inputs.zip").write_bytes(os.urandom(1500))
    (kit / "starter" / "train.py").write_text("print('train')\n")
    return kit


def _with_kit(slug: str, split: Path, kit: Path, files: list[dict], **kit_opts) -> dict:
    d = challenge_def(slug, split)
    d["kit"] = {"folder": str(kit), "files": files, **kit_opts}
    return d


FILES = [{"path": "train.zip", "title": "Training data", "kind": "training"},
         {"path": "val_inputs.zip", "title": "Validation inputs (no targets)", "kind": "validation-inputs",
          "phases": ["validation"]},
         {"path": "starter/train.py", "title": "Starter script", "kind": "starter"}]


def test_the_kit_lists_and_serves_its_files_with_size_and_sha256_to_signed_in_users(live, isp_split, tmp_path):
    kit = _kit(tmp_path)
    live.create_challenge(_with_kit("kit1", isp_split, kit, FILES))
    assert live.get("/api/challenges/kit1").json()["kit"] is True
    assert live.get("/api/challenges/kit1/kit").status_code == 401  # anonymous
    assert live.get("/api/challenges/kit1/kit/train.zip").status_code == 401

    listing = live.get("/api/challenges/kit1/kit", "alice").json()["files"]
    by_name = {f["name"]: f for f in listing}
    for f in FILES:
        data = (kit / f["path"]).read_bytes()
        entry = by_name[f["path"]]
        assert (entry["size_bytes"], entry["sha256"], entry["title"], entry["kind"]) == (
            len(data), hashlib.sha256(data).hexdigest(), f["title"], f["kind"])
        r = live.get(f"/api/challenges/kit1/kit/{f['path']}", "alice")
        assert r.status_code == 200 and r.content == data and r.headers["x-sha256"] == entry["sha256"]
    guideline = by_name["optimisation-guideline-cpu.md"]
    assert guideline["generated"] and guideline["kind"] == "guideline"
    text = live.get("/api/challenges/kit1/kit/optimisation-guideline-cpu.md", "alice")
    assert text.status_code == 200 and hashlib.sha256(text.content).hexdigest() == guideline["sha256"]
    assert len(text.content) == guideline["size_bytes"]

    # per phase: the validation inputs are the validation phase's only
    testing = {f["name"] for f in live.get("/api/challenges/kit1/kit?phase=testing", "bob").json()["files"]}
    assert testing == {"train.zip", "starter/train.py", "optimisation-guideline-cpu.md"}
    r = live.get("/api/challenges/kit1/kit?phase=nope", "bob")
    assert r.status_code == 404
    assert r.json()["detail"] == "challenge 'kit1' has no phase 'nope' (its phases: validation, testing)"

    # a file changed on disk after the challenge was saved is refused until it is saved again
    (kit / "train.zip").write_bytes(os.urandom(10))
    r = live.get("/api/challenges/kit1/kit/train.zip", "alice")
    assert r.status_code == 409 and "changed since the challenge was saved" in r.json()["detail"]
    live.create_challenge(_with_kit("kit1", isp_split, kit, FILES))
    assert live.get("/api/challenges/kit1/kit/train.zip", "alice").content == (kit / "train.zip").read_bytes()


def test_hidden_reference_data_is_unreachable_by_name_link_or_folder(live, isp_split, tmp_path):
    kit = _kit(tmp_path)
    secret = isp_split / "fujifilm" / "0.png"
    live.create_challenge(_with_kit("kit2", isp_split, kit, FILES))
    # names the kit does not declare are not files, whatever they spell
    for name in ("..%2F..%2F" + "x", "%2Fetc%2Fpasswd", str(secret).lstrip("/"), "..%2Fkit%2Ftrain.zip", "starter",
                 "train.zip%00"):
        r = live.get(f"/api/challenges/kit2/kit/{name}", "alice")
        assert r.status_code == 404, (name, r.status_code)
        assert secret.read_bytes() not in r.content

    def refused(files, **opts) -> str:
        r = live.post("/api/challenges", "organiser", json=_with_kit("kit3", isp_split, kit, files, **opts))
        assert r.status_code == 422, r.text
        return r.json()["detail"]

    # a link in the kit folder to a reference target, a path out of the folder, a folder holding the data
    (kit / "leak.png").symlink_to(secret)
    assert "lies inside the hidden reference data" in refused([{"path": "leak.png"}])
    (tmp_path / "elsewhere.txt").write_text("not for participants")
    (kit / "up").symlink_to(tmp_path)
    assert "resolves outside the kit folder" in refused([{"path": "up/elsewhere.txt"}])
    assert "relative path inside the kit folder" in refused([{"path": "../kit/train.zip"}])
    assert "overlaps the hidden reference data" in refused([], folder=str(isp_split.parent))
    assert "overlaps the hidden reference data" in refused([], folder=str(isp_split / "fujifilm"))
    wrong = "0" * 64
    assert f"not the {wrong}" in refused([{"path": "train.zip", "sha256": wrong}])
    assert live.get("/api/challenges/kit3").status_code == 404  # nothing of a refused definition was saved

    # a declared file swapped for a link to the reference data after saving is never served
    (kit / "starter" / "train.py").unlink()
    (kit / "starter" / "train.py").symlink_to(secret)
    r = live.get("/api/challenges/kit2/kit/starter/train.py", "alice")
    assert r.status_code == 409 and "hidden reference data" in r.json()["detail"]
    assert secret.read_bytes() not in r.content


def test_the_guideline_lists_the_targets_ops_and_what_three_participants_profiles_measured(live, isp_split, tiny_models, tmp_path):
    d = _with_kit("kit4", isp_split, _kit(tmp_path), [])
    d["protocol"]["target"] = "gpu"
    live.create_challenge(d)
    url = "/api/challenges/kit4/kit/optimisation-guideline-gpu.md"
    text = live.get(url, "alice").text
    for op in SUPPORTED_OPS["gpu"]:
        assert f"| `{op}` |" in text
    assert f"| `MEAN` | {GPU_CONDITIONS['MEAN']} |" in text
    assert "No op type has been timed on `litert-cpu`" in text

    # op profiles stored with runtime results: a type timed for fewer than 3 participants stays out
    worker = register_worker(live)
    ids = {}
    for who in ("alice", "bob", "organiser"):
        r = live.upload("kit4", tiny_models["isp"] / "model.tflite", who=who)
        assert r.status_code == 201, r.text
        ids[who] = r.json()["id"]
    fid = {"psnr": 20.0, "ssim": 0.8, "ms_ssim": 0.9, "images": 2}

    def run(ms: float, extra: list) -> dict:
        ops = [{"node": 0, "op": "CONV_2D", "shape": [1, 100, 100, 10], "ms": ms, "delegated": True}] + extra
        return {"avg_ms": 10.0, "op_profile": {"ops": ops}}

    secret_op = [{"node": 1, "op": "CUMSUM", "shape": [1, 10], "ms": 0.5, "delegated": False}]
    finish(live, worker, {ids["alice"]: (fid, run(1.0, secret_op)), ids["bob"]: (fid, run(2.0, [])),
                          ids["organiser"]: (fid, run(4.0, []))})
    text = live.get(url, "alice").text.split("## Measured on this platform", 1)[1]
    # median of 1, 2, 4 ms over 1e5 output elements: 2 ms -> 20000 us per million elements
    assert "| `CONV_2D` | 20000.0 | 2.000 | 100% | 3 |" in text
    assert "CUMSUM" not in text  # one participant's op: not told to the others

    # what the hidden test phase measured counts only once its results are published
    hidden = {}
    for who in ("alice", "bob", "organiser"):
        r = live.upload("kit4", tiny_models["isp"] / "model.tflite", who=who, phase="testing")
        assert r.status_code == 201, r.text
        hidden[r.json()["id"]] = (fid, run(1.0, [{"node": 1, "op": "SEGMENT_SUM", "shape": [1, 1000], "ms": 0.1}]))
    finish(live, worker, hidden)

    def measured() -> str:
        return live.get(url, "alice").text.split("## Measured on this platform", 1)[1]

    assert "SEGMENT_SUM" not in measured()
    assert live.post("/api/challenges/kit4/phases/testing/publish", "organiser").status_code == 200
    # 0.1 ms over 1000 output elements: 100000 us per million
    assert "| `SEGMENT_SUM` | 100000.0 | 0.100 | 0% | 3 |" in measured()


def test_mai_challenge_check_names_kit_files_it_cannot_serve(isp_split, tmp_path):
    import yaml
    from typer.testing import CliRunner

    from maikit.cli import app

    kit = _kit(tmp_path)
    (kit / "leak.png").symlink_to(isp_split / "fujifilm" / "0.png")
    d = _with_kit("kit5", isp_split, kit, [{"path": "train.zip"}, {"path": "missing.zip"}, {"path": "leak.png"}])
    f = tmp_path / "kit5.yaml"
    f.write_text(yaml.safe_dump(d))
    r = CliRunner().invoke(app, ["challenge", "check", str(f), "--json"])
    assert r.exit_code == 1
    assert json.loads(r.stdout)["problems"] == [
        f"kit.files[1]: kit file 'missing.zip' is not a file in {kit}",
        "kit.files[2]: kit file 'leak.png' lies inside the hidden reference data"]
