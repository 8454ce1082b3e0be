"""Run-folder checkpoints: writing them atomically and loading trained models back.

A checkpoint (``RUN/last.pt``, ``RUN/best.pt``) is one ``torch.save`` dict: ``format``,
``model_name``, ``task``, ``model`` (state dict), ``optimizer``, ``scheduler`` (the step and
learning rate — the schedule is a pure function of the step), ``step``, ``config``,
``recipe``, ``rng`` (Python, NumPy, torch CPU/CUDA states), ``data`` (conventions such as the
RAW normalisation), ``best`` (metric, value, step), ``train_state`` (stage flags, the distill
adapters, the AMP scaler). :func:`load_trained` builds the model from the registry and
loads the weights — what ``mai predict``, ``--teacher`` and ``--weights`` use.
"""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn as nn

from maikit.errors import MaikitError, describe
from maikit.io import atomic_path

CKPT_FORMAT = "maikit-train-1"
LAST, BEST = "last.pt", "best.pt"


def save_checkpoint(path: str | os.PathLike, payload: dict[str, Any]) -> Path:
    """``torch.save`` to a temporary file, renamed onto ``path`` (never half-written)."""
    path = Path(path)
    with atomic_path(path, suffix=".pt") as tmp:
        torch.save({"format": CKPT_FORMAT, **payload}, tmp)
    return path


def resolve_checkpoint(path: str | os.PathLike, prefer: str = BEST) -> Path:
    """A checkpoint file, or a run folder's ``best.pt`` (``last.pt`` if there is no best)."""
    path = Path(path)
    if path.is_dir():
        for name in (prefer, LAST, BEST):
            if (path / name).is_file():
                return path / name
        raise MaikitError("no checkpoint in this run folder (expected best.pt or last.pt)", path)
    if not path.exists():
        raise MaikitError("checkpoint or run folder not found", path)
    return path


def load_checkpoint(path: str | os.PathLike, prefer: str = BEST) -> dict[str, Any]:
    """Read a maikit training checkpoint (file or run folder); one-line error when broken."""
    file = resolve_checkpoint(path, prefer)
    try:
        # weights_only: a checkpoint holds tensors and plain values, never code to run
        ckpt = torch.load(file, map_location="cpu", weights_only=True)
    except OSError as e:
        raise MaikitError(f"unreadable checkpoint: {describe(e)}", file) from None
    except Exception:  # truncated, not a torch file, unpickling error (torch's texts are not for users)
        raise MaikitError("unreadable checkpoint: not a PyTorch file, or a damaged one", file) from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != CKPT_FORMAT or "model" not in ckpt:
        raise MaikitError("not a maikit training checkpoint", file)
    ckpt["path"] = str(file)
    return ckpt


def rng_state() -> dict[str, Any]:
    """Every global RNG's state, in plain types and tensors (loadable with ``weights_only=True``)."""
    name, keys, pos, has_gauss, cached = np.random.get_state()
    state = {"python": random.getstate(), "numpy": (name, torch.from_numpy(keys.astype(np.int64)), int(pos),
                                                   int(has_gauss), float(cached)),
             "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    random.setstate(state["python"])
    name, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((name, np.asarray(keys, dtype=np.int64).astype(np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        try:
            torch.cuda.set_rng_state_all(state["cuda"])
        except RuntimeError:  # a different GPU count: CUDA streams restart from their seeds
            pass


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def _strip_prefix(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    # DDP-wrapped or compiled modules prefix their keys
    for prefix in ("module.", "_orig_mod."):
        if state and all(k.startswith(prefix) for k in state):
            state = {k[len(prefix):]: v for k, v in state.items()}
    return state


def load_state_into(model: nn.Module, state: dict[str, torch.Tensor], source: str | os.PathLike) -> None:
    """Strictly load ``state``; a mismatch is a one-line error naming ``source``."""
    state = _strip_prefix(state)
    wanted = model.state_dict()
    missing = [k for k in wanted if k not in state]
    unexpected = [k for k in state if k not in wanted]
    if missing or unexpected:
        what = f"missing `{missing[0]}`" if missing else f"unexpected `{unexpected[0]}`"
        raise MaikitError(f"weights do not fit the model: {what} ({len(missing)} missing, "
                          f"{len(unexpected)} unexpected)", source)
    for k, v in wanted.items():
        if tuple(state[k].shape) != tuple(v.shape):
            raise MaikitError(f"weights do not fit the model: `{k}` is {tuple(state[k].shape)}, "
                              f"the model needs {tuple(v.shape)}", source)
    model.load_state_dict(state)


def load_initial_weights(model: nn.Module, path: str | os.PathLike) -> dict:
    """``--weights``: a run folder, a maikit checkpoint, or any state dict the zoo's loader takes
    (whole model or encoder only, see :func:`maikit.models.weights.load_weights`)."""
    from maikit.models.weights import load_weights

    path = Path(path)
    if path.is_dir():
        ckpt = load_checkpoint(path)
        load_state_into(model, ckpt["model"], ckpt["path"])
        return {"part": "full", "source": ckpt["path"]}
    return load_weights(model, path, "auto")


def load_trained(path: str | os.PathLike, device: str | torch.device = "cpu", prefer: str = BEST
                 ) -> tuple[nn.Module, dict[str, Any]]:
    """Build the checkpoint's model from the registry, load its weights, eval mode."""
    from maikit.models import create_model

    ckpt = load_checkpoint(path, prefer)
    model = create_model(ckpt["model_name"])
    load_state_into(model, ckpt["model"], ckpt["path"])
    return model.to(device).eval(), ckpt
