"""Build the drift-control reference model shipped with maikit (needs PyTorch; run once).

isp/smallnet (seeded initial weights: only its runtime matters) exported at the ISP task's
latency shape 1x544x960x4 to src/maikit/runtime/devices/data/ref_isp_smallnet.tflite, so a
worker measures it without PyTorch.

    python scripts/build-reference-model.py
"""

from pathlib import Path

import torch

from maikit.export.tflite import convert_to_tflite
from maikit.models import create_model
from maikit.tasks import get_task

OUT = Path(__file__).resolve().parents[1] / "src/maikit/runtime/devices/data/ref_isp_smallnet.tflite"

if __name__ == "__main__":
    torch.manual_seed(0)
    model = create_model("isp/smallnet").eval()
    n, h, w, c = get_task("isp").latency_input_shape
    convert_to_tflite(model, torch.rand(n, c, h, w), OUT)
    OUT.chmod(0o644)
    print(OUT, OUT.stat().st_size, "bytes")
