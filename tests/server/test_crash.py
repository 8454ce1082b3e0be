"""Uploads that crash the runtime from the inside (corrupt files from ``crashing_tflite``, not
signals sent from outside): preflight parses them without running them, each worker role
that runs one fails the submission with "the runtime crashed (signal 11 SIGSEGV) while ...",
and the server and worker go on to score the next file."""

from __future__ import annotations

from _fixtures import crashing_tflite
from platform_testing import challenge_def

CRASHED = "the runtime crashed (signal 11 SIGSEGV) while running the model"


def test_a_file_that_crashes_the_runtime_fails_its_role_and_the_worker_goes_on(live, tiny_models, isp_split, tmp_path):
    live.create_challenge(challenge_def("k1", isp_split))
    crasher = tmp_path / "crash.tflite"
    crasher.write_bytes(crashing_tflite("invoke"))
    good_runtime, good_fidelity = tiny_models["isp"] / "model.tflite", tiny_models["isp"] / "model_none.tflite"
    # each role gets the crasher while the other has a good file: whichever job runs first,
    # the crash is the one that fails the submission
    uploads = {"runtime": live.upload("k1", crasher, fidelity=good_fidelity),
               "fidelity": live.upload("k1", good_runtime, fidelity=crasher)}
    for role, r in uploads.items():
        assert r.status_code == 201, (role, r.text)  # preflight parses the file; it does not run it
    live.worker(name="w")
    for role, r in uploads.items():
        sid = r.json()["id"]
        done = live.wait_done(sid)
        assert (done["status"], done["fault"], done["reason"]) == ("Failed", "model", f"{role}: {CRASHED}"), done
        stage = live.get(f"/api/submissions/{sid}/logs", "alice").json()["stages"][role]
        assert stage["error"] == CRASHED, stage
        assert "Fatal Python error: Segmentation fault" in stage["log"] and f"[{role}] failed: {CRASHED}" in stage["log"]
    ok = live.upload("k1", good_runtime, fidelity=good_fidelity)
    assert live.wait_done(ok.json()["id"])["status"] == "Finished"
    assert live.get("/api/health").json()["status"] == "ok"
