"""A runtime process that dies by a signal fails its submission with "the runtime crashed"
and the worker goes on to the next job."""

from __future__ import annotations

import os
import signal
from pathlib import Path

from platform_testing import challenge_def, wait_for


def _sandbox_children() -> list[int]:
    """This process's sandbox children (the in-thread worker's), from /proc."""
    me, found = os.getpid(), []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            ppid = int((d / "stat").read_text().rsplit(")", 1)[1].split()[1])
            cmd = (d / "cmdline").read_bytes()
        except (OSError, IndexError, ValueError):
            continue
        if ppid == me and b"maikit.worker.sandbox" in cmd:
            found.append(int(d.name))
    return found


def test_runtime_killed_by_sigsegv_fails_the_submission_and_the_worker_goes_on(live, tiny_models, hostile_models, isp_split):
    live.create_challenge(challenge_def("k1", isp_split, execution_time_limit_s=300))
    first = live.upload("k1", hostile_models["slow"])  # long runs: time to find its child
    assert first.status_code == 201, first.text
    live.worker(name="w")
    pid = wait_for(lambda: (_sandbox_children() or [None])[0], 120, 0.05, "a sandbox child")
    os.kill(pid, signal.SIGSEGV)
    done = live.wait_done(first.json()["id"])
    assert done["status"] == "Failed" and done["fault"] == "model", done
    assert done["reason"].endswith("the runtime crashed (SIGSEGV)"), done["reason"]
    ok = live.upload("k1", tiny_models["isp"] / "model.tflite", fidelity=tiny_models["isp"] / "model_none.tflite")
    assert live.wait_done(ok.json()["id"])["status"] == "Finished"
