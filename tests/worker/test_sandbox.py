"""The sandbox: untrusted .tflite work in a limited child; every way it can go wrong comes
back as a reason, and the caller lives on."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from _fixtures import crashing_tflite, make_isp_split
from _system import namespaces_allowed, require

from maikit.tasks import ISP
from maikit.worker.sandbox import (CANCELLED, CPU, CRASH, ERROR, MEMORY, TIMEOUT, Limits, SandboxFailure, crash_stage,
                                   run_sandboxed)

LONG = {"runs": 1_000_000, "min_seconds": 0.0, "max_seconds": 600.0, "warmup_runs": 0, "warmup_seconds": 0.0}


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    """A dynamic-shape ISP file (runs at the 544x960 latency shape: tens of ms per run)."""
    import torch.nn as nn

    from maikit.export import export_model

    net = nn.Sequential(nn.Conv2d(4, 12, 3, padding=1), nn.PixelShuffle(2), nn.Sigmoid()).eval()
    out = tmp_path_factory.mktemp("sandbox")
    export_model(net, out, task=ISP, input_hw=(16, 16))
    return out / "model_none.tflite"


def _fail(func: str, kwargs: dict, limits: Limits, **kw) -> SandboxFailure:
    with pytest.raises(SandboxFailure) as e:
        run_sandboxed(func, kwargs, limits, **kw)
    return e.value


def test_a_result_comes_back(model):
    out = run_sandboxed("runtime", {"file": str(model), "task": "isp", "bench_kwargs": dict(LONG, runs=2)}, Limits(wall_s=120))
    assert out["input_shape"] == [1, 544, 960, 4] and len(out["samples_ms"]) == out["runs"] == 2


def test_model_errors_timeouts_cpu_memory_and_cancel(model, tmp_path):
    junk = tmp_path / "junk.tflite"
    junk.write_bytes(b"junk" * 64)
    e = _fail("preflight", {"files": {"runtime": str(junk)}, "task": "isp", "target": "cpu"}, Limits())
    assert e.kind == ERROR and e.reason == "runtime file: not a TFLite model (no TFL3 file identifier)"

    e = _fail("runtime", {"file": str(model), "task": "isp", "bench_kwargs": LONG}, Limits(wall_s=1.5))
    assert e.kind == TIMEOUT and e.reason == "timeout after 1.5 s (the phase's execution time limit)"

    e = _fail("runtime", {"file": str(model), "task": "isp", "bench_kwargs": LONG}, Limits(cpu_s=2, wall_s=300))
    assert e.kind == CPU and e.reason == "CPU time limit of 2 s exceeded"

    e = _fail("runtime", {"file": str(model), "task": "isp", "bench_kwargs": LONG}, Limits(memory_mb=40, wall_s=120))
    assert e.kind == MEMORY and e.reason.startswith("out of memory (limit 40 MB)")

    cancel = threading.Event()
    threading.Timer(1.0, cancel.set).start()
    e = _fail("runtime", {"file": str(model), "task": "isp", "bench_kwargs": LONG}, Limits(wall_s=300), cancel=cancel)
    assert e.kind == CANCELLED



def _sandbox_child() -> int | None:
    """This process's sandbox child, from /proc."""
    from pathlib import Path

    for d in Path("/proc").iterdir():
        try:
            if d.name.isdigit() and int((d / "stat").read_text().rsplit(")", 1)[1].split()[1]) == os.getpid() \
                    and b"maikit.worker.sandbox" in (d / "cmdline").read_bytes():
                return int(d.name)
        except (OSError, IndexError, ValueError):
            continue
    return None


def test_a_child_killed_from_outside_is_a_crash_without_a_stage(model):
    """SIGKILL (as the kernel's OOM killer sends it) leaves no stack to read: the signal alone."""

    def killer():
        end, pid = time.monotonic() + 120, None
        while pid is None and time.monotonic() < end:
            pid = _sandbox_child()
            time.sleep(0.02)
        os.kill(pid, signal.SIGKILL)

    threading.Thread(target=killer, daemon=True).start()
    e = _fail("runtime", {"file": str(model), "task": "isp", "bench_kwargs": LONG}, Limits(wall_s=300))
    assert e.kind == CRASH and e.reason == "the runtime crashed (signal 9 SIGKILL)"


@pytest.fixture(scope="module")
def crashers(tmp_path_factory):
    root = tmp_path_factory.mktemp("crashers")
    files = {}
    for where in ("none", "load", "input", "invoke"):
        files[where] = root / f"{where}.tflite"
        files[where].write_bytes(crashing_tflite(where))
    make_isp_split(root / "val", n=1, hw=(176, 176))  # 176 px: room for MS-SSIM's five scales
    # LiteRT takes a constant input's stored shape as fixed: data at that size (16x16 packed)
    make_isp_split(root / "val16", n=1, hw=(32, 32))
    files["split"], files["split16"] = root / "val", root / "val16"
    return files


def _job(func: str, file: Path, split: Path) -> dict:
    if func == "runtime":
        return {"file": str(file), "task": "isp", "bench_kwargs": dict(LONG, runs=2)}
    return {"file": str(file), "task": "isp", "split": str(split), "convention": "mai21", "threads": 2}


@pytest.mark.parametrize("where, func, stage", [
    ("load", "runtime", "loading the model"),
    ("input", "fidelity", "writing the model's input"),
    ("input", "runtime", "sizing and filling the model's inputs"),
    ("invoke", "fidelity", "running the model"),
    ("invoke", "runtime", "running the model"),
])
def test_a_model_that_crashes_the_runtime_is_named_by_signal_and_stage(crashers, where, func, stage):
    """Real crashes inside LiteRT's native code (see ``crashing_tflite``), not signals sent
    from outside: the reason names the signal and what the runtime was doing, the log keeps
    the Python stack (no host paths), and the next child runs."""
    e = _fail(func, _job(func, crashers[where], crashers["split16" if where == "input" else "split"]), Limits(wall_s=120))
    assert e.kind == CRASH and e.reason == f"the runtime crashed (signal 11 SIGSEGV) while {stage}", e.reason
    assert "Fatal Python error: Segmentation fault" in e.log and 'File "worker/stages.py", ' in e.log, e.log
    assert str(Path(__file__).resolve().parents[2]) not in e.log  # frames name the package's files, not the host's
    out = run_sandboxed(func, _job(func, crashers["none"], crashers["split"]), Limits(wall_s=120))  # the intact graph
    if func == "runtime":
        assert len(out["samples_ms"]) == 2, out
    else:
        assert out["layout"] == "nhwc" and out["psnr"] > 0, out


def test_the_crash_stage_is_read_from_the_calling_thread_when_a_runtime_thread_crashed():
    dump = ("Fatal Python error: Segmentation fault\n\n"
            "Current thread 0x00007f0000000001 (most recent call first):\n  <no Python frame>\n\n"
            "Thread 0x00007f0000000002 (most recent call first):\n"
            '  File "/opt/venv/lib/python3.11/site-packages/ai_edge_litert/interpreter.py", line 1015 in invoke\n'
            '  File "/srv/maikit/src/maikit/tflite/runner.py", line 338 in invoke\n')
    assert crash_stage(dump) == "running the model"
    assert crash_stage('Current thread 0x1 (most recent call first):\n  File "/x/other.py", line 3 in invoke\n') is None


def test_nice_lowers_the_childs_cpu_priority(model):
    from pathlib import Path

    seen: list[int] = []

    want = min(19, os.nice(0) + 7)

    def watcher():
        end, pid = time.monotonic() + 120, None
        while pid is None and time.monotonic() < end:
            pid = _sandbox_child()
            time.sleep(0.02)
        # the child lowers its priority first thing: wait for that (not for a fixed while),
        # and kill it as soon as it is seen, or when it never comes
        nice = None
        while time.monotonic() < end and nice != want:
            nice = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[16])
            time.sleep(0.02)
        seen.append(nice)
        os.kill(pid, signal.SIGKILL)

    threading.Thread(target=watcher, daemon=True).start()
    _fail("runtime", {"file": str(model), "task": "isp", "bench_kwargs": LONG}, Limits(wall_s=300, nice=7))
    assert seen == [want]


# -- network isolation ------------------------------------------------------------------------
def test_the_child_reaches_no_network_where_the_kernel_allows_and_says_so_where_not(listener):
    with socket.create_connection(("127.0.0.1", listener), timeout=5):
        pass  # the listener takes connections from this process
    lines: list[str] = []
    out = run_sandboxed("connect", {"host": "127.0.0.1", "port": listener}, Limits(wall_s=120), log=lines.append)
    unavailable = [ln for ln in lines if "network isolation unavailable: " in ln]
    if not unavailable:  # isolation claimed: it must hold
        assert out["connected"] is False and "unreachable" in out["error"].lower(), out
    else:
        assert out["connected"] is True, out
    require("unshare")
    allowed = namespaces_allowed()
    assert bool(unavailable) == (not allowed), (allowed, lines)


def test_without_namespaces_the_child_runs_on_the_hosts_network_and_the_logs_say_why(listener, tmp_path):
    """A real refusal: a user namespace whose limit on nested user namespaces is 0 (the
    limit is per namespace, so the host's stays as it is); the sandbox runs inside it."""
    require("namespaces")  # where there are none, the test above checks the unavailable path
    junk = tmp_path / "junk.tflite"
    junk.write_bytes(b"junk" * 64)
    script = f"""
import json, logging, sys
logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(name)s %(message)s")
from maikit.worker.sandbox import Limits, SandboxFailure, run_sandboxed
lines = []
out = run_sandboxed("connect", {{"host": "127.0.0.1", "port": {listener}}}, Limits(wall_s=120), log=lines.append)
try:
    run_sandboxed("preflight", {{"files": {{"runtime": {str(junk)!r}}}, "task": "isp", "target": "cpu"}}, Limits(wall_s=120))
except SandboxFailure as e:
    failure_log = e.log
print(json.dumps({{"out": out, "lines": lines, "failure_log": failure_log}}))
"""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    r = subprocess.run(["unshare", "--user", "--map-root-user", "sh", "-c",
                        'echo 0 > /proc/sys/user/max_user_namespaces && exec "$0" -c "$1"', sys.executable, script],
                       capture_output=True, text=True, env=env, timeout=600)
    assert r.returncode == 0, r.stderr
    got = json.loads(r.stdout.strip().splitlines()[-1])
    why = "network isolation unavailable: unshare(CLONE_NEWUSER|CLONE_NEWNET) failed: ENOSPC (No space left on device)"
    assert got["lines"] == [f"[sandbox] {why} (the child ran with the host's network)"]
    assert got["out"]["connected"] is True  # what the log warns of
    assert why in got["failure_log"]  # a failed job's log carries it too
    assert r.stderr.count(f"maikit.worker.sandbox sandbox: {why}") == 1, r.stderr  # the worker's log, once
