"""The torch-free TFLite core: read and edit the flatbuffer, run it, measure it.

Everything a device worker needs to take a .tflite apart, run it and time it, with numpy and
ai-edge-litert only (``pip install 'maikit[core]'``); ``export``, ``runtime``, ``eval`` and
``inspect`` build on it.

* :mod:`maikit.tflite.model` — :func:`read_tflite` (plain structures) and :class:`Graph`
  (editable object tree);
* :mod:`maikit.tflite.runner` — :class:`TfliteRunner`, the interpreter for one input and one
  output;
* :mod:`maikit.tflite.backend` — :class:`TfliteBackend`, the measuring loop's LiteRT backend.
"""

from maikit.tflite.backend import TfliteBackend, random_input
from maikit.tflite.model import Graph, enum_names, ints, read_tflite, schema
from maikit.tflite.runner import TfliteRunner, quiet_tf_logs, run_tflite

__all__ = [
    "Graph", "TfliteBackend", "TfliteRunner", "enum_names", "ints", "quiet_tf_logs", "random_input",
    "read_tflite", "run_tflite", "schema",
]
