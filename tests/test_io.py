"""Atomic writes: the written file gets the umask's permissions, a failure leaves the old file."""

from __future__ import annotations

import os

import numpy as np
import pytest

from maikit.io import atomic_path, write_png


@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002])
def test_written_files_honour_the_umask(tmp_path, umask):
    old = os.umask(umask)
    try:
        write_png(tmp_path / "a.png", np.zeros((4, 4), np.uint8))
        (tmp_path / "plain").write_bytes(b"x")  # what open() gives under this umask
    finally:
        os.umask(old)
    assert os.stat(tmp_path / "a.png").st_mode & 0o777 == os.stat(tmp_path / "plain").st_mode & 0o777 == 0o666 & ~umask


def test_failed_write_keeps_the_old_file(tmp_path):
    target = tmp_path / "keep.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("interrupted")
    assert target.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["keep.txt"]
