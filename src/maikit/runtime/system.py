"""The machine a measurement ran on: CPU model, runtime versions, memory, SGEMM speed.

Peak RSS: Linux keeps a per-process high-water mark (``VmHWM``) that writing ``5`` to
``/proc/self/clear_refs`` resets, so the peak of one measurement can be read exactly;
where that is not allowed, the growth of ``ru_maxrss`` (resource.getrusage) is used, which
under-reports when the process peaked higher before.
"""

from __future__ import annotations

import platform
import resource
from functools import lru_cache
from importlib import metadata
from pathlib import Path

_STATUS = Path("/proc/self/status")
_CLEAR_REFS = Path("/proc/self/clear_refs")


def _status_kb(key: str) -> int | None:
    try:
        for line in _STATUS.read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def _maxrss_kb() -> int:
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)  # KiB on Linux


class PeakRss:
    """Context manager: peak resident memory growth (MB) while inside."""

    def __init__(self) -> None:
        self.method = "ru_maxrss"
        self.peak_delta_mb: float | None = None

    def __enter__(self) -> "PeakRss":
        self._rss0 = _status_kb("VmRSS")
        try:
            _CLEAR_REFS.write_text("5")
            self.method = "vmhwm"
        except OSError:
            self.method = "ru_maxrss"
        self._max0 = _maxrss_kb()
        return self

    def current_delta_mb(self) -> float | None:
        rss = _status_kb("VmRSS")
        if rss is None or self._rss0 is None:
            return None
        return (rss - self._rss0) / 1024.0

    def __exit__(self, *exc) -> None:
        if self.method == "vmhwm" and self._rss0 is not None:
            hwm = _status_kb("VmHWM")
            self.peak_delta_mb = None if hwm is None else max(hwm - self._rss0, 0) / 1024.0
        else:
            self.peak_delta_mb = max(_maxrss_kb() - self._max0, 0) / 1024.0


@lru_cache(maxsize=1)
def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith(("model name", "hardware", "processor\t: arm")):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


# /proc/cpuinfo flag -> the name reports use, in the order they are listed (x86, then ARM)
_SIMD_FLAGS = (
    ("sse4_2", "SSE4.2"), ("avx2", "AVX2"), ("avx512f", "AVX-512"), ("avx512_vnni", "AVX512-VNNI"),
    ("avx_vnni", "AVX-VNNI"), ("avx512_bf16", "AVX512-BF16"), ("avx512_fp16", "AVX512-FP16"),
    ("amx_int8", "AMX-INT8"), ("amx_bf16", "AMX-BF16"),
    ("asimd", "NEON"), ("asimddp", "dotprod"), ("asimdhp", "fp16"), ("i8mm", "i8mm"), ("sve", "SVE"),
    ("sve2", "SVE2"), ("sme", "SME"),
)


def simd_from_flags(flags: set[str] | frozenset[str]) -> str:
    """The SIMD extensions that matter for int8/fp32 kernels, from a CPU's /proc/cpuinfo flags.

    x86 lists the widest vector set plus the int8 dot-product (VNNI) and matrix (AMX) units;
    ARM lists NEON (``asimd``), dot product (``asimddp``), fp16 arithmetic, int8 matrix
    multiply (``i8mm``) and SVE/SME. Older SSE-only or unknown CPUs give "" (nothing listed).
    """
    names = [name for flag, name in _SIMD_FLAGS if flag in flags]
    if "AVX-512" in names or "AVX2" in names:
        names = [n for n in names if n != "SSE4.2"]
    return " ".join(names)


@lru_cache(maxsize=1)
def simd_level() -> str:
    """This machine's SIMD level (see :func:`simd_from_flags`), "" when /proc/cpuinfo is unreadable."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith(("flags", "features")):
                return simd_from_flags(frozenset(line.split(":", 1)[1].split()))
    except OSError:
        pass
    return ""


def cpu_description() -> str:
    """CPU name and SIMD level in one string, as reports print it."""
    simd = simd_level()
    return f"{cpu_model()} ({simd})" if simd else cpu_model()


def package_version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def runtime_versions() -> dict:
    return {name: package_version(name) for name in ("ai-edge-litert", "torch", "onnxruntime")}


def machine_info() -> dict:
    import os

    return {
        "cpu": cpu_model(),
        "simd": simd_level(),
        "cpu_count": os.cpu_count(),
        "machine": platform.machine(),
        "python": platform.python_version(),
        "runtime_version": package_version("ai-edge-litert"),
        "versions": runtime_versions(),
    }
