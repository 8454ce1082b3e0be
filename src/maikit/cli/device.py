"""``mai device``: the device backends (the commands live in ``maikit.runtime.devices.cli`` so
that a board without PyTorch runs them as ``python -m maikit.runtime.devices``)."""

from maikit.runtime.devices.cli import register

__all__ = ["register"]
