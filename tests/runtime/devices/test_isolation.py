"""The device backends' children (the path `mai worker --backend` and `mai serve`'s in-process
workers measure through) are isolated as the worker's sandbox is: no network where the kernel
allows it, and a line on stderr (the job's runtime log) where it does not."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import pytest
from _system import namespaces_allowed, require

# a module run the way run_child runs the device child (maikit.isolation.isolated_command);
# it imports what the real child imports before it tries the network
_PROBE = """
import socket, sys
import numpy  # starts its BLAS threads: isolation must already be in place
from maikit.runtime.devices.base import limit_self
limit_self(memory_mb=2048, cpu_seconds=60)
try:
    socket.create_connection(("127.0.0.1", int(sys.argv[-1])), timeout=5).close()
    print("connected")
except OSError as e:
    print("refused:", e)
"""


@pytest.fixture
def probe(tmp_path):
    (tmp_path / "mai_isolation_probe.py").write_text(_PROBE)
    return tmp_path


def _run(port: int, folder, prefix: list[str] = ()) -> subprocess.CompletedProcess:
    from maikit.isolation import isolated_command

    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(folder), *(p for p in sys.path if p)]))
    return subprocess.run([*prefix, *isolated_command("mai_isolation_probe"), str(port)], capture_output=True,
                          text=True, env=env, timeout=300)


def test_device_child_reaches_no_network_where_the_kernel_allows(listener, probe):
    with socket.create_connection(("127.0.0.1", listener), timeout=5):
        pass  # reachable from this process
    r = _run(listener, probe)
    assert r.returncode == 0, r.stderr
    claimed = "network isolation unavailable" not in r.stderr
    if claimed:
        assert r.stdout.startswith("refused:") and "unreachable" in r.stdout.lower(), (r.stdout, r.stderr)
    else:
        assert r.stdout.startswith("connected"), (r.stdout, r.stderr)
    require("unshare")
    allowed = namespaces_allowed()  # util-linux's answer, independent of the child's own call
    assert claimed == allowed, (allowed, r.stderr)


def test_device_child_without_namespaces_says_so_on_its_log(listener, probe):
    """Inside a user namespace whose limit on nested user namespaces is 0 (per namespace: the
    host's setting stays), the child cannot isolate itself and its stderr says why."""
    require("namespaces")  # where there are none, the test above checks the unavailable path
    r = _run(listener, probe, ["unshare", "--user", "--map-root-user", "sh", "-c",
                        'echo 0 > /proc/sys/user/max_user_namespaces && exec "$0" "$@"'])
    assert r.returncode == 0, r.stderr
    assert ("network isolation unavailable: unshare(CLONE_NEWUSER|CLONE_NEWNET) failed: ENOSPC "
            "(No space left on device) (the child runs with the host's network)") in r.stderr
    assert r.stdout.startswith("connected")
