"""Submitted files in a content-addressed store: ``FILES/ab/abcdef...`` by sha256.

Uploads stream to a temporary file in the store (size-capped), are hashed on the way and
renamed into place; names given by clients are never used as paths."""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path
from typing import BinaryIO

from maikit.server.errors import TooLarge


class FileStore:
    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)
        (self.root / "tmp").mkdir(parents=True, exist_ok=True)

    def path(self, sha256: str) -> Path:
        if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
            raise ValueError("not a sha256 hex digest")
        return self.root / sha256[:2] / sha256

    def spool(self, src: BinaryIO, cap_bytes: int, chunk: int = 1 << 20) -> tuple[Path, str, int]:
        """Copy ``src`` to a temporary file; (path, sha256, size). TooLarge past ``cap_bytes``."""
        h, size = hashlib.sha256(), 0
        fd, tmp = tempfile.mkstemp(dir=self.root / "tmp", suffix=".part")
        try:
            with os.fdopen(fd, "wb") as f:
                while True:
                    block = src.read(chunk)
                    if not block:
                        break
                    size += len(block)
                    if size > cap_bytes:
                        raise TooLarge(f"over the cap of {cap_bytes} bytes")
                    h.update(block)
                    f.write(block)
        except BaseException:
            os.unlink(tmp)
            raise
        return Path(tmp), h.hexdigest(), size

    def keep(self, tmp: Path, sha256: str) -> Path:
        """Move a spooled file into the store (a file with the same content is kept once)."""
        dest = self.path(sha256)
        dest.parent.mkdir(parents=True, exist_ok=True)
        if dest.exists():
            tmp.unlink(missing_ok=True)
        else:
            os.replace(tmp, dest)
        return dest
