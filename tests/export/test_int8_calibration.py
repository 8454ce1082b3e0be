"""INT8 export calibrated on data: activation ranges cover every sample, verification on images."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from _fixtures import TinyDepth

from maikit.data.depth import write_depth_mm
from maikit.export import TfliteRunner, export_model
from maikit.io import write_png
from maikit.tasks import DEPTH

HW = (24, 32)
N_IMAGES, N_CALIB = 6, 4


def _psnr_peak_max(ref: np.ndarray, test: np.ndarray) -> float:
    mse = float(np.mean((ref.astype(np.float64) - test.astype(np.float64)) ** 2))
    return 10.0 * math.log10(float(ref.max()) ** 2 / mse)


@pytest.fixture(scope="module")
def depth_data(tmp_path_factory):
    """Six smooth RGB images; the first (the first calibration sample) is very dark."""
    root = tmp_path_factory.mktemp("depth_data")
    rng = np.random.default_rng(7)
    yy, xx = np.mgrid[0 : HW[0], 0 : HW[1]] / np.array(HW, float)[:, None, None]
    images = []
    for i in range(N_IMAGES):
        phase = rng.uniform(0, 2 * np.pi, 3)
        rgb = np.stack([0.5 + 0.5 * np.sin(2 * np.pi * (xx + yy) * (1 + c) + phase[c]) for c in range(3)], -1)
        hi = 30.0 if i == 0 else 255.0
        img = np.clip(rgb * hi, 0, 255).round().astype(np.uint8)
        name = f"{i:05d}.png"
        write_png(root / "train" / "rgb" / name, img)
        write_depth_mm(root / "train" / "depth" / name, 1000.0 + 4000.0 * yy)
        images.append((name, img.astype(np.float32)[None]))
    return root, images


def test_int8_ranges_cover_all_calibration_images_and_verification_uses_held_out_images(depth_data, tmp_path):
    root, images = depth_data
    model = TinyDepth().eval()
    record = export_model(model, tmp_path, task=DEPTH, precision="int8", calib=root, input_hw=HW, calib_samples=N_CALIB)
    assert record["calibration"]["source"] == "data" and record["calibration"]["samples"] == N_CALIB
    assert record["verify_inputs"] == "calibration data"
    # four evenly spaced calibration images of six are 0, 2, 3 and 5: 1 and 4 are held out
    assert set(record["verify_input_files"]) == {"00001.png", "00004.png"}
    assert record["verify_psnr_db"] >= 30.0

    # independent check on every bright image: a range learned (mostly) from the dark first
    # sample would clip them already at the int8 input
    runner = TfliteRunner(tmp_path / "model.tflite")
    for name, x in images[1:]:
        with torch.no_grad():
            ref = model(torch.from_numpy(x).permute(0, 3, 1, 2)).permute(0, 2, 3, 1).numpy()
        assert _psnr_peak_max(ref, runner.run(x)) >= 30.0, name


def test_int8_without_data_verifies_on_random_inputs(depth_int8):
    _, _, record = depth_int8
    assert record["verify_inputs"] == "random" and record["verify_input_files"] is None


def test_fp32_export_verifies_on_random_inputs(depth_data, tmp_path):
    root, _ = depth_data
    record = export_model(TinyDepth().eval(), tmp_path, task=DEPTH, calib=root, input_hw=HW)
    assert record["verify_inputs"] == "random" and record["verify_psnr_db"] >= 60.0


class SlowInt8Ops(torch.nn.Module):
    """conv → hardswish → conv → PReLU → avg-pool: ops whose int8 kernels are slower than float."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(5)
        self.a, self.b = torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.Conv2d(8, 8, 1)
        self.act = torch.nn.PReLU(8)

    def forward(self, x):
        return torch.nn.functional.avg_pool2d(self.act(self.b(torch.nn.functional.hardswish(self.a(x)))), 2)


def test_int8_keeps_the_slow_int8_ops_in_float(tmp_path):
    from maikit.export import inspect_tflite
    from maikit.export.inspect import read_tflite
    from maikit.export.quantize import quantize_int8
    from maikit.export.tflite import convert_to_tflite

    x = torch.rand(1, 3, 16, 16) * 4 - 2
    fp32 = convert_to_tflite(SlowInt8Ops().eval(), x, tmp_path / "m.tflite")
    rng = np.random.default_rng(0)
    calib = [rng.uniform(-2, 2, (1, 16, 16, 3)).astype(np.float32) for _ in range(4)]
    path = tmp_path / "q.tflite"
    path.write_bytes(quantize_int8(fp32.read_bytes(), calib))
    info = inspect_tflite(path, targets=())
    assert info["ops"]["CONV_2D"] == 2 and info["inputs"][0]["dtype"] == "int8"
    # every float-kept op sits between a DEQUANTIZE and a QUANTIZE: three islands
    sg = read_tflite(path)["subgraphs"][0]
    out_dtype = {op["op"]: sg["tensors"][op["outputs"][0]]["dtype"] for op in sg["ops"]}
    assert out_dtype["CONV_2D"] == "int8"
    for op in ("HARD_SWISH", "AVERAGE_POOL_2D", "RELU", "SUB"):  # RELU/SUB: PReLU's lowering
        assert out_dtype[op] == "float32", op
    with torch.no_grad():
        ref = SlowInt8Ops().eval()(torch.from_numpy(calib[0]).permute(0, 3, 1, 2)).permute(0, 2, 3, 1).numpy()
    got = TfliteRunner(path).run(calib[0])
    assert np.abs(got - ref).mean() < 0.05 * np.abs(ref).mean() + 1e-3
