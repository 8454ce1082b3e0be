"""The sandbox: untrusted .tflite work in a limited child; every way it can go wrong comes
back as a reason, and the caller lives on."""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest

from maikit.worker.sandbox import CANCELLED, CPU, CRASH, ERROR, MEMORY, TIMEOUT, Limits, SandboxFailure, run_sandboxed

LONG = {"runs": 1_000_000, "min_seconds": 0.0, "max_seconds": 600.0, "warmup_runs": 0, "warmup_seconds": 0.0}


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    """A dynamic-shape ISP file (runs at the 544x960 latency shape: tens of ms per run)."""
    import torch.nn as nn

    from maikit.export import export_model

    net = nn.Sequential(nn.Conv2d(4, 12, 3, padding=1), nn.PixelShuffle(2), nn.Sigmoid()).eval()
    out = tmp_path_factory.mktemp("sandbox")
    export_model(net, out, task="isp", input_hw=(16, 16))
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


@pytest.mark.parametrize("sig", [signal.SIGSEGV, signal.SIGKILL])
def test_a_child_killed_by_a_signal_is_a_crash(model, sig):
    """The child really dies by the signal (sent from outside, as a fault in the runtime would)."""

    def killer():
        end, pid = time.monotonic() + 120, None
        while pid is None and time.monotonic() < end:
            pid = _sandbox_child()
            time.sleep(0.02)
        os.kill(pid, sig)

    threading.Thread(target=killer, daemon=True).start()
    e = _fail("runtime", {"file": str(model), "task": "isp", "bench_kwargs": LONG}, Limits(wall_s=300))
    assert e.kind == CRASH and e.reason == f"the runtime crashed ({sig.name})"


def test_nice_lowers_the_childs_cpu_priority(model):
    from pathlib import Path

    seen: list[int] = []

    def watcher():
        end, pid = time.monotonic() + 120, None
        while pid is None and time.monotonic() < end:
            pid = _sandbox_child()
            time.sleep(0.02)
        time.sleep(0.3)  # past its first lines
        seen.append(int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[16]))
        os.kill(pid, signal.SIGKILL)

    threading.Thread(target=watcher, daemon=True).start()
    _fail("runtime", {"file": str(model), "task": "isp", "bench_kwargs": LONG}, Limits(wall_s=300, nice=7))
    assert seen == [min(19, os.nice(0) + 7)]
