"""Value checks for command-line options: Typer's ``min=`` / ``max=`` cover integers; these
callbacks cover floats, which must also be finite (a range cannot catch NaN).

A module of its own, outside :mod:`maikit.cli`, so that a command set run on its own (the device
evaluator, ``python -m maikit.runtime.devices``) uses them without loading every ``mai`` command.
"""

from __future__ import annotations

import math

import typer


def _number_check(lower: float, strict: bool, upper: float | None = None):
    def check(value):
        if value is None:
            return value
        if not math.isfinite(value):
            raise typer.BadParameter(f"must be a finite number, got {value}")
        if (value <= lower) if strict else (value < lower):
            raise typer.BadParameter(f"must be {'greater than' if strict else 'at least'} {lower:g}, got {value:g}")
        if upper is not None and value > upper:
            raise typer.BadParameter(f"must be at most {upper:g}, got {value:g}")
        return value

    return check


positive = _number_check(0.0, strict=True)  # callback: > 0
non_negative = _number_check(0.0, strict=False)  # callback: >= 0


def in_range(lower: float, upper: float, strict: bool = False):
    """Callback: a finite value in [lower, upper] (``strict``: lower excluded)."""
    return _number_check(lower, strict, upper)
