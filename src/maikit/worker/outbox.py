"""The worker's outbox: results not yet delivered, one JSON file per job attempt.

A result is written here before its first post and removed once the server took it or
refused it for good (the lease is no longer current, or another 4xx answer), so a worker
restarted while the server was away still delivers it: no measurement is lost. A file holds
the server URL, the job id, its lease token and attempt, and the body to post.

Files are written atomically (a temporary file in the same folder, fsync, rename) with the
process's umask; the folder itself is created private (0700), as the files hold lease
tokens. Each file is held with an ``flock`` while a worker posts it, so workers sharing a
folder (several ``mai worker`` processes for one server) never post the same result at
once. A file that cannot be read is moved aside (``<name>.corrupt``) with one warning.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator
from urllib.parse import urlsplit

log = logging.getLogger("maikit.worker")

VERSION = 1


def default_outbox(server: str) -> Path:
    """``<state>/worker/<server host_port>/outbox`` (state: ``$MAIKIT_STATE`` or ``~/.local/state/maikit``)."""
    from maikit.runtime.drift import state_home

    netloc = urlsplit(server).netloc or server
    return state_home() / "worker" / re.sub(r"[^A-Za-z0-9._-]", "_", netloc) / "outbox"


@dataclass
class Entry:
    """A result waiting in the outbox; ``job`` has what the client needs to post it."""

    path: Path
    server: str
    job: dict  # job_id, lease_token, attempt
    body: dict


def _parse(data: bytes) -> tuple[str, dict, dict]:
    d = json.loads(data)
    if not isinstance(d, dict):
        raise ValueError("not a JSON object")
    job = {"job_id": d.get("job_id"), "lease_token": d.get("lease_token"), "attempt": d.get("attempt")}
    if not isinstance(job["job_id"], int) or not isinstance(job["lease_token"], str) or not isinstance(d.get("body"), dict):
        raise ValueError("no `job_id`, `lease_token` or `body`")
    return str(d.get("server") or ""), job, d["body"]


class Outbox:
    def __init__(self, folder: str | os.PathLike):
        self.folder = Path(folder)
        self._held: dict[Path, int] = {}  # file -> descriptor holding its flock

    def put(self, server: str, job: dict, body: dict) -> Path:
        """Write the result for ``job`` (kept locked by this outbox until :meth:`done` or :meth:`release`)."""
        self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        name = f"job-{int(job['job_id'])}-attempt-{int(job['attempt'])}.json"
        final, tmp = self.folder / name, self.folder / f".{name}.{os.getpid()}.tmp"
        data = json.dumps({"version": VERSION, "server": server, "job_id": int(job["job_id"]),
                           "lease_token": job["lease_token"], "attempt": int(job["attempt"]), "body": body}).encode()
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)  # the umask applies
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
            os.replace(tmp, final)
        except BaseException:
            os.close(fd)
            tmp.unlink(missing_ok=True)
            raise
        self._sync_folder()
        self._held[final] = fd
        return final

    def pending(self) -> Iterator[Entry]:
        """The results waiting here, oldest job first, each locked while yielded: the caller
        calls :meth:`done` or :meth:`release` on it. Files another worker is posting are
        skipped; unreadable ones are moved aside with a warning."""
        if not self.folder.is_dir():
            return
        self._drop_stale_temporaries()
        for path in sorted(self.folder.glob("job-*.json"), key=_order):
            if path in self._held:
                continue
            try:
                fd = os.open(path, os.O_RDONLY)
            except FileNotFoundError:  # delivered by another worker meanwhile
                continue
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue
            if not path.exists():  # delivered and removed between the listing and the lock
                os.close(fd)
                continue
            try:
                server, job, body = _parse(_read_all(fd))
            except (OSError, ValueError, UnicodeDecodeError) as e:
                self._set_aside(path, fd, e)
                continue
            self._held[path] = fd
            yield Entry(path, server, job, body)

    def done(self, path: Path) -> None:
        """The server took the result or refused it for good: remove it."""
        path.unlink(missing_ok=True)
        self._sync_folder()
        self.release(path)

    def release(self, path: Path) -> None:
        """Keep the result for a later attempt (this run stops, or the server is away)."""
        fd = self._held.pop(path, None)
        if fd is not None:
            os.close(fd)

    def _set_aside(self, path: Path, fd: int, err: Exception) -> None:
        aside = path.with_name(path.name + ".corrupt")
        try:
            os.replace(path, aside)
            log.warning("outbox: %s is not a readable result (%s); moved aside to %s", path, err, aside.name)
        except OSError as e:
            log.warning("outbox: %s is not a readable result (%s) and cannot be moved aside (%s)", path, err, e)
        finally:
            os.close(fd)

    def _drop_stale_temporaries(self) -> None:
        """Temporary files of writers that died before the rename (never results: those are renamed)."""
        for tmp in self.folder.glob(".job-*.tmp"):
            try:
                fd = os.open(tmp, os.O_RDONLY)
            except FileNotFoundError:
                continue
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                tmp.unlink(missing_ok=True)
            except BlockingIOError:  # a writer is still at it
                pass
            finally:
                os.close(fd)

    def _sync_folder(self) -> None:
        try:
            fd = os.open(self.folder, os.O_RDONLY)
        except OSError:
            return
        try:
            os.fsync(fd)
        except OSError:
            pass
        finally:
            os.close(fd)


def _order(path: Path) -> tuple:
    m = re.match(r"job-(\d+)-attempt-(\d+)\.json$", path.name)
    return (int(m.group(1)), int(m.group(2))) if m else (float("inf"), 0)


def _read_all(fd: int) -> bytes:
    chunks = []
    while chunk := os.read(fd, 1 << 20):
        chunks.append(chunk)
    return b"".join(chunks)
