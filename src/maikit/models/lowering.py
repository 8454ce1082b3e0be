"""Export lowering policy: how the zoo's blocks trace while a model is being exported.

The blocks in :mod:`maikit.models.blocks` compute the same function in every mode; only
the ops they trace to change. Two switches, held in context variables so that nested and
concurrent exports do not leak into training or evaluation:

* :func:`tflite_lowering` (every TFLite export): forms that lower to TFLite builtins that
  XNNPACK runs and int8 quantises (e.g. ``clamp01`` as ``relu6(6x) / 6``, nearest resizes
  as constant-index gathers, small transposed convolutions as sub-pixel convolutions);
* :func:`gpu_friendly_lowering` (the ``--gpu-friendly`` export rewrite): forms that older
  mobile GPU delegates accept, counting each substitution made.

:func:`frozen_for_export` lets blocks precompute export-only constants while tracing.
The blocks ask :func:`tflite_lowering_active` and :func:`gpu_lowering_counts`; nothing
else reads the context variables.
"""

from __future__ import annotations

import contextlib
import contextvars
from typing import Iterator

import torch.nn as nn

_TFLITE_LOWERING: contextvars.ContextVar[bool] = contextvars.ContextVar("maikit_tflite_lowering", default=False)
_GPU_LOWERING: contextvars.ContextVar[dict | None] = contextvars.ContextVar("maikit_gpu_lowering", default=None)


@contextlib.contextmanager
def tflite_lowering() -> Iterator[None]:
    """Trace the zoo's blocks the way they should lower to TFLite (see ``blocks.resize_nearest``)."""
    token = _TFLITE_LOWERING.set(True)
    try:
        yield
    finally:
        _TFLITE_LOWERING.reset(token)


def tflite_lowering_active() -> bool:
    """Whether a model is being traced for TFLite (inside :func:`tflite_lowering`)."""
    return _TFLITE_LOWERING.get()


@contextlib.contextmanager
def gpu_friendly_lowering(counts: dict | None = None) -> Iterator[dict]:
    """Trace the zoo's blocks in forms that older mobile GPU delegates accept (see ``blocks.clamp01``).

    Yields a dict that counts the substitutions made while the context is active.
    """
    counts = {} if counts is None else counts
    token = _GPU_LOWERING.set(counts)
    try:
        yield counts
    finally:
        _GPU_LOWERING.reset(token)


def gpu_lowering_counts() -> dict | None:
    """The substitution counts of the active :func:`gpu_friendly_lowering`, or ``None`` outside it."""
    return _GPU_LOWERING.get()


@contextlib.contextmanager
def frozen_for_export(model: nn.Module) -> Iterator[nn.Module]:
    """Let the model's blocks precompute export-only constants (``freeze_for_export``) while tracing.

    ``blocks.UpConv`` traces as a sub-pixel convolution inside :func:`tflite_lowering` only
    from such precomputed weights: computed from its parameters during tracing, the weight
    rearrangement would become dozens of ops in the graph.
    """
    blocks = [m for m in model.modules() if hasattr(m, "freeze_for_export")]
    for m in blocks:
        m.freeze_for_export()
    try:
        yield model
    finally:
        for m in blocks:
            m.thaw()
