"""Loading user-provided weights (``--weights PATH``) into zoo models.

No model hub is reachable (docs/references.md#lowering), so pretrained encoders or trained checkpoints come as
PyTorch files (``.pt`` / ``.pth``) the user gives. :func:`load_weights` reads a plain state
dict or a checkpoint wrapping one (``state_dict``/``model``/... keys, an optional
``module.`` prefix from DataParallel) and loads either the whole model or only
``model.encoder`` — matching the file's keys to the encoder's by the longest common key
suffix, so ``encoder.stages.0...`` (a maikit checkpoint of another depth model),
``backbone.stages.0...`` or bare ``stages.0...`` (a backbone file) all load. Every problem is
a :class:`~maikit.errors.MaikitError` naming the file.
"""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

import torch
import torch.nn as nn

from maikit.errors import MaikitError

PARTS = ("auto", "full", "encoder")
_WRAPPER_KEYS = ("state_dict", "model", "model_state_dict", "net", "params", "weights")


def read_state_dict(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """The tensors of a .pt/.pth file as a flat ``{name: tensor}`` dict (CPU)."""
    path = Path(path)
    if not path.is_file():
        raise MaikitError("weights file not found", path)
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # pickle, zip and torch errors all mean "not a weights file"
        first = (str(e).strip().splitlines() or [type(e).__name__])[0][:120]
        raise MaikitError(f"not a readable PyTorch weights file ({first})", path) from None
    if isinstance(obj, dict):
        for key in _WRAPPER_KEYS:
            if isinstance(obj.get(key), dict):
                obj = obj[key]
                break
    if not isinstance(obj, dict):
        raise MaikitError(f"expected a state dict (name -> tensor), found {type(obj).__name__}", path)
    state = {str(k): v for k, v in obj.items() if isinstance(v, torch.Tensor)}
    if not state:
        raise MaikitError("the file holds no tensors", path)
    if all(k.startswith("module.") for k in state):
        state = {k[len("module."):]: v for k, v in state.items()}
    return state


def _best_prefix(file_keys, target_keys) -> tuple[str, int]:
    """The prefix p with the most file keys of the form p + <target key>."""
    targets = set(target_keys)
    counts: Counter[str] = Counter()
    for key in file_keys:
        if key in targets:
            counts[""] += 1
        parts = key.split(".")
        for i in range(1, len(parts)):
            if ".".join(parts[i:]) in targets:
                counts[".".join(parts[:i]) + "."] += 1
    if not counts:
        return "", 0
    prefix, n = max(counts.items(), key=lambda kv: (kv[1], -len(kv[0])))
    return prefix, n


def load_weights(model: nn.Module, path: str | os.PathLike, part: str = "auto") -> dict:
    """Load ``path`` into ``model`` (in place) and return a report.

    ``part``: ``"full"`` — every tensor of the model must be in the file (keys as in
    ``model.state_dict()``, optionally under one common prefix); ``"encoder"`` — only
    ``model.encoder``, from whichever key prefix matches it best; missing encoder tensors keep
    their values and are listed; ``"auto"`` — full when the file covers the whole model,
    otherwise encoder. The report: ``file, part, prefix, loaded, total, missing, unexpected``.
    """
    if part not in PARTS:
        raise MaikitError(f"`part` must be one of {', '.join(PARTS)}, got {part!r}")
    path = Path(path)
    state = read_state_dict(path)
    encoder = getattr(model, "encoder", None)
    if part == "auto":
        prefix, n = _best_prefix(state, model.state_dict())
        part = "full" if n == len(model.state_dict()) or not isinstance(encoder, nn.Module) else "encoder"
    if part == "encoder" and not isinstance(encoder, nn.Module):
        raise MaikitError(f"cannot load encoder weights: `{type(model).__name__}` has no `encoder`", path)
    target = model if part == "full" else encoder
    target_state = target.state_dict()
    prefix, n = _best_prefix(state, target_state)
    if n == 0:
        example = next(iter(state))
        raise MaikitError(f"no tensor names match the model's {part} (file has e.g. `{example}`)", path)
    matched = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix) and k[len(prefix):] in target_state}
    for key, value in matched.items():
        if tuple(value.shape) != tuple(target_state[key].shape):
            raise MaikitError(f"shape mismatch for `{prefix}{key}`: file {tuple(value.shape)}, "
                              f"model {tuple(target_state[key].shape)}", path)
    missing = sorted(set(target_state) - set(matched))
    if part == "full" and missing:
        raise MaikitError(f"{len(missing)} of {len(target_state)} model tensors are missing from the file "
                          f"(first: `{missing[0]}`); use part=encoder to load an encoder only", path)
    target.load_state_dict(matched, strict=False)
    unexpected = sorted(k for k in state if not (k.startswith(prefix) and k[len(prefix):] in target_state))
    return {"file": str(path), "part": part, "prefix": prefix, "loaded": len(matched), "total": len(target_state),
            "missing": missing, "unexpected": unexpected}
