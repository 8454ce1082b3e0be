"""The zygote: sandboxed children forked from one warm process give what cold sandbox
children give (results, reasons, limits, isolation), each from a fresh fork, and a zygote
that dies is replaced while its requests still get an answer."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import pytest
from _fixtures import crashing_tflite
from _system import namespaces_allowed, require

from maikit.worker.sandbox import CANCELLED, CPU, CRASH, ERROR, MEMORY, TIMEOUT, Limits, SandboxFailure, run_sandboxed
from maikit.worker.zygote import Zygote

LONG = {"runs": 1_000_000, "min_seconds": 0.0, "max_seconds": 600.0, "warmup_runs": 0, "warmup_seconds": 0.0}


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    import torch.nn as nn

    from maikit.export import export_model
    from maikit.tasks import ISP

    root = tmp_path_factory.mktemp("zygote")
    net = nn.Sequential(nn.Conv2d(4, 12, 3, padding=1), nn.PixelShuffle(2), nn.Sigmoid()).eval()
    export_model(net, root, task=ISP, input_hw=(16, 16))
    (root / "junk.tflite").write_bytes(b"junk" * 64)
    (root / "crash.tflite").write_bytes(crashing_tflite("invoke"))
    return root


@pytest.fixture(scope="module")
def zygote():
    z = Zygote()
    yield z
    z.close()


def _pre(path: Path) -> dict:
    return {"files": {"runtime": str(path)}, "task": "isp", "target": "cpu"}


def _fail(runner, func: str, kwargs: dict, limits: Limits, **kw) -> SandboxFailure:
    with pytest.raises(SandboxFailure) as e:
        runner(func, kwargs, limits, **kw)
    return e.value


def test_a_preflight_gives_what_a_cold_child_gives(zygote, files):
    warm = zygote.run("preflight", _pre(files / "model_none.tflite"), Limits(wall_s=120))
    cold = run_sandboxed("preflight", _pre(files / "model_none.tflite"), Limits(wall_s=120))
    assert warm == cold and warm["files"]["runtime"]["layout"] == "nhwc"
    e_warm = _fail(zygote.run, "preflight", _pre(files / "junk.tflite"), Limits())
    e_cold = _fail(run_sandboxed, "preflight", _pre(files / "junk.tflite"), Limits())
    assert (e_warm.kind, e_warm.reason) == (e_cold.kind, e_cold.reason) == (
        ERROR, "runtime file: not a TFLite model (no TFL3 file identifier)")


def test_each_request_is_a_fresh_child_of_the_zygote(zygote, files):
    """The child's pid, parent and session, seen from inside: a new process per request,
    forked by the zygote (not this process), leading a session of its own."""
    seen = [zygote.run("whoami", {}, Limits(wall_s=60)) for _ in range(3)]
    assert len({s["pid"] for s in seen}) == 3
    assert len({s["ppid"] for s in seen}) == 1 and seen[0]["ppid"] != os.getpid()
    assert all(s["sid"] == s["pid"] for s in seen)
    assert all(s["cpu_limit"] >= 1 and s["cpu_limit"] != -1 for s in seen)


def test_limits_crashes_timeouts_and_cancel(zygote, files):
    model = files / "model_none.tflite"
    e = _fail(zygote.run, "runtime", {"file": str(model), "task": "isp", "bench_kwargs": LONG}, Limits(wall_s=1.5))
    assert e.kind == TIMEOUT and e.reason == "timeout after 1.5 s (the phase's execution time limit)"
    e = _fail(zygote.run, "runtime", {"file": str(model), "task": "isp", "bench_kwargs": LONG}, Limits(cpu_s=2, wall_s=300))
    assert e.kind == CPU and e.reason == "CPU time limit of 2 s exceeded"
    e = _fail(zygote.run, "runtime", {"file": str(model), "task": "isp", "bench_kwargs": LONG},
              Limits(memory_mb=40, wall_s=120))
    assert e.kind == MEMORY and e.reason.startswith("out of memory (limit 40 MB)")
    e = _fail(zygote.run, "runtime", {"file": str(files / "crash.tflite"), "task": "isp",
                                      "bench_kwargs": dict(LONG, runs=2)}, Limits(wall_s=120))
    assert e.kind == CRASH and e.reason == "the runtime crashed (signal 11 SIGSEGV) while running the model", e.reason
    assert "Fatal Python error: Segmentation fault" in e.log
    cancel = threading.Event()
    threading.Timer(1.0, cancel.set).start()
    e = _fail(zygote.run, "runtime", {"file": str(model), "task": "isp", "bench_kwargs": LONG}, Limits(wall_s=300),
              cancel=cancel)
    assert e.kind == CANCELLED
    assert zygote.run("preflight", _pre(model), Limits(wall_s=120))["files"]["runtime"]["layout"] == "nhwc"


def test_concurrent_requests_get_their_own_answers(zygote, files):
    paths = [files / "model_none.tflite", files / "junk.tflite"] * 3
    out: dict[int, object] = {}

    def one(i: int) -> None:
        try:
            out[i] = zygote.run("preflight", _pre(paths[i]), Limits(wall_s=120))["files"]["runtime"]["layout"]
        except SandboxFailure as e:
            out[i] = e.kind

    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(paths))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
    assert out == {i: ("nhwc" if i % 2 == 0 else ERROR) for i in range(len(paths))}


def test_the_child_reaches_no_network_where_the_kernel_allows(zygote, listener):
    lines: list[str] = []
    out = zygote.run("connect", {"host": "127.0.0.1", "port": listener}, Limits(wall_s=120), log=lines.append)
    require("unshare")
    allowed = namespaces_allowed()
    if allowed:
        assert out["connected"] is False and not lines, (out, lines)
    else:
        assert out["connected"] is True and any("network isolation unavailable" in ln for ln in lines)


def test_a_dead_zygote_is_replaced_and_its_request_still_answered(files):
    z = Zygote()
    try:
        model = files / "model_none.tflite"
        assert z.run("preflight", _pre(model), Limits(wall_s=120))["files"]["runtime"]["layout"] == "nhwc"
        first = z._proc.pid
        result: dict = {}

        def slow() -> None:
            result["out"] = z.run("runtime", {"file": str(model), "task": "isp", "bench_kwargs": dict(LONG, runs=3)},
                                  Limits(wall_s=300))

        t = threading.Thread(target=slow)
        t.start()
        end = time.monotonic() + 60
        while not z._pending and time.monotonic() < end:
            time.sleep(0.01)
        os.killpg(first, signal.SIGKILL)  # the zygote and the child it forked
        t.join(300)
        assert len(result["out"]["samples_ms"]) == 3  # answered by a cold child
        assert z.run("preflight", _pre(model), Limits(wall_s=120))["files"]["runtime"]["layout"] == "nhwc"
        assert z.starts == 2 and z._proc.pid != first
    finally:
        z.close()


def test_the_zygote_outlives_the_thread_that_started_it(files):
    """PR_SET_PDEATHSIG fires when the *thread* that started a process ends; the server starts
    the zygote from a pool thread that ends when idle, and the zygote must not die with it."""
    z = Zygote()
    try:
        t = threading.Thread(target=lambda: z.run("preflight", _pre(files / "model_none.tflite"), Limits(wall_s=120)))
        t.start()
        t.join(300)
        first = z._proc.pid
        time.sleep(0.5)  # a zygote killed by its parent's death would be gone by now
        assert z._proc.poll() is None
        assert z.run("preflight", _pre(files / "model_none.tflite"), Limits(wall_s=120))["files"]["runtime"]["layout"] == "nhwc"
        assert z.starts == 1 and z._proc.pid == first
    finally:
        z.close()
