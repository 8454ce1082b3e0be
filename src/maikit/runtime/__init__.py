"""Runtime measurement: the one measuring loop (LiteRT benchmark_model's rules) and what it
measures — .tflite files in LiteRT (whole, or op by op), PyTorch eager, ONNX Runtime, SGEMM.
Nothing else in maikit times anything."""

from maikit.runtime.bench import benchmark_compare, benchmark_tflite, measure_sgemm_flops
from maikit.runtime.loop import PROFILES, LoopSettings, measure, settings_for
from maikit.runtime.opprofile import profile_ops

__all__ = ["PROFILES", "LoopSettings", "benchmark_compare", "benchmark_tflite", "measure", "measure_sgemm_flops", "profile_ops", "settings_for"]
