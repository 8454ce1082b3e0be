"""File I/O shared by every stage: PNG read/write and atomic writes.

PNGs are read without any rescaling (16-bit stays 16-bit, docs/references.md#depth-data) and returned in RGB
channel order. Every file maikit writes goes to a temporary name in the same folder and is
renamed into place, so an interrupted run never leaves a half-written file behind and never
destroys what was there before.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Iterator

import cv2
import numpy as np

from maikit.errors import MaikitError

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
PNG_TRAILER = b"IEND\xaeB`\x82"


def _current_umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; rename it onto ``path`` on success.

    On any exception the temporary file is removed and ``path`` is left untouched.
    ``suffix`` defaults to the target's suffix (some writers pick the format from it).
    The file gets the permissions a plain ``open()`` would give it under the current umask.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(
        prefix=f".{path.name}.", suffix=suffix if suffix is not None else path.suffix, dir=path.parent
    )
    os.close(fd)
    tmp_path = Path(tmp)
    # mkstemp creates 0600; a written file gets the permissions the umask gives a new file
    os.chmod(tmp_path, 0o666 & ~_current_umask())
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise


def write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def write_text(path: str | os.PathLike, text: str) -> Path:
    return write_bytes(path, text.encode("utf-8"))


def write_json(path: str | os.PathLike, obj: Any) -> Path:
    return write_text(path, json.dumps(obj, indent=2, sort_keys=False) + "\n")


def read_bytes(path: str | os.PathLike) -> bytes:
    """A file's bytes; MaikitError naming the file when it is missing or unreadable."""
    try:
        return Path(path).read_bytes()
    except FileNotFoundError:
        raise MaikitError("file not found", path) from None
    except OSError as e:
        raise MaikitError(f"cannot read file ({e.strerror})", path) from None


def read_png(path: str | os.PathLike) -> np.ndarray:
    """Read a PNG exactly as stored: uint8 or uint16, HxW or HxWx3 (RGB order).

    Raises MaikitError naming the file for a missing, non-PNG, unreadable or truncated file.
    """
    path = Path(path)
    data = read_bytes(path)
    if not data.startswith(PNG_SIGNATURE):
        raise MaikitError("not a PNG file", path)
    # libpng tolerates a missing tail in some builds; a PNG must end with its IEND chunk.
    if not data.rstrip(b"\x00").endswith(PNG_TRAILER):
        raise MaikitError("truncated PNG (no IEND chunk)", path)
    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if img is None:
        raise MaikitError("unreadable PNG (decoder failed)", path)
    if img.ndim == 3:
        if img.shape[2] == 4:
            img = img[:, :, :3]
        img = np.ascontiguousarray(img[:, :, ::-1])  # BGR -> RGB
    return img


def encode_png(img: np.ndarray, compression: int = 1) -> bytes:
    """Encode an HxW or HxWx3 (RGB) uint8/uint16 array as PNG bytes."""
    img = np.asarray(img)
    if img.dtype not in (np.uint8, np.uint16):
        raise ValueError(f"`img` must be uint8 or uint16, got {img.dtype}")
    if img.ndim == 3:
        if img.shape[2] != 3:
            raise ValueError(f"`img` must have 3 channels, got shape {img.shape}")
        img = img[:, :, ::-1]  # RGB -> BGR for OpenCV
    elif img.ndim != 2:
        raise ValueError(f"`img` must be HxW or HxWx3, got shape {img.shape}")
    ok, buf = cv2.imencode(".png", np.ascontiguousarray(img), [cv2.IMWRITE_PNG_COMPRESSION, compression])
    if not ok:
        raise ValueError("PNG encoding failed")
    return buf.tobytes()


def write_png(path: str | os.PathLike, img: np.ndarray, compression: int = 1) -> Path:
    """Write a PNG atomically (temp file + rename). uint16 stays 16-bit."""
    return write_bytes(path, encode_png(img, compression))


def list_pngs(folder: str | os.PathLike) -> dict[str, Path]:
    """Map file name -> path for every ``*.png`` directly in ``folder`` (sorted, natural order)."""
    folder = Path(folder)
    files = [p for p in folder.iterdir() if p.suffix.lower() == ".png" and not p.name.startswith(".")]
    return {p.name: p for p in sorted(files, key=lambda p: natural_key(p.name))}


def natural_key(name: str) -> tuple:
    """Sort key so that ``2.png`` comes before ``10.png`` (the official names are 0..N-1)."""
    import re

    return tuple(int(t) if t.isdigit() else t for t in re.split(r"(\d+)", name))
