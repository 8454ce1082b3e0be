"""Device backends: where a challenge worker measures a .tflite (one module per backend).

=============  ====================================================================
``litert-cpu`` the LiteRT interpreter on this machine's CPU (XNNPACK on/off, threads)
``litert-gpu`` LiteRT's GPU accelerator (software Vulkan here: a mobile-GPU op check)
``adb``        an Android phone over adb, with the organiser's ``benchmark_model``
``ssh``        a Linux board over SSH, running ``python -m maikit.runtime.devices measure``
=============  ====================================================================

Every backend has ``measure(path, protocol) -> result``, ``fingerprint()`` and
``health()``; results and failures share one shape and one vocabulary (``base``). All of
it is torch-free.
"""

from __future__ import annotations

from importlib import import_module

from maikit.errors import MaikitError
from maikit.runtime.devices.base import (
    FAULT_KINDS, ChildLimits, DeviceUnavailable, MeasureProtocol, ModelFault, coefficient_of_variation,
)

BACKENDS = {
    "litert-cpu": ("maikit.runtime.devices.litert_cpu", "LitertCpuDevice"),
    "litert-gpu": ("maikit.runtime.devices.litert_gpu", "LitertGpuDevice"),
    "adb": ("maikit.runtime.devices.adb", "AdbDevice"),
    "ssh": ("maikit.runtime.devices.ssh", "SshDevice"),
}


def get_backend(name: str, **config):
    """A device backend by name, configured with its keyword options."""
    if name not in BACKENDS:
        raise MaikitError(f"unknown device backend `{name}`; choose one of {', '.join(BACKENDS)}")
    module, cls = BACKENDS[name]
    return getattr(import_module(module), cls)(**config)


__all__ = [
    "BACKENDS", "FAULT_KINDS", "ChildLimits", "DeviceUnavailable", "MeasureProtocol", "ModelFault",
    "coefficient_of_variation", "get_backend",
]
