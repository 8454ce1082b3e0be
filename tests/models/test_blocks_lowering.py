"""Nearest-neighbour resizing: the same pixels in eager PyTorch, TFLite (gathers, or one resize op
for GPU delegates) and ONNX. Bilinear resizing: one axis at a time in TFLite for one-channel maps,
the same values as half-pixel bilinear interpolation written out."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn as nn

from maikit.models.blocks import resize_bilinear, resize_nearest
from maikit.models.lowering import gpu_friendly_lowering


class Resize(nn.Module):
    def __init__(self, size, gpu=False, fn=resize_nearest):
        super().__init__()
        self.size, self.gpu, self.fn = size, gpu, fn

    def forward(self, x):
        if self.gpu:
            with gpu_friendly_lowering():
                return self.fn(x, self.size)
        return self.fn(x, self.size)


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


def Bilinear(size, gpu=False):  # noqa: N802 - reads like the module it builds
    return Resize(size, gpu, fn=resize_bilinear)


def _bilinear_reference(x: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Half-pixel-centre bilinear interpolation written out (float64): source coordinate
    (i + 0.5) · in / out − 0.5, clamped at 0, between floor and floor + 1 (clamped at the edge)."""
    def taps(n_in, n_out):
        src = np.maximum((np.arange(n_out) + 0.5) * n_in / n_out - 0.5, 0.0)
        i0 = np.minimum(np.floor(src).astype(int), n_in - 1)
        return i0, np.minimum(i0 + 1, n_in - 1), src - i0

    (r0, r1, fr), (c0, c1, fc) = taps(x.shape[-2], size[0]), taps(x.shape[-1], size[1])
    x = x.astype(np.float64)
    rows = x[..., r0, :] * (1 - fr)[:, None] + x[..., r1, :] * fr[:, None]
    return rows[..., c0] * (1 - fc) + rows[..., c1] * fc


# depth outputs (×3.75, ×2, ×10), a downscale (the input resize) and odd sizes
BILINEAR_CASES = [((128, 160), (480, 640)), ((240, 320), (480, 640)), ((48, 64), (480, 640)),
                  ((480, 640), (128, 160)), ((7, 5), (16, 9))]


@pytest.mark.parametrize("hw,size", BILINEAR_CASES)
def test_bilinear_eager_matches_the_written_out_interpolation(hw, size):
    x = torch.rand(1, 1, *hw)
    np.testing.assert_allclose(resize_bilinear(x, size).numpy(), _bilinear_reference(x.numpy(), size), atol=1e-5)


@pytest.mark.slow
@pytest.mark.parametrize("hw,size", BILINEAR_CASES)
def test_one_channel_bilinear_lowers_axis_by_axis_with_the_same_values(hw, size, tmp_path):
    x = torch.rand(1, 1, *hw)
    ops, got = _tflite_pixels(Bilinear(size), x, tmp_path / "b.tflite")
    assert ops.get("RESIZE_BILINEAR") == 2 and set(ops) <= {"RESIZE_BILINEAR", "RESHAPE", "TRANSPOSE"}, ops
    np.testing.assert_allclose(got, _bilinear_reference(x.numpy(), size).transpose(0, 2, 3, 1), atol=1e-5)


@pytest.mark.slow
def test_bilinear_stays_one_op_for_several_channels_and_for_gpu_delegates(tmp_path):
    x = torch.rand(1, 3, 48, 64)
    ops, got = _tflite_pixels(Bilinear((480, 640)), x, tmp_path / "c.tflite")
    assert ops == {"RESIZE_BILINEAR": 1}
    np.testing.assert_allclose(got, _bilinear_reference(x.numpy(), (480, 640)).transpose(0, 2, 3, 1), atol=1e-5)
    ops, _ = _tflite_pixels(Bilinear((480, 640), gpu=True), x[:, :1], tmp_path / "g.tflite")
    assert ops == {"RESIZE_BILINEAR": 1}


@pytest.mark.parametrize("k,s,p", [(4, 2, 1), (2, 2, 0), (3, 3, 0), (5, 3, 1), (6, 2, 2)])
def test_subpixel_form_equals_the_transposed_convolution(k, s, p):
    from maikit.models.blocks import subpixel_conv_transpose

    torch.manual_seed(k * 10 + s)
    x, w, b = torch.randn(2, 3, 5, 7), torch.randn(3, 4, k, k), torch.randn(4)
    ref = torch.nn.functional.conv_transpose2d(x, w, b, stride=s, padding=p)
    torch.testing.assert_close(subpixel_conv_transpose(x, w, b, s, p), ref, rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError):
        subpixel_conv_transpose(x, w, b, s, p + 1)


@pytest.mark.slow
def test_up_conv_with_few_output_channels_lowers_to_conv_and_depth_to_space(tmp_path):
    from maikit.models.blocks import UpConv

    torch.manual_seed(3)
    x = torch.randn(1, 8, 6, 10)
    for cout, expected in ((4, {"CONV_2D", "DEPTH_TO_SPACE"}), (16, {"TRANSPOSE_CONV"})):
        up = UpConv(8, cout, 3, 2).eval()
        ops, got = _tflite_pixels(up, x, tmp_path / f"u{cout}.tflite")
        assert set(ops) == expected, ops
        with torch.no_grad():
            np.testing.assert_allclose(got, up(x).permute(0, 2, 3, 1).numpy(), rtol=1e-4, atol=1e-5)

    class Gpu(nn.Module):
        def __init__(self):
            super().__init__()
            self.up = UpConv(8, 4, 3, 2)

        def forward(self, x):
            with gpu_friendly_lowering():
                return self.up(x)

    ops, _ = _tflite_pixels(Gpu().eval(), x, tmp_path / "g.tflite")
    assert set(ops) == {"TRANSPOSE_CONV"}, ops


def _written_out_prelu(x: np.ndarray, a: np.ndarray) -> np.ndarray:
    """PReLU by its definition: x where x ≥ 0, a·x elsewhere (NHWC, per-channel slopes)."""
    return np.where(x >= 0, x, a * x)


@pytest.mark.slow
@pytest.mark.parametrize("slopes,n_ops", [
    ((0.25, -0.5, 1.0, 0.0), 2),  # all ≤ 1, a negative slope included: MUL + MAXIMUM only
    ((1.5, 3.0, 1.0, 2.0), 6),  # all ≥ 1 (the converter may drop the multiplication by 1)
    ((0.25, 2.0, -1.0, 1.5), 6),  # both sides of 1
])
def test_prelu_exports_as_maximum_with_the_definitions_values(slopes, n_ops, tmp_path):
    from maikit.export.quantize import quantize_int8
    from maikit.export.tflite import TfliteRunner
    from maikit.models.blocks import PReLU

    prelu = PReLU(4).eval()
    prelu.weight.data = torch.tensor(slopes)
    assert set(prelu.state_dict()) == set(nn.PReLU(4).state_dict())  # checkpoints stay interchangeable
    x = torch.randn(1, 4, 6, 10)
    ops, got = _tflite_pixels(prelu, x, tmp_path / "p.tflite")
    body = {op: n for op, n in ops.items() if op != "TRANSPOSE"}  # NCHW model: layout transposes
    assert "MAXIMUM" in body and sum(body.values()) <= n_ops and not {"RELU", "MINIMUM"} & set(body), ops
    want = _written_out_prelu(x.permute(0, 2, 3, 1).numpy(), np.array(slopes, np.float32))
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)
    with torch.no_grad():
        np.testing.assert_allclose(prelu(x).permute(0, 2, 3, 1).numpy(), want, rtol=1e-6, atol=1e-6)
    # int8: the max/min form is quantised end to end, no float island between DEQUANTIZE/QUANTIZE
    calib = [np.random.default_rng(i).standard_normal((1, 6, 10, 4)).astype(np.float32) for i in range(3)]
    q = tmp_path / "q.tflite"
    q.write_bytes(quantize_int8((tmp_path / "p.tflite").read_bytes(), calib))
    from maikit.export import inspect_tflite

    assert "DEQUANTIZE" not in inspect_tflite(q, targets=())["ops"]
    got8 = TfliteRunner(q).run(x.permute(0, 2, 3, 1).numpy())
    assert np.abs(got8 - want).max() < 0.05 * np.abs(want).max()


@pytest.mark.slow
def test_torch_prelu_keeps_its_element_wise_ops_in_float_in_int8(tmp_path):
    from maikit.export import inspect_tflite
    from maikit.export.quantize import quantize_int8

    model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.PReLU(4), nn.Conv2d(4, 4, 3, padding=1)).eval()
    x = torch.randn(1, 3, 6, 10)
    ops, _ = _tflite_pixels(model, x, tmp_path / "p.tflite")
    assert "RELU" in ops and "MAXIMUM" not in ops
    calib = [np.random.default_rng(i).standard_normal((1, 6, 10, 3)).astype(np.float32) for i in range(2)]
    q = tmp_path / "q.tflite"
    q.write_bytes(quantize_int8((tmp_path / "p.tflite").read_bytes(), calib))
    assert "DEQUANTIZE" in inspect_tflite(q, targets=())["ops"]
