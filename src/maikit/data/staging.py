"""Writing a group of files all or nothing: stage them in a hidden folder, then rename.

The dataset builders (``mai data align``, ``mai data from-stereo``) write several files per
input pair (patches, depth and photo, a report). A pair is staged in ``ROOT/.staging-*``
on the same file system and renamed into place only once every file of it is written, so
an interruption or an error never leaves a half-written pair in the dataset; the staging
folder is removed either way.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterator

from maikit.errors import MaikitError


class Stage:
    """Hands out temporary paths for final paths; :meth:`commit` renames them into place."""

    def __init__(self, root: Path):
        root.mkdir(parents=True, exist_ok=True)
        self.dir = Path(tempfile.mkdtemp(prefix=".staging-", dir=root))
        self._moves: list[tuple[Path, Path]] = []

    def path(self, final: str | os.PathLike) -> Path:
        final = Path(final)
        tmp = self.dir / f"{len(self._moves)}{final.suffix}"
        self._moves.append((tmp, final))
        return tmp

    def commit(self) -> list[Path]:
        for tmp, final in self._moves:
            if not tmp.is_file():
                raise MaikitError("staged file was not written", final)
            if final.exists():
                raise MaikitError("already exists; choose an empty output folder or remove it", final)
        for tmp, final in self._moves:
            final.parent.mkdir(parents=True, exist_ok=True)
            os.replace(tmp, final)
        return [final for _, final in self._moves]


@contextlib.contextmanager
def staged(root: str | os.PathLike) -> Iterator[Stage]:
    """``with staged(root) as stage: write(stage.path(final)) ...; stage.commit()``.

    Files not committed when the block ends (by an exception, or without ``commit``) are
    removed with the staging folder.
    """
    stage = Stage(Path(root))
    try:
        yield stage
    finally:
        shutil.rmtree(stage.dir, ignore_errors=True)
