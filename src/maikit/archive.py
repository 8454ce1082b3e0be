"""Check a code archive (zip or tar, plain or gzip/bzip2/xz-compressed) without extracting it.

A final-phase bundle carries the team's code as an archive that the organisers download and
unpack later; the platform itself only checks that it is one, and that unpacking it cannot
hurt: every member name is a relative path that stays inside the folder it is unpacked
into (no absolute path, no ``..``, no drive letter, no NUL), members are plain files and
folders (no links, devices or FIFOs), and the member count and the unpacked size stay under
caps. Nothing is written and nothing in it is run. A zip is judged from its central
directory (a member whose sizes promise more than ``max_ratio`` times its compressed bytes
is refused as a bomb); a tar is read as a stream whose decompressed bytes are counted, so a
compressed tar bomb stops at the cap, not at the end of the disk. The format is told by
the file's first bytes, never by its name. Run it where the server runs other untrusted
files: in the sandboxed preflight child (:func:`maikit.worker.stages.preflight`).
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import os
import stat
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from maikit.errors import MaikitError


@dataclass(frozen=True)
class ArchiveCaps:
    max_members: int = 10_000
    max_unpacked_bytes: int = 500_000_000
    max_ratio: float = 200.0  # a zip member's unpacked over compressed size
    max_name_chars: int = 400


def detect_format(head: bytes) -> str | None:
    """``zip``, ``tar``, ``tar.gz``, ``tar.bz2``, ``tar.xz`` from a file's first 512 bytes
    (compressed formats are told by their magic; whether a tar is inside shows when read)."""
    if head[:4] in (b"PK\x03\x04", b"PK\x05\x06"):
        return "zip"
    if head[:2] == b"\x1f\x8b":
        return "tar.gz"
    if head[:3] == b"BZh":
        return "tar.bz2"
    if head[:6] == b"\xfd7zXZ\x00":
        return "tar.xz"
    if len(head) >= 262 and head[257:262] == b"ustar":
        return "tar"
    return None


def unsafe_name(name: str) -> str | None:
    """Why a relative path (an archive member's, a kit file's) could point outside the folder it
    is meant to stay in, or None."""
    if not name or "\x00" in name:
        return "an empty name or one with a NUL byte"
    posix = name.replace("\\", "/")
    if posix.startswith("/") or (len(posix) > 1 and posix[1] == ":"):
        return "an absolute path"
    if ".." in PurePosixPath(posix).parts:
        return "a '..' component"
    return None


class _Counted(io.RawIOBase):
    """A read-only stream that refuses to give more than ``cap`` bytes (the decompressed tar)."""

    def __init__(self, raw, cap: int):
        self.raw, self.cap, self.count = raw, cap, 0

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:
        data = self.raw.read(len(b))
        self.count += len(data)
        if self.count > self.cap:
            raise _OverCap()
        b[: len(data)] = data
        return len(data)


class _OverCap(Exception):
    pass


def check_archive(path: str | os.PathLike, caps: ArchiveCaps = ArchiveCaps()) -> dict:
    """``{"format", "members", "files", "unpacked_bytes", "top"}`` of a safe archive (``top``:
    up to 20 member names); MaikitError with the reason for anything else."""
    path = Path(path)
    with open(path, "rb") as f:
        head = f.read(512)
    fmt = detect_format(head)
    if fmt is None:
        raise MaikitError("not a zip or tar archive (.zip, .tar, .tar.gz, .tar.bz2, .tar.xz)")
    if fmt == "zip":
        return _check_zip(path, caps)
    return _check_tar(path, fmt, caps)


def _member(name: str, caps: ArchiveCaps) -> None:
    if len(name) > caps.max_name_chars:
        raise MaikitError(f"member name longer than {caps.max_name_chars} characters: {name[:60]!r}...")
    why = unsafe_name(name)
    if why:
        raise MaikitError(f"member {name[:120]!r} has {why} (it would unpack outside its folder)")


def _check_zip(path: Path, caps: ArchiveCaps) -> dict:
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as e:
        raise MaikitError(f"not a readable zip archive ({str(e).splitlines()[0] if str(e) else type(e).__name__})") from None
    with zf:
        infos = zf.infolist()
        if not infos:
            raise MaikitError("an empty archive")
        if len(infos) > caps.max_members:
            raise MaikitError(f"{len(infos)} members, more than the cap of {caps.max_members}")
        total, files, seen = 0, 0, set()
        for info in infos:
            _member(info.filename, caps)
            mode = info.external_attr >> 16
            if mode and stat.S_IFMT(mode) not in (0, stat.S_IFREG, stat.S_IFDIR):
                kind = "a symbolic link" if stat.S_ISLNK(mode) else "not a plain file or folder"
                raise MaikitError(f"member {info.filename[:120]!r} is {kind}")
            if info.flag_bits & 0x1:
                raise MaikitError(f"member {info.filename[:120]!r} is encrypted (the organisers could not read it)")
            key = info.filename.replace("\\", "/").rstrip("/")
            if key in seen:
                raise MaikitError(f"member {info.filename[:120]!r} appears twice")
            seen.add(key)
            if info.is_dir():
                continue
            files += 1
            total += info.file_size
            if total > caps.max_unpacked_bytes:
                raise MaikitError(f"unpacks to more than the cap of {caps.max_unpacked_bytes / 1e6:g} MB")
            if info.file_size > 1_000_000 and info.file_size > caps.max_ratio * max(info.compress_size, 1):
                raise MaikitError(f"member {info.filename[:120]!r} would unpack {info.file_size / max(info.compress_size, 1):.0f} "
                                  f"times its compressed size (a zip bomb?); the cap is {caps.max_ratio:g}")
        return {"format": "zip", "members": len(infos), "files": files, "unpacked_bytes": total,
                "top": [i.filename for i in infos[:20]]}


_OPENERS = {"tar": lambda f: f, "tar.gz": lambda f: gzip.GzipFile(fileobj=f), "tar.bz2": lambda f: bz2.BZ2File(f),
            "tar.xz": lambda f: lzma.LZMAFile(f)}


def _check_tar(path: Path, fmt: str, caps: ArchiveCaps) -> dict:
    # the stream may hold at most the members' bytes plus a header per member and padding
    stream_cap = caps.max_unpacked_bytes + (caps.max_members + 2) * 1024 + 20 * 512 * 20
    names, total, files = [], 0, 0
    try:
        with open(path, "rb") as raw:
            counted = _Counted(_OPENERS[fmt](raw), stream_cap)
            with tarfile.open(fileobj=io.BufferedReader(counted, 1 << 16), mode="r|") as tf:
                for m in tf:
                    if len(names) >= caps.max_members:
                        raise MaikitError(f"more than the cap of {caps.max_members} members")
                    _member(m.name, caps)
                    if m.issym() or m.islnk():
                        raise MaikitError(f"member {m.name[:120]!r} is a {'symbolic' if m.issym() else 'hard'} link")
                    if not (m.isfile() or m.isdir()):
                        raise MaikitError(f"member {m.name[:120]!r} is not a plain file or folder")
                    names.append(m.name)
                    if m.isfile():
                        files += 1
                        total += m.size
                        if total > caps.max_unpacked_bytes:
                            raise MaikitError(f"unpacks to more than the cap of {caps.max_unpacked_bytes / 1e6:g} MB")
    except _OverCap:
        raise MaikitError(f"unpacks to more than the cap of {caps.max_unpacked_bytes / 1e6:g} MB") from None
    except (tarfile.TarError, OSError, EOFError, lzma.LZMAError, ValueError) as e:
        what = {"tar": "tar", "tar.gz": "gzip-compressed tar", "tar.bz2": "bzip2-compressed tar",
                "tar.xz": "xz-compressed tar"}[fmt]
        raise MaikitError(f"not a readable {what} archive ({str(e).splitlines()[0] if str(e) else type(e).__name__})") from None
    if not names:
        raise MaikitError("an empty archive")
    return {"format": fmt, "members": len(names), "files": files, "unpacked_bytes": total, "top": names[:20]}
