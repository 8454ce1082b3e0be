"""Export to TensorFlow Lite (and ONNX for comparison runs), and inspection of .tflite files.

* ``export_model``: model / run / checkpoint / zoo name -> ``model.tflite`` (latency shape)
  + ``model_none.tflite`` (any size) + ``export.json``, verified against PyTorch;
* ``inspect_tflite``: ops, shapes, params, MACs and per-target compatibility findings;
* ``convert_to_tflite``: the conversion; running a file is :mod:`maikit.tflite`.

Names load on first use, so that ``maikit.export.inspect`` and the other torch-free modules
can be imported without PyTorch.
"""

import importlib

_NAMES = {
    "export_model": "maikit.export.exporter",
    "verify_psnr": "maikit.export.exporter",
    "read_export_json": "maikit.tflite.files",
    "inspect_tflite": "maikit.export.inspect",
    "load_checkpoint_model": "maikit.export.source",
    "convert_to_tflite": "maikit.export.tflite",
    "TfliteRunner": "maikit.tflite.runner",
    "run_tflite": "maikit.tflite.runner",
}

__all__ = sorted(_NAMES)


def __getattr__(name: str):
    if name not in _NAMES:
        raise AttributeError(f"module 'maikit.export' has no attribute {name!r}")
    return getattr(importlib.import_module(_NAMES[name]), name)
