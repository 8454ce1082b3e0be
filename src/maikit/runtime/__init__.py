"""Runtime measurement: the one measuring loop (LiteRT benchmark_model's rules) and what it
measures — .tflite files in LiteRT (whole, or op by op), PyTorch eager, ONNX Runtime, SGEMM.
Nothing else in maikit times anything."""

from maikit.runtime.backends import backend_class, backend_names, create_backend, register_backend
from maikit.runtime.bench import benchmark_compare, benchmark_tflite, measure_sgemm_flops
from maikit.runtime.loop import DEFAULTS, PROFILES, LoopSettings, Measurement, measure, settings_for
from maikit.runtime.opprofile import profile_ops

__all__ = [
    "DEFAULTS", "PROFILES", "LoopSettings", "Measurement", "backend_class", "backend_names", "benchmark_compare",
    "benchmark_tflite", "create_backend", "measure", "measure_sgemm_flops", "profile_ops", "register_backend",
    "settings_for",
]
