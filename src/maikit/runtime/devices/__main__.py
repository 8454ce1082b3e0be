"""``python -m maikit.runtime.devices``: the ``mai device`` commands without PyTorch."""

from maikit.runtime.devices.cli import device_app

device_app(prog_name="python -m maikit.runtime.devices")
