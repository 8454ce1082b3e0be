"""Submitted files in a content-addressed store: ``FILES/ab/abcdef...`` by sha256.

Uploads stream into a temporary file in the store's own ``tmp`` folder (size-capped, hashed on
the way: :class:`Incoming`) and are renamed into place; names given by clients are never used
as paths. A store that cannot take a file (its disk full, read-only, a file-size limit of the
process) raises :class:`~maikit.server.errors.StoreUnavailable` and leaves nothing behind."""

from __future__ import annotations

import errno
import hashlib
import os
import tempfile
from pathlib import Path
from typing import BinaryIO, NamedTuple

from maikit.server.errors import StoreUnavailable, TooLarge

# what a disk that cannot take the file says: full, over a quota, over the process's file-size
# limit (RLIMIT_FSIZE; Python ignores SIGXFSZ, so the write fails instead), read-only, not ours
_CANNOT_STORE = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS, errno.EACCES, errno.EPERM, errno.EIO}
CANNOT_STORE = "the server cannot store uploads right now"


def cannot_store(e: OSError) -> StoreUnavailable | None:
    """The refusal for a write the disk refused (None: another error, a bug to report)."""
    if e.errno in _CANNOT_STORE:
        return StoreUnavailable(f"{CANNOT_STORE} ({os.strerror(e.errno).lower()}); try again later")
    return None


class Spooled(NamedTuple):
    """A file in the store's temporary folder: its path, sha256 and size."""

    path: Path
    sha256: str
    size: int


class Incoming:
    """A file arriving in pieces: written to the store's temporary folder as it comes, hashed,
    refused past ``cap_bytes`` (TooLarge; the part written is removed at once)."""

    def __init__(self, store: "FileStore", cap_bytes: int, what: str = "file"):
        self.cap_bytes, self.what = cap_bytes, what
        self.size, self._h = 0, hashlib.sha256()
        try:
            fd, tmp = tempfile.mkstemp(dir=store.root / "tmp", suffix=".part")
        except OSError as e:
            raise cannot_store(e) or e
        self.path = Path(tmp)
        self._f = os.fdopen(fd, "wb")

    def write(self, block: bytes) -> None:
        self.size += len(block)
        if self.size > self.cap_bytes:
            self.discard()
            raise TooLarge(f"{self.what} over the cap of {self.cap_bytes} bytes")
        self._h.update(block)
        try:
            self._f.write(block)
        except OSError as e:
            self.discard()
            raise cannot_store(e) or e

    def finish(self) -> Spooled:
        try:
            self._f.close()  # the last buffered bytes are written here
        except OSError as e:
            self.discard()
            raise cannot_store(e) or e
        return Spooled(self.path, self._h.hexdigest(), self.size)

    def discard(self) -> None:
        try:
            self._f.close()
        except OSError:
            pass
        self.path.unlink(missing_ok=True)


class FileStore:
    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)
        (self.root / "tmp").mkdir(parents=True, exist_ok=True)

    def path(self, sha256: str) -> Path:
        if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
            raise ValueError("not a sha256 hex digest")
        return self.root / sha256[:2] / sha256

    def incoming(self, cap_bytes: int, what: str = "file") -> Incoming:
        """A temporary file to write an upload into as it arrives (:class:`Incoming`)."""
        return Incoming(self, cap_bytes, what)

    def spool(self, src: BinaryIO, cap_bytes: int, chunk: int = 1 << 20) -> Spooled:
        """Copy ``src`` to a temporary file; (path, sha256, size). TooLarge past ``cap_bytes``."""
        inc = self.incoming(cap_bytes)
        try:
            while True:
                block = src.read(chunk)
                if not block:
                    break
                inc.write(block)
        except BaseException:
            inc.discard()
            raise
        return inc.finish()

    def keep(self, tmp: Path, sha256: str) -> Path:
        """Move a spooled file into the store (a file with the same content is kept once)."""
        dest = self.path(sha256)
        try:
            dest.parent.mkdir(parents=True, exist_ok=True)
            if dest.exists():
                tmp.unlink(missing_ok=True)
            else:
                os.replace(tmp, dest)
        except OSError as e:
            raise cannot_store(e) or e
        return dest
