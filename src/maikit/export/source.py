"""Where the model to export comes from: a module, a training run, a checkpoint, or a name.

A RUN folder holds ``best.pt`` / ``last.pt`` checkpoints written by ``maikit.train``: dicts
with ``model_name`` (a zoo name), ``model`` (the state_dict) and ``config`` (with ``task``,
and for ISP the RAW ``convention``). :func:`resolve_source` turns any of these into a
:class:`ModelSource` that export, the bench's PyTorch comparison and eval rebuild from.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn

from maikit.errors import MaikitError
from maikit.tasks import RawConvention, TaskSpec, get_raw_convention, get_task

CHECKPOINT_NAMES = ("best.pt", "last.pt")


@dataclass
class ModelSource:
    """A model in eval mode plus what is known about it."""

    model: nn.Module
    kind: str  # "module" | "run" | "checkpoint" | "registry"
    name: str | None = None  # zoo name, e.g. "isp/smallnet"
    task: TaskSpec | None = None
    convention: RawConvention | None = None  # ISP RAW convention of its training data
    path: Path | None = None  # the checkpoint file
    data_root: Path | None = None  # training data (default calibration set)
    trained: bool = True  # False for a zoo model with random weights
    extra: dict = field(default_factory=dict)

    def describe(self) -> dict:
        """The JSON-friendly record export.json keeps, enough to rebuild the model."""
        return {
            "kind": self.kind,
            "model": self.name,
            "checkpoint": str(self.path) if self.path else None,
            "trained": self.trained,
        }


def run_checkpoint(run_dir: str | os.PathLike) -> Path:
    """The checkpoint of a RUN folder: ``best.pt``, else ``last.pt`` (the trainer's rule)."""
    from maikit.train.checkpoint import resolve_checkpoint

    return resolve_checkpoint(run_dir)


def _config_dict(config: Any) -> dict:
    return config if isinstance(config, dict) else {}


def load_checkpoint_model(path: str | os.PathLike) -> tuple[nn.Module, dict]:
    """Build the zoo model of a checkpoint (or RUN folder) with its weights, in eval mode.

    Uses the trainer's loader (:func:`maikit.train.checkpoint.load_trained`). Returns
    ``(model, meta)`` with meta keys ``model_name``, ``task``, ``convention`` (ISP),
    ``config``, ``data_root``, ``checkpoint``.
    """
    from maikit.models import get_model_entry
    from maikit.train.checkpoint import load_trained

    model, ckpt = load_trained(path)
    config = _config_dict(ckpt.get("config"))
    data = ckpt.get("data") if isinstance(ckpt.get("data"), dict) else {}
    name = str(ckpt["model_name"])
    meta = {
        "model_name": name,
        "task": ckpt.get("task") or config.get("task") or get_model_entry(name).task,
        "convention": data.get("raw_convention") or config.get("convention"),
        "config": config,
        "data_root": config.get("data"),
        "checkpoint": str(ckpt["path"]),
    }
    return model, meta


def _for_export(source: ModelSource) -> ModelSource:
    """Apply the zoo entry's export-time folding (e.g. TCL's collapsible blocks -> single convs)."""
    if source.name:
        from maikit.models import get_model_entry

        if get_model_entry(source.name).extra.get("collapse_before_export") and hasattr(source.model, "collapse"):
            source.model.collapse()
            source.extra["collapsed"] = True
    return source


def resolve_source(model_or_run: Any, task: TaskSpec | None = None) -> ModelSource:
    """A :class:`ModelSource` for an nn.Module, a RUN folder, a checkpoint file or a zoo name."""
    return _for_export(_resolve_source(model_or_run, task))


def _resolve_source(model_or_run: Any, task: TaskSpec | None = None) -> ModelSource:
    if isinstance(model_or_run, ModelSource):
        return model_or_run
    if isinstance(model_or_run, nn.Module):
        return ModelSource(model_or_run.eval(), "module", task=task)
    text = os.fspath(model_or_run)
    path = Path(text)
    if path.is_dir() or path.suffix in (".pt", ".pth") or path.exists():
        model, meta = load_checkpoint_model(path)
        data = meta["data_root"]
        return ModelSource(
            model,
            "run" if path.is_dir() else "checkpoint",
            name=meta["model_name"],
            # the names the checkpoint stores become objects here, once
            task=get_task(meta["task"]),
            convention=get_raw_convention(meta["convention"]) if meta["convention"] else None,
            path=Path(meta["checkpoint"]),
            data_root=Path(data) if data else None,
        )
    from maikit.models import create_model, get_model_entry

    entry = get_model_entry(text)  # MaikitError naming the known models
    return ModelSource(create_model(text).eval(), "registry", name=text, task=get_task(entry.task), trained=False)


def rebuild_model(record: dict) -> nn.Module:
    """Rebuild a model from the ``source`` record of an export.json (see :meth:`ModelSource.describe`)."""
    if record.get("checkpoint"):
        return load_checkpoint_model(record["checkpoint"])[0]
    if record.get("model"):
        from maikit.models import create_model

        return create_model(record["model"]).eval()
    raise MaikitError("export.json does not say which model was exported (no checkpoint or model name)")
