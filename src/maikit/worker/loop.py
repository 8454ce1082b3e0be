"""The worker loop: register, then claim -> download -> run in the sandbox (heartbeating)
-> post the result, forever. ``mai serve``'s in-process workers and ``mai worker`` on
another machine are this same loop over HTTP.

A fidelity job runs :func:`maikit.eval.run_fidelity` on the reference split named in the
job (or the folder this worker was given for that challenge and phase kind); a runtime
job runs :func:`maikit.eval.run_runtime` with the phase's protocol. Both run in a child
with the phase's limits; a model that crashes, hangs or blows memory fails that job with
the reason, and the loop goes on. A lost lease (the server requeued the job) or a cancel
stops the child and drops the job.

A result goes to the worker's outbox (:mod:`maikit.worker.outbox`) before it is posted and
leaves it once the server answered; on start, and whenever the server answers again after
being away, the worker posts what its outbox holds before it claims another job.
"""

from __future__ import annotations

import logging
import os
import random
import socket
import tempfile
import threading
import time
from pathlib import Path

import httpx

from maikit.tflite.runner import describe_delegation
from maikit.worker.client import Client, LeaseLost, ServerError
from maikit.worker.outbox import Outbox
from maikit.worker.sandbox import CANCELLED, INFRA, Limits, SandboxFailure, run_sandboxed

# failures of the connection to the server (it may be restarting): retried, never fatal
_AWAY = (httpx.TransportError, ServerError, OSError)

log = logging.getLogger("maikit.worker")


class Backoff:
    """Waits between retries of a server that does not answer: ``first`` seconds, doubled
    after each failure up to ``cap``, each scaled by a random factor in [0.5, 1) (jitter: many
    workers that lost the same server do not come back in step); ``reset`` after a success."""

    def __init__(self, first: float = 0.5, cap: float = 10.0, rng: random.Random | None = None):
        self.first, self.cap = float(first), float(cap)
        self.rng = rng or random.Random()
        self._next = self.first

    def next(self) -> float:
        delay = self._next * self.rng.uniform(0.5, 1.0)
        self._next = min(self._next * 2, self.cap)
        return delay

    def reset(self) -> None:
        self._next = self.first


def fingerprint() -> dict:
    """What identifies the measuring machine: CPU, runtime versions, governor and temperature where readable."""
    from maikit import __version__
    from maikit.runtime.system import machine_info

    info = {**machine_info(), "maikit": __version__, "host": socket.gethostname()}
    for key, path in (("governor", "/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor"),
                      ("temperature_mC", "/sys/class/thermal/thermal_zone0/temp")):
        try:
            info[key] = Path(path).read_text().strip()
        except OSError:
            info[key] = None
    return info


class Worker:
    def __init__(self, server: str, token: str, *, name: str | None = None, roles=("fidelity", "runtime"),
                 device_tag: str = "litert-cpu", data: dict[str, str] | None = None, wait_s: float = 20.0,
                 stop: threading.Event | None = None, workdir: str | os.PathLike | None = None,
                 device_runner=None, once: bool = False, health_every_s: float = 60.0,
                 outbox: str | os.PathLike | None = None):
        self.client = Client(server, token)
        # results not yet delivered, on disk (None: kept in memory only, lost with the process)
        self.outbox = Outbox(outbox) if outbox is not None else None
        self._drain_due = True  # post the outbox before the next claim
        self._foreign: set[Path] = set()  # outbox files for another server (warned once)
        self.name = name or f"{socket.gethostname()}-{os.getpid()}"
        self.roles = list(roles)
        self.device_tag = device_tag
        self.data = dict(data or {})  # "challenge/kind" (or "challenge") -> local reference split folder
        self.wait_s = wait_s
        self.stop = stop or threading.Event()
        self.workdir = Path(workdir) if workdir else None
        self.worker_id: int | None = None
        self._fingerprint: dict | None = None
        self.device_runner = device_runner  # maikit.worker.device.DeviceRunner: runtime jobs on a device backend
        self.once = once  # stop after one job
        # the device's health check: on start, every ``health_every_s`` between jobs, and at once
        # after a job found the device unavailable; reported to the server, which leases an
        # unhealthy worker no job; the worker stays up and takes jobs again once it recovers
        self.health_every_s = float(health_every_s)
        self.health: dict | None = None  # {"ok": bool, "reason": str | None}
        self._health_at = float("-inf")
        self._health_unreported = False
        self.unhealthy_exit = False  # --once on an unhealthy device: reported, then stopped

    def run(self) -> None:
        """Serve until ``stop`` is set; a server that is away is retried (:class:`Backoff`)."""
        backoff = Backoff()
        while not self.stop.is_set():
            try:
                if self.device_runner is not None and time.monotonic() - self._health_at >= self.health_every_s:
                    self._check_health()
                if self.worker_id is None:
                    if self._fingerprint is None:
                        self._fingerprint = fingerprint()
                        if self.device_runner is not None:
                            self._fingerprint["device"] = self.device_runner.fingerprint()
                    self.worker_id = self.client.register(self.name, self.roles, self.device_tag, self._fingerprint,
                                                          self.health)
                    self._health_unreported = False
                    log.info("worker %s registered as %s", self.name, self.worker_id)
                if self._health_unreported:
                    self.client.health(self.worker_id, self.health)
                    self._health_unreported = False
                if self._drain_due:  # results a restart or an outage left behind go first
                    self._drain_outbox()
                    self._drain_due = False
                if self.health is not None and not self.health["ok"]:
                    if self.once:
                        self.unhealthy_exit = True
                        break
                    self.stop.wait(self.health_every_s)
                    continue
                job = self.client.claim(self.worker_id, self.wait_s)
                backoff.reset()  # the server answered
                if job is not None:
                    self.run_job(job)
                    if self.once:
                        self.stop.set()
            except Exception as e:  # keep serving: the server may restart
                if self.stop.is_set():
                    break
                log.warning("worker %s: %s", self.name, e)
                if isinstance(e, ServerError) and "no worker" in str(e):
                    self.worker_id = None
                self._drain_due = True
                self.stop.wait(backoff.next())
        self.client.close()

    def _check_health(self) -> None:
        try:
            h = self.device_runner.health()
        except Exception as e:  # a check that breaks is a failed check, not a dead worker
            h = {"ok": False, "reason": f"{type(e).__name__}: {e}"}
        ok = bool(h.get("ok"))
        now = {"ok": ok, "reason": None if ok else str(h.get("reason") or "health check failed")}
        dev = f"device `{self.device_runner.device}` ({self.device_runner.backend_name})"
        if not ok and (self.health is None or self.health != now):
            log.warning("%s failed its health check: %s; taking no jobs, checking again every %g s",
                        dev, now["reason"], self.health_every_s)
        elif ok and self.health is not None and not self.health["ok"]:
            log.info("%s passed its health check again; taking jobs", dev)
        self.health, self._health_at, self._health_unreported = now, time.monotonic(), True

    # one job -------------------------------------------------------------------------
    def _split(self, job: dict) -> str | None:
        split = job.get("split") or {}
        for key in (f"{job['challenge']}/{split.get('kind')}", job["challenge"]):
            if key in self.data:
                return self.data[key]
        return split.get("path")

    def run_job(self, job: dict) -> None:
        cancel, lost = threading.Event(), threading.Event()
        beat = threading.Thread(target=self._heartbeat, args=(job, cancel, lost), daemon=True)
        with tempfile.TemporaryDirectory(prefix=f"mai-job{job['job_id']}-", dir=self.workdir) as tmp:
            beat.start()
            try:
                body = self._execute(job, Path(tmp), cancel)
            except LeaseLost:
                lost.set()
            finally:
                cancel.set()
                beat.join()
        if lost.is_set():
            log.info("job %s: lease lost; result dropped", job["job_id"])
            return
        self._post_result(job, body)

    def _post_result(self, job: dict, body: dict) -> None:
        """Deliver the result, retrying (backoff with jitter) until the server answers: a
        restart or a network cut loses no measurement, and the copy in the outbox survives a
        restart of this worker. If the lease ran out meanwhile, the server requeued the job
        and refuses this late result (409): logged, dropped, and the worker goes on."""
        path = self._stash(job, body)
        backoff, warned = Backoff(), False
        while True:
            try:
                if self._deliver(job, body) and warned:
                    log.info("job %s: result delivered after the server came back", job["job_id"])
                if path is not None:
                    self.outbox.done(path)
                return
            except _AWAY as e:
                err = e
            if self.stop.is_set():
                kept = f"; kept in the outbox ({path})" if path is not None else ""
                log.warning("job %s: result not delivered (%s); stopping%s", job["job_id"], err, kept)
                if path is not None:
                    self.outbox.release(path)
                return
            if not warned:
                log.warning("job %s: result not delivered yet (%s); retrying until the server answers", job["job_id"], err)
                warned = True
            self.stop.wait(backoff.next())

    def _stash(self, job: dict, body: dict) -> Path | None:
        if self.outbox is None:
            return None
        try:
            return self.outbox.put(self.client.server, job, body)
        except OSError as e:  # a full or read-only disk: the result is still posted from memory
            log.warning("job %s: result not written to the outbox %s (%s); posting it from memory only",
                        job["job_id"], self.outbox.folder, e)
            return None

    def _deliver(self, job: dict, body: dict) -> bool:
        """Post once: True when the server took the result, False when it refused it for good
        (logged); raises one of ``_AWAY`` when it did not answer (or answered 5xx)."""
        try:
            self.client.result(job, body)
            return True
        except LeaseLost:
            log.info("job %s: the server refused the late result (the lease is no longer current: the job was "
                     "requeued); dropped", job["job_id"])
        except ServerError as e:
            if e.status is None or e.status >= 500:
                raise
            log.warning("job %s: result refused: %s", job["job_id"], e)
        return False

    def _drain_outbox(self) -> None:
        """Post the results this worker's outbox still holds (from before a restart, or left
        while the server was away); stops at the first that does not get an answer."""
        if self.outbox is None:
            return
        for entry in self.outbox.pending():
            if entry.server and entry.server.rstrip("/") != self.client.server:
                self.outbox.release(entry.path)  # another server's result (a shared --outbox): not ours to post
                if entry.path not in self._foreign:
                    self._foreign.add(entry.path)
                    log.warning("outbox: %s is a result for %s, not %s; left there", entry.path, entry.server,
                                self.client.server)
                continue
            try:
                delivered = self._deliver(entry.job, entry.body)
            except BaseException:
                self.outbox.release(entry.path)
                raise
            self.outbox.done(entry.path)
            if delivered:
                log.info("job %s: result delivered from the outbox (%s)", entry.job["job_id"], entry.path.name)

    def _log(self, job: dict, text: str) -> None:
        try:
            self.client.log(job, text if text.endswith("\n") else text + "\n")
        except (LeaseLost, *_AWAY):
            pass

    def _execute(self, job: dict, tmp: Path, cancel: threading.Event) -> dict:
        role = job["role"]
        limits = Limits(memory_mb=int(job["limits"]["memory_mb"]), cpu_s=float(job["limits"]["cpu_s"]),
                        wall_s=float(job["limits"]["wall_s"]))
        deadline = time.monotonic() + 2 * float(job.get("lease_s", 30)) + 10
        backoff = Backoff(first=0.25, cap=5.0)
        while True:  # the server may be restarting: retry while the lease could still be ours
            try:
                file = self.client.download(job, tmp / "model.tflite")
                break
            except LeaseLost:
                raise
            except _AWAY as e:
                if time.monotonic() > deadline or self.stop.is_set() or cancel.is_set():
                    return {"ok": False, "reason": f"download failed: {e}", "fault": INFRA}
                self.stop.wait(min(backoff.next(), max(0.0, deadline - time.monotonic())))
        if role == "fidelity":
            split = self._split(job)
            if not split or not Path(split).is_dir():
                return {"ok": False, "reason": f"reference data for {job['challenge']} ({(job.get('split') or {}).get('kind')}) "
                        f"is not on worker {self.name}", "fault": INFRA}
            func, kwargs = "fidelity", {"file": str(file), "task": job["task"], "split": split,
                                        "convention": job.get("convention") or "mai21", "threads": job["protocol"]["threads"]}
        elif role == "runtime" and self.device_runner is not None:
            self._log(job, f"[runtime] worker {self.name} attempt {job['attempt']}: {self.device_runner.backend_name} "
                      f"on {self.device_runner.device} (limits: {limits.words()})")
            body = self.device_runner.run(job, file, limits, cancel=cancel, log=lambda text: self._log(job, text))
            if not body["ok"]:
                self._log(job, f"[runtime] failed: {body['reason']}")
                if body["reason"].startswith("device unavailable"):
                    self._health_at = float("-inf")  # check the device again before the next claim
            else:
                body["result"]["worker"] = self.name
            return body
        elif role == "runtime":
            func, kwargs = "runtime", {"file": str(file), "task": job["task"], "bench_kwargs": job["bench_kwargs"],
                                       "input_shape": (job.get("protocol") or {}).get("input_shape")}
        else:
            func, kwargs = "noop", {}
        self._log(job, f"[{role}] worker {self.name} attempt {job['attempt']}: {func} (limits: {limits.words()})")
        t0 = time.perf_counter()
        try:
            result = run_sandboxed(func, kwargs, limits, cancel=cancel, log=lambda text: self._log(job, text))
        except SandboxFailure as e:
            if e.log.strip():
                self._log(job, e.log)
            self._log(job, f"[{role}] failed: {e.reason}")
            if e.kind == CANCELLED:
                return {"ok": False, "reason": "cancelled", "fault": INFRA}
            return {"ok": False, "reason": e.reason, "fault": "model"}
        self._log(job, f"[{role}] done in {time.perf_counter() - t0:.1f} s")
        result["fingerprint"] = dict(self._fingerprint or fingerprint())
        if result.get("delegate"):  # a runtime result: the delegate that ran, not the one asked for
            result["fingerprint"]["delegate"] = describe_delegation(result["delegate"])
        result["worker"] = self.name
        return {"ok": True, "result": result}

    def _heartbeat(self, job: dict, cancel: threading.Event, lost: threading.Event) -> None:
        # the first at once: until it comes, the server holds the lease for a short while only
        every = max(0.2, float(job.get("lease_s", 30)) / 3)
        wait = 0.0
        while not cancel.wait(wait):
            wait = every
            try:
                if self.client.heartbeat(job).get("cancel"):
                    cancel.set()
            except LeaseLost:
                lost.set()
                cancel.set()
            except _AWAY as e:
                log.warning("job %s heartbeat: %s", job["job_id"], e)
