"""A submission's files: ``model.tflite`` (fixed latency shape), ``model_none.tflite`` (any
size) and the ``export.json`` record ``mai export`` writes beside them. Torch-free, so that
evaluation and benchmarking can read them without the exporter."""

from __future__ import annotations

import json
import os
from pathlib import Path

from maikit.errors import MaikitError

FIXED_FILE = "model"
FLEX_FILE = "model_none"
EXPORT_JSON = "export.json"


def read_export_json(path: str | os.PathLike) -> dict | None:
    """The export.json next to a model file (or in a folder), or None when there is none."""
    path = Path(path)
    candidate = path / EXPORT_JSON if path.is_dir() else path.parent / EXPORT_JSON
    if not candidate.is_file():
        return None
    try:
        return json.loads(candidate.read_text())
    except (OSError, ValueError) as e:
        raise MaikitError(f"unreadable export record ({e})", candidate) from None
