"""Nearest-neighbour resizing: the same pixels in eager PyTorch, TFLite (gathers, or one resize op
for GPU delegates) and ONNX."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn as nn

from maikit.models.blocks import gpu_friendly_lowering, resize_nearest


class Resize(nn.Module):
    def __init__(self, size, gpu=False):
        super().__init__()
        self.size, self.gpu = size, gpu

    def forward(self, x):
        if self.gpu:
            with gpu_friendly_lowering():
                return resize_nearest(x, self.size)
        return resize_nearest(x, self.size)


def _reference(x: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Half-pixel-centre nearest sampling written out: source index floor((i + 0.5) · in / out)."""
    h, w = x.shape[-2:]
    rows = np.minimum(np.floor((np.arange(size[0]) + 0.5) * h / size[0]).astype(int), h - 1)
    cols = np.minimum(np.floor((np.arange(size[1]) + 0.5) * w / size[1]).astype(int), w - 1)
    return x[..., rows[:, None], cols[None, :]]


# the factors the depth zoo uses: ×7.5/×8 (aiia_hit), ×5 (tencent, miaigo), ×4, and 1×1 broadcast (ASPP)
CASES = [((64, 80), (480, 640)), ((96, 128), (480, 640)), ((120, 160), (480, 640)), ((1, 1), (6, 8)), ((7, 5), (16, 9))]


@pytest.mark.parametrize("hw,size", CASES)
def test_eager_matches_half_pixel_reference(hw, size):
    x = torch.rand(1, 2, *hw)
    np.testing.assert_array_equal(resize_nearest(x, size).numpy(), _reference(x.numpy(), size))


def test_scale_factor_is_the_integer_size():
    x = torch.rand(1, 4, 6, 10)
    np.testing.assert_array_equal(resize_nearest(x, scale_factor=4).numpy(), _reference(x.numpy(), (24, 40)))
    with pytest.raises(ValueError):
        resize_nearest(x, (24, 40), scale_factor=4)


def _tflite_pixels(model, x, path):
    from maikit.export import inspect_tflite
    from maikit.export.tflite import TfliteRunner, convert_to_tflite

    convert_to_tflite(model, x, path)
    return inspect_tflite(path, targets=())["ops"], TfliteRunner(path).run(x.permute(0, 2, 3, 1).numpy())


@pytest.mark.slow
@pytest.mark.parametrize("hw,size", CASES[:2] + CASES[3:])
def test_tflite_gathers_the_same_pixels(hw, size, tmp_path):
    x = torch.rand(1, 2, *hw)
    ops, got = _tflite_pixels(Resize(size), x, tmp_path / "r.tflite")
    assert "GATHER_ND" in ops and "RESIZE_NEAREST_NEIGHBOR" not in ops and "BROADCAST_TO" not in ops
    assert set(ops) <= {"GATHER_ND", "RESHAPE", "TRANSPOSE"}
    np.testing.assert_array_equal(got, _reference(x.numpy(), size).transpose(0, 2, 3, 1))


@pytest.mark.slow
@pytest.mark.parametrize("hw,size", CASES[:2] + CASES[3:])
def test_gpu_friendly_tflite_is_one_resize_op_with_the_same_pixels(hw, size, tmp_path):
    x = torch.rand(1, 2, *hw)
    ops, got = _tflite_pixels(Resize(size, gpu=True), x, tmp_path / "r.tflite")
    assert ops == {"RESIZE_NEAREST_NEIGHBOR": 1}
    np.testing.assert_array_equal(got, _reference(x.numpy(), size).transpose(0, 2, 3, 1))


@pytest.mark.slow
def test_onnx_export_keeps_half_pixel_sampling(tmp_path):
    import onnxruntime as ort

    from maikit.export.onnx import export_onnx

    x = torch.rand(1, 2, 64, 80)
    path = export_onnx(Resize((480, 640)), x, tmp_path / "r.onnx", layout="nchw")
    got = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"input": x.numpy()})[0]
    np.testing.assert_array_equal(got, _reference(x.numpy(), (480, 640)))
