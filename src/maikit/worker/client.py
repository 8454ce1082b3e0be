"""The worker's side of the HTTP protocol (see :mod:`maikit.worker.loop` for the order).

- ``POST /api/workers/register`` (worker token) -> ``worker_id``
- ``POST /api/workers/{id}/health`` (worker token) ``{ok, reason}``: the device's health check
- ``POST /api/workers/claim`` (worker token, long-poll ``wait_s``) -> 200 job | 204 none
- ``GET /api/jobs/{id}/file`` (lease token) -> the .tflite
- ``POST /api/jobs/{id}/heartbeat`` (lease token) -> new expiry, ``cancel``; 409 lease lost
- ``POST /api/jobs/{id}/log`` (lease token, text body)
- ``POST /api/jobs/{id}/result`` (lease token) ``{ok, result | reason, fault}``; 409 lease lost
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import httpx

LOG_POST_BYTES = 1_000_000  # the server's job_log_kb default


class LeaseLost(Exception):
    """The server no longer considers this worker the job's holder (409)."""


class ServerError(Exception):
    """An HTTP error answer (``status``), or a reply the worker cannot use (``status`` None)."""

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status


class Client:
    def __init__(self, server: str, token: str, timeout: float = 60.0):
        self.server = server.rstrip("/")
        self.token = token
        self.http = httpx.Client(base_url=self.server, timeout=timeout)

    def close(self) -> None:
        self.http.close()

    def _auth(self, token: str | None = None) -> dict:
        return {"Authorization": f"Bearer {token or self.token}"}

    @staticmethod
    def _check(r: httpx.Response) -> httpx.Response:
        if r.status_code == 409:
            raise LeaseLost(r.json().get("detail", "lease lost"))
        if r.status_code >= 400:
            try:
                detail = r.json().get("detail")
            except Exception:
                detail = r.text[:200]
            raise ServerError(f"{r.request.method} {r.request.url.path}: HTTP {r.status_code}: {detail}", r.status_code)
        return r

    def register(self, name: str, roles: list[str], device_tag: str, fingerprint: dict, health: dict | None = None) -> int:
        r = self._check(self.http.post("/api/workers/register", headers=self._auth(),
                                       json={"name": name, "roles": roles, "device_tag": device_tag, "fingerprint": fingerprint,
                                             "health": health}))
        return int(r.json()["worker_id"])

    def health(self, worker_id: int, health: dict) -> None:
        self._check(self.http.post(f"/api/workers/{worker_id}/health", headers=self._auth(), json=health))

    def claim(self, worker_id: int, wait_s: float) -> dict | None:
        r = self._check(self.http.post("/api/workers/claim", headers=self._auth(), json={"worker_id": worker_id, "wait_s": wait_s},
                                       timeout=wait_s + 30))
        return None if r.status_code == 204 else r.json()

    def download(self, job: dict, dest: Path) -> Path:
        h = hashlib.sha256()
        with self.http.stream("GET", job["file"]["url"], headers=self._auth(job["lease_token"])) as r:
            if r.status_code >= 400:
                r.read()
                self._check(r)
            with open(dest, "wb") as f:
                for chunk in r.iter_bytes():
                    h.update(chunk)
                    f.write(chunk)
        if job["file"].get("sha256") and h.hexdigest() != job["file"]["sha256"]:
            raise ServerError(f"job {job['job_id']}: downloaded file's sha256 does not match")
        return dest

    def heartbeat(self, job: dict) -> dict:
        return self._check(self.http.post(f"/api/jobs/{job['job_id']}/heartbeat", headers=self._auth(job["lease_token"]))).json()

    def log(self, job: dict, text: str) -> None:
        """Append ``text`` to the job's log: its first LOG_POST_BYTES bytes (the server's
        default limit of a log post; a longer one would be refused whole with a 413)."""
        self._check(self.http.post(f"/api/jobs/{job['job_id']}/log", headers=self._auth(job["lease_token"]),
                                   content=text.encode()[:LOG_POST_BYTES]))

    def result(self, job: dict, body: dict) -> dict:
        return self._check(self.http.post(f"/api/jobs/{job['job_id']}/result", headers=self._auth(job["lease_token"]),
                                          json=body)).json()
