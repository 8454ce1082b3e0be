"""The drift-control reference model shipped with maikit (``scripts/build-reference-model.py``):
isp/smallnet at the ISP latency shape 1x544x960x4, a .tflite so that workers need no PyTorch."""

from __future__ import annotations

from pathlib import Path

REFERENCE_MODELS = {"isp/smallnet": "ref_isp_smallnet.tflite"}
DEFAULT_REFERENCE = "isp/smallnet"


def reference_model(name: str | None = None) -> Path:
    """Path of a shipped reference model, or of a .tflite file an organiser chose."""
    from maikit.errors import MaikitError

    name = name or DEFAULT_REFERENCE
    if name in REFERENCE_MODELS:
        return Path(__file__).parent / "data" / REFERENCE_MODELS[name]
    p = Path(name)
    if p.suffix == ".tflite" and p.is_file():
        return p
    raise MaikitError(f"unknown reference model `{name}`: give {', '.join(REFERENCE_MODELS)} or a .tflite file")
