"""The `ssh` backend end to end against a real OpenSSH server the test starts on loopback
(its own host key, an authorized key made here, `sshd -D -f cfg`), running the torch-free
evaluator `python -m maikit.runtime.devices` on the "board" side."""

from __future__ import annotations

import getpass
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from _device_helpers import sshd_path

from maikit.runtime.devices import DeviceUnavailable, MeasureProtocol, ModelFault, get_backend

SRC = Path(__file__).resolve().parents[3] / "src"

pytestmark = pytest.mark.skipif(sshd_path() is None or os.geteuid() != 0,
                                reason="needs Debian's openssh-server (scripts/system-deps.sh) and root")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def sshd(tmp_path_factory):
    d = tmp_path_factory.mktemp("sshd")
    for name in ("host", "client"):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(d / name)], check=True)
    (d / "authorized_keys").write_text((d / "client.pub").read_text())
    port = _free_port()
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


def _board(sshd, **kw):
    remote_python = f"env PYTHONPATH={SRC} {sys.executable}"
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
    # the model really travelled: the board's copy is byte-identical
    assert (sshd["dir"] / "board" / "model.tflite").read_bytes() == Path(smallnet_file).read_bytes()
    assert board.health() == {"ok": True}


def test_model_fault_on_the_board_keeps_its_kind(sshd, tmp_path):
    junk = tmp_path / "junk.tflite"
    junk.write_bytes(b"not a model at all" * 4)
    with pytest.raises(ModelFault) as e:
        _board(sshd).measure(junk, MeasureProtocol(runs=1, min_seconds=0.0))
    assert e.value.kind == "not_a_model"


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
