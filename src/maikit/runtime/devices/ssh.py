"""``ssh``: a Linux board (a Raspberry Pi 4, any aarch64 box) reached over SSH.

The board has maikit's torch-free install (``pip install 'maikit[core]'`` or a checkout). The
backend copies the model with ``scp`` into ``remote_dir`` and runs the evaluator there::

    python3 -m maikit.runtime.devices measure REMOTE.tflite --backend litert-cpu --json --threads N ...

whose JSON (result, or ``{"error": {"kind", "reason"}}``) it reads back. The measurement
itself is the ``litert-cpu`` backend on the board, so the same loop and the same limits
apply. Host keys are checked against ``known_hosts`` (no trust on first use).

The per-op profile (:meth:`SshDevice.profile`) is a separate run of the evaluator with
``--per-op`` (one short timed run, then every op timed alone, as ``litert-cpu`` does). The
evaluator runs with ``--stop-on-eof``: it watches its stdin, which is the SSH channel; when
the connection ends (a cancel kills the local ``ssh``), it stops its measuring child and exits.
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
from pathlib import Path

from maikit.errors import MaikitError
from maikit.runtime.devices.base import (
    FAULT_KINDS, DeviceUnavailable, MeasureProtocol, ModelFault, ProfileUnavailable, run_command,
)


# what `python -m maikit.runtime.devices` says where maikit (or its torch-free part) is missing
_NO_MAIKIT = re.compile(r"No module named '?maikit|finding module specification for 'maikit")


class SshDevice:
    name = "ssh"

    def __init__(self, host: str, user: str | None = None, port: int = 22, identity: str | None = None,
                 known_hosts: str | None = None, remote_python: str = "python3", remote_dir: str = "/tmp/maikit",
                 timeout_s: float = 900.0):
        self.host, self.user, self.port = host, user, int(port)
        self.identity, self.known_hosts = identity, known_hosts
        self.remote_python, self.remote_dir, self.timeout_s = remote_python, remote_dir.rstrip("/"), float(timeout_s)
        self.cancel = None  # a threading.Event that stops the running command (and, with it, the remote one)

    def _opts(self, port_flag: str) -> list[str]:
        o = ["-o", "BatchMode=yes", "-o", "ConnectTimeout=15", port_flag, str(self.port)]
        if self.identity:
            o += ["-i", str(self.identity), "-o", "IdentitiesOnly=yes"]
        if self.known_hosts:
            o += ["-o", f"UserKnownHostsFile={self.known_hosts}", "-o", "StrictHostKeyChecking=yes"]
        return o

    @property
    def _target(self) -> str:
        return f"{self.user}@{self.host}" if self.user else self.host

    def _run(self, cmd: list[str], timeout: float) -> subprocess.CompletedProcess:
        try:
            p = run_command(cmd, timeout, cancel=self.cancel)
        except FileNotFoundError:
            raise DeviceUnavailable(f"`{cmd[0]}` not found: install an OpenSSH client") from None
        except subprocess.TimeoutExpired:
            raise ModelFault("timeout", f"the remote run went past {timeout:g} s") from None
        if p.returncode == 255:  # ssh's own failure: connection, authentication, host key
            raise DeviceUnavailable(f"ssh {self._target}:{self.port}: {p.stderr.strip().splitlines()[-1] if p.stderr.strip() else 'failed'}")
        return p

    def ssh(self, command: str, timeout: float | None = None) -> subprocess.CompletedProcess:
        return self._run(["ssh", *self._opts("-p"), self._target, command], timeout or self.timeout_s)

    def _evaluator(self, args: str, timeout: float | None = None) -> dict:
        p = self.ssh(f"{self.remote_python} -m maikit.runtime.devices {args}", timeout)
        try:
            return json.loads(p.stdout)
        except json.JSONDecodeError:
            tail = (p.stderr.strip().splitlines() or ["no output"])[-1]
            if p.returncode == 127:  # the remote shell found no such program
                raise DeviceUnavailable(f"{self.remote_python} is not found on {self.host} ({tail[:160]}): set "
                                        "--option remote_python=/path/to/venv/bin/python3") from None
            if _NO_MAIKIT.search(p.stderr):
                raise DeviceUnavailable(
                    f"maikit is not installed for {self.remote_python} on {self.host}: install it there "
                    "(python3 -m venv ~/maikit-venv && ~/maikit-venv/bin/pip install 'maikit[core]'), or point "
                    "--option remote_python=/path/to/venv/bin/python3 at the Python that has it") from None
            raise DeviceUnavailable(f"the evaluator on {self.host} gave no JSON (exit {p.returncode}: {tail[:200]})") from None

    def fingerprint(self) -> dict:
        return self._evaluator("info --json", timeout=120)

    def health(self) -> dict:
        try:
            self.fingerprint()
        except (DeviceUnavailable, ModelFault) as e:
            return {"ok": False, "reason": str(e)}
        return {"ok": True}

    def _upload(self, path) -> str:
        path = Path(path)
        if not path.is_file():
            raise MaikitError("file not found", path)
        self.ssh(f"mkdir -p {shlex.quote(self.remote_dir)}", timeout=60)
        remote = f"{self.remote_dir}/model.tflite"
        p = self._run(["scp", "-q", *self._opts("-P"), str(path), f"{self._target}:{remote}"], timeout=300)
        if p.returncode != 0:
            raise DeviceUnavailable(f"scp to {self.host} failed: {p.stderr.strip()[:200]}")
        return remote

    @staticmethod
    def _args(remote: str, pr: MeasureProtocol) -> str:
        args = (f"measure {shlex.quote(remote)} --backend litert-cpu --json --stop-on-eof --threads {pr.threads} "
                f"--warmup-runs {pr.warmup_runs} --warmup-seconds {pr.warmup_seconds:g} --runs {pr.runs} "
                f"--min-seconds {pr.min_seconds:g} --max-seconds {pr.max_seconds:g} --statistic {pr.statistic} "
                f"--seed {pr.seed} {'--xnnpack' if pr.xnnpack else '--no-xnnpack'}")
        if pr.shape:
            args += " --shape " + "x".join(str(v) for v in pr.shape)
        return args

    def _reply(self, reply: dict, path) -> dict:
        if "error" in reply:
            e = reply["error"]
            if e.get("kind") == "input":
                raise MaikitError(e.get("reason"), Path(path))
            if e.get("kind") not in FAULT_KINDS:
                raise DeviceUnavailable(f"{self.host}: {e.get('reason')}")
            raise ModelFault(e["kind"], e["reason"], Path(path), e.get("details"))
        return reply

    def measure(self, path, protocol: MeasureProtocol = MeasureProtocol()) -> dict:
        remote = self._upload(path)
        reply = self._reply(self._evaluator(self._args(remote, protocol)), path)
        reply["backend"] = self.name
        reply["fingerprint"] = {**reply.get("fingerprint", {}), "host": self.host}
        return reply

    def profile(self, path, protocol: MeasureProtocol = MeasureProtocol(), top: int = 10) -> dict:
        """The board's per-op profile (every op timed alone there, with the phase's threads and
        delegate), from the evaluator's ``measure --per-op`` after one short timed run."""
        from dataclasses import replace

        remote = self._upload(path)
        short = replace(protocol, warmup_runs=0, warmup_seconds=0.0, runs=1, min_seconds=0.0, statistic="avg")
        reply = self._reply(self._evaluator(self._args(remote, short) + f" --per-op --top {int(top)}"), path)
        if reply.get("op_profile") is None:
            raise ProfileUnavailable(reply.get("op_profile_note") or f"the evaluator on {self.host} gave no per-op profile")
        return reply["op_profile"]
