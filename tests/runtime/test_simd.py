"""The CPU's SIMD level next to its name, in `mai bench` and the deployment benchmark."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from maikit.runtime.system import simd_from_flags, simd_level

# /proc/cpuinfo flag lines, abridged, of three kinds of machine
EPYC_AVX2 = "fpu sse sse2 ssse3 fma sse4_1 sse4_2 avx f16c avx2 sha_ni"
XEON_AMX = "sse4_2 avx avx2 avx512f avx512dq avx512_vnni avx_vnni avx512_bf16 avx512_fp16 amx_bf16 amx_tile amx_int8"
ARM_V82 = "fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm lrcpc dcpop asimddp"


def test_simd_level_from_flags():
    assert simd_from_flags(set(EPYC_AVX2.split())) == "AVX2"
    assert simd_from_flags(set(XEON_AMX.split())) == "AVX2 AVX-512 AVX512-VNNI AVX-VNNI AVX512-BF16 AVX512-FP16 AMX-INT8 AMX-BF16"
    assert simd_from_flags(set(ARM_V82.split())) == "NEON dotprod fp16"
    assert simd_from_flags({"fpu", "sse2"}) == ""


def test_this_machine_and_bench_report_it(tmp_path):
    flags = next((ln.split(":", 1)[1].split() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                  if ln.lower().startswith(("flags", "features"))), [])
    assert simd_level() == simd_from_flags(set(flags))
    import torch
    import torch.nn as nn

    from maikit.cli import app
    from maikit.export.tflite import convert_to_tflite

    path = convert_to_tflite(nn.Conv2d(3, 4, 3, padding=1).eval(), torch.rand(1, 3, 8, 8), tmp_path / "m.tflite")
    args = ["bench", str(path), "--runs", "2", "--min-seconds", "0", "--warmup-seconds", "0"]
    res = CliRunner().invoke(app, args + ["--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["simd"] == simd_level()
    res = CliRunner().invoke(app, args)
    if simd_level():
        assert f"({simd_level()})" in " ".join(res.output.split())
