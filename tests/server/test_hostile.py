"""Hostile uploads: each is rejected at preflight or fails with its reason, and the server and
worker go on to score a good file afterwards."""

from __future__ import annotations

import io
import zipfile

from _fixtures import crashing_tflite
from platform_testing import challenge_def


def test_hostile_files_fail_with_their_reason(live, tiny_models, hostile_models, isp_split, tmp_path):
    d = challenge_def("h1", isp_split, execution_time_limit_s=3, memory_limit_mb=600)
    d["upload_cap_mb"] = 4
    d["protocol"]["input_shape"] = [1, 544, 960, 4]  # the official shape, where the hostile files are hostile
    live.create_challenge(d)
    good = (tiny_models["isp"] / "model.tflite").read_bytes()
    zbuf = io.BytesIO()
    with zipfile.ZipFile(zbuf, "w") as z:
        z.writestr("model.tflite", good)
    rejected = {
        "junk": (b"\x89PNG not a model" * 50, "not a TFLite model"),
        "truncated": (good[: len(good) // 2], "runtime file"),
        "zip": (zbuf.getvalue(), "not a TFLite model"),
        "empty": (b"", "runtime file"),
        "wrong shapes": ((tiny_models["depth"] / "model.tflite").read_bytes(), "does not fit the isp task"),
        # a file whose loading crashes LiteRT: maikit's own parser refuses it first (the runtime
        # crashes are tested in test_crash.py)
        "no subgraphs": (crashing_tflite("load"), "runtime file: the model has no subgraph"),
    }
    for name, (data, why) in rejected.items():
        path = tmp_path / f"{name}.tflite"
        path.write_bytes(data)
        r = live.upload("h1", path)
        assert r.status_code == 422, (name, r.text)
        assert r.json()["detail"].startswith("preflight: ") and why in r.json()["detail"], (name, r.json())
        sub = live.get(f"/api/submissions/{r.json()['submission_id']}", "alice").json()
        assert (sub["status"], sub["stage"], sub["fault"]) == ("Failed", "preflight", "model")
    big = tmp_path / "big.tflite"
    big.write_bytes(good + b"\0" * 4_100_000)  # over the challenge's cap of 4 MB
    r = live.upload("h1", big)
    assert r.status_code == 413 and "4 MB" in r.json()["detail"]

    live.worker(name="w")
    slow = live.upload("h1", hostile_models["slow"]).json()
    hungry = live.upload("h1", hostile_models["hungry"]).json()
    done = live.wait_done(slow["id"])
    assert done["status"] == "Failed" and done["reason"] == "runtime: timeout after 3 s (the phase's execution time limit)"
    done = live.wait_done(hungry["id"])
    assert done["status"] == "Failed" and done["reason"].startswith("runtime: out of memory (limit 600 MB)"), done["reason"]
    assert done["fault"] == "model"
    dynamic = tiny_models["isp"] / "model_none.tflite"  # timed at the official shape
    ok = live.upload("h1", dynamic, fidelity=dynamic).json()
    assert live.wait_done(ok["id"])["status"] == "Finished"
    assert live.get("/api/health").json()["status"] == "ok"
