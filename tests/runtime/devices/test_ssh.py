"""The `ssh` backend end to end against a real OpenSSH server the test starts on loopback
(its own host key, an authorized key made here, `sshd -D -f cfg`), running the torch-free
evaluator `python -m maikit.runtime.devices` on the "board" side: measurement, the per-op
profile, faults, and a cancel that must stop the board's processes too."""

from __future__ import annotations

import getpass
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from types import SimpleNamespace

import pytest
from _device_helpers import processes, wait_until
from _fixtures import free_port
from _system import sshd_path

from maikit.runtime.devices import DeviceUnavailable, MeasureProtocol, ModelFault, get_backend
from maikit.runtime.devices.base import Cancelled

SRC = Path(__file__).resolve().parents[3] / "src"

pytestmark = pytest.mark.needs("sshd")


@pytest.fixture(scope="module")
def sshd(tmp_path_factory):
    d = tmp_path_factory.mktemp("sshd")
    for name in ("host", "client"):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(d / name)], check=True)
    (d / "authorized_keys").write_text((d / "client.pub").read_text())
    port = free_port()
    (d / "sshd_config").write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {d / 'host'}\nPidFile {d / 'sshd.pid'}\n"
        f"AuthorizedKeysFile {d / 'authorized_keys'}\nStrictModes no\nUsePAM no\nPasswordAuthentication no\n"
        "KbdInteractiveAuthentication no\nPermitRootLogin prohibit-password\nSubsystem sftp internal-sftp\n")
    Path("/run/sshd").mkdir(exist_ok=True)  # privilege separation directory
    log = open(d / "sshd.log", "w")
    proc = subprocess.Popen([sshd_path(), "-D", "-e", "-f", str(d / "sshd_config")], stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("sshd did not start: " + (d / "sshd.log").read_text())
            time.sleep(0.2)
    host_pub = (d / "host.pub").read_text().split()
    (d / "known_hosts").write_text(f"[127.0.0.1]:{port} {host_pub[0]} {host_pub[1]}\n")
    yield {"dir": d, "port": port}
    proc.terminate()
    proc.wait(timeout=30)
    log.close()


def _board(sshd, mark: str | None = None, **kw):
    """The backend for the loopback "board"; ``mark`` goes into the board processes' environment."""
    remote_python = f"env PYTHONPATH={SRC} {f'MAIKIT_TEST_MARK={mark} ' if mark else ''}{sys.executable}"
    return get_backend("ssh", host="127.0.0.1", port=sshd["port"], user=getpass.getuser(),
                       identity=str(sshd["dir"] / "client"), known_hosts=str(sshd["dir"] / "known_hosts"),
                       remote_python=remote_python, remote_dir=str(sshd["dir"] / "board"), **kw)


def test_measure_over_ssh(sshd, smallnet_file):
    board = _board(sshd)
    r = board.measure(smallnet_file, MeasureProtocol(threads=1, runs=6, min_seconds=0.0, warmup_runs=1,
                                                     warmup_seconds=0.0, statistic="p50"))
    assert r["backend"] == "ssh" and r["runs"] == len(r["samples_ms"]) == 6
    assert r["statistic"] == "p50" and r["protocol"]["threads"] == 1
    assert r["fingerprint"]["host"] == "127.0.0.1" and r["fingerprint"]["runtime"] == "LiteRT"
    assert r["delegate"]["applied"] is True and r["fingerprint"]["delegate"].startswith("XNNPACK (")  # what ran there
    # the model really travelled: the board's copy is byte-identical
    assert (sshd["dir"] / "board" / "model.tflite").read_bytes() == Path(smallnet_file).read_bytes()
    assert board.health() == {"ok": True}


def test_model_fault_on_the_board_keeps_its_kind(sshd, tmp_path):
    junk = tmp_path / "junk.tflite"
    junk.write_bytes(b"not a model at all" * 4)
    with pytest.raises(ModelFault) as e:
        _board(sshd).measure(junk, MeasureProtocol(runs=1, min_seconds=0.0))
    assert e.value.kind == "not_a_model"


def test_a_board_python_without_maikit_is_named_as_such(sshd, smallnet_file):
    """The README's venv step forgotten: the board's Python has no maikit. Said in those words
    (not Python's "No module named 'maikit…'"), as an unavailable device, never a model fault."""
    board = _board(sshd)
    board.remote_python = f"{sys.executable} -I -S"  # this Python without site-packages or PYTHONPATH: no maikit
    with pytest.raises(DeviceUnavailable) as e:
        board.measure(smallnet_file, MeasureProtocol(runs=1, min_seconds=0.0))
    msg = str(e.value)
    assert f"maikit is not installed for {sys.executable} -I -S on 127.0.0.1" in msg
    assert "remote_python=" in msg and "No module named" not in msg
    health = board.health()
    assert health["ok"] is False and "maikit is not installed" in health["reason"]
    board.remote_python = "/nonexistent/venv/bin/python3"
    with pytest.raises(DeviceUnavailable, match="/nonexistent/venv/bin/python3 is not found on 127.0.0.1"):
        board.fingerprint()


def test_wrong_host_key_is_an_unavailable_device_not_a_model_fault(sshd, tmp_path, smallnet_file):
    other = tmp_path / "other"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)], check=True)
    kh = tmp_path / "known_hosts"
    pub = (tmp_path / "other.pub").read_text().split()
    kh.write_text(f"[127.0.0.1]:{sshd['port']} {pub[0]} {pub[1]}\n")
    board = _board(sshd)
    board.known_hosts = str(kh)
    with pytest.raises(DeviceUnavailable):
        board.measure(smallnet_file, MeasureProtocol(runs=1, min_seconds=0.0))
    assert board.health()["ok"] is False


def test_per_op_profile_on_the_board_through_the_device_runner(sshd, smallnet_file, tmp_path):
    from maikit.runtime.devices._litert import op_names
    from maikit.worker.device import DeviceRunner

    b = _board(sshd)
    opts = {k: getattr(b, a) for k, a in (("host", "host"), ("port", "port"), ("user", "user"), ("identity", "identity"),
                                          ("known_hosts", "known_hosts"), ("remote_python", "remote_python"),
                                          ("remote_dir", "remote_dir"))}
    runner = DeviceRunner("ssh", opts, device="loopback-board", state_dir=tmp_path, per_op_top=3)
    job = {"task": "isp", "protocol": {"threads": 1, "min_runs": 3, "min_seconds": 0, "warmup_runs": 1,
                                       "warmup_seconds": 0, "statistic": "p50", "target": "cpu"}}
    body = runner.run(job, Path(smallnet_file), SimpleNamespace(memory_mb=4096, cpu_s=600, wall_s=600))
    assert body["ok"], body
    r = body["result"]
    assert r["backend"] == "ssh" and r["runs"] == 3 and r["findings"] == []
    prof, ops = r["op_profile"], op_names(smallnet_file)
    assert r["op_profile_note"] is None and "alone" in prof["method"]
    assert prof["op_count"] == len(ops) and set(prof["by_type"]) == set(ops)
    top = prof["top_ops"]
    assert len(top) == 3 and all(ops[x["node"]] == x["op"] and x["ms"] > 0 for x in top)
    assert [x["ms"] for x in top] == sorted((x["ms"] for x in top), reverse=True)


def test_cancel_stops_the_evaluator_and_its_child_on_the_board(sshd, smallnet_file):
    """A cancel kills the local ssh; the board's evaluator sees its stdin (the channel) end and
    stops its measuring child, so nothing of the run is left on the board."""
    mark = uuid.uuid4().hex
    board = _board(sshd, mark)
    board.cancel = threading.Event()
    outcome = []

    def run():
        try:
            board.measure(smallnet_file, MeasureProtocol(threads=1, runs=10**6, min_seconds=500.0, max_seconds=550.0,
                                                         warmup_runs=0, warmup_seconds=0.0))
            outcome.append("finished")
        except Exception as e:  # noqa: BLE001  (the test looks at what it was)
            outcome.append(e)

    t = threading.Thread(target=run)
    t.start()
    on_board = lambda: processes(environ_contains="MAIKIT_TEST_MARK=" + mark)  # noqa: E731
    measuring = lambda: [p for p in on_board() if p in processes(argv_contains="run_isolated('maikit.runtime.devices._child')")]  # noqa: E731
    try:
        wait_until(measuring, what="the measuring child running on the board")
    finally:
        board.cancel.set()
    t.join(timeout=120)
    assert not t.is_alive() and len(outcome) == 1 and isinstance(outcome[0], Cancelled)
    wait_until(lambda: not on_board(), timeout=60, what="the board's evaluator and child gone")
