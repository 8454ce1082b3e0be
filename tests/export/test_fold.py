"""Weight transforms of large transposed convolutions are folded into constants at conversion."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn as nn

from maikit.export import inspect_tflite
from maikit.export.fold import fold_constant_ops, shuffles_to_depth_to_space
from maikit.export.inspect import read_tflite
from maikit.export.tflite import TfliteRunner, convert_to_tflite
from maikit.models.blocks import up_conv


class BigUp(nn.Module):
    """PUNET's 256 → 128 up-convolution: 0.3 M weights, above the converter's folding limit."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(6)
        self.up = up_conv(256, 128, 3, stride=2)

    def forward(self, x):
        return self.up(x)


def test_large_transposed_conv_gets_constant_weights_and_the_same_outputs(tmp_path):
    x = torch.randn(1, 256, 4, 6)
    path = convert_to_tflite(BigUp().eval(), x, tmp_path / "up.tflite")
    ops = inspect_tflite(path, targets=())["ops"]
    assert ops.get("TRANSPOSE_CONV") == 1
    assert not {"REVERSE_V2", "TRANSPOSE", "PAD"} & set(ops), ops  # nothing runs on the weights
    sg = read_tflite(path)["subgraphs"][0]
    (tconv,) = [op for op in sg["ops"] if op["op"] == "TRANSPOSE_CONV"]
    assert sg["tensors"][tconv["inputs"][1]]["constant"]
    with torch.no_grad():
        ref = BigUp().eval()(x).permute(0, 2, 3, 1).numpy()
    got = TfliteRunner(path).run(x.permute(0, 2, 3, 1).numpy())
    np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-4)
    # a second pass finds nothing left to fold and returns the bytes unchanged
    data = path.read_bytes()
    assert fold_constant_ops(data) == (data, 0)


class ConvShuffle(nn.Module):
    """conv → sigmoid → PixelShuffle(2), the output end of most ISP models; ``tap`` also returns the conv map."""

    def __init__(self, tap: bool = False):
        super().__init__()
        torch.manual_seed(7)
        self.conv, self.tap = nn.Conv2d(4, 12, 3, padding=1), tap
        self.shuffle = nn.PixelShuffle(2)

    def forward(self, x):
        y = self.conv(x)
        out = self.shuffle(torch.sigmoid(y))
        return out + y.mean() if self.tap else out


def _convert_and_compare(model, x, path):
    path = convert_to_tflite(model.eval(), x, path)
    with torch.no_grad():
        ref = model(x).permute(0, 2, 3, 1).numpy()
    np.testing.assert_allclose(TfliteRunner(path).run(x.permute(0, 2, 3, 1).numpy()), ref, rtol=1e-5, atol=1e-6)
    return inspect_tflite(path, targets=())["ops"]


def test_pixel_shuffle_becomes_one_depth_to_space_with_the_same_outputs(tmp_path):
    ops = _convert_and_compare(ConvShuffle(), torch.rand(1, 4, 6, 10), tmp_path / "s.tflite")
    assert ops.get("DEPTH_TO_SPACE") == 1 and not {"RESHAPE", "TRANSPOSE"} & set(ops), ops
    # DEPTH_TO_SPACE reads channel (i·2 + j)·3 + c where PixelShuffle reads c·4 + i·2 + j: the
    # conv's filters are stored in that order
    order = [c * 4 + i * 2 + j for i in range(2) for j in range(2) for c in range(3)]
    sg = read_tflite(tmp_path / "s.tflite")["subgraphs"][0]
    (conv,) = [op for op in sg["ops"] if op["op"] == "CONV_2D"]
    from ai_edge_litert.interpreter import Interpreter

    it = Interpreter(model_path=str(tmp_path / "s.tflite"))
    stored = it.get_tensor(conv["inputs"][1])
    np.testing.assert_array_equal(stored, ConvShuffle().conv.weight.detach().permute(0, 2, 3, 1).numpy()[order])
    data = (tmp_path / "s.tflite").read_bytes()
    assert shuffles_to_depth_to_space(data) == (data, 0)


def test_shuffle_without_a_private_producer_conv_keeps_its_chain(tmp_path):
    # the conv map also feeds the mean: reordering its channels would change that branch
    ops = _convert_and_compare(ConvShuffle(tap=True), torch.rand(1, 4, 6, 10), tmp_path / "t.tflite")
    assert "DEPTH_TO_SPACE" not in ops and {"RESHAPE", "TRANSPOSE"} <= set(ops), ops
    # a shuffle of the model input itself: no conv to absorb the channel order
    ops = _convert_and_compare(nn.PixelShuffle(2), torch.rand(1, 8, 4, 6), tmp_path / "u.tflite")
    assert "DEPTH_TO_SPACE" not in ops, ops


def test_int8_quantisation_keeps_depth_to_space_in_int8(tmp_path):
    from ai_edge_litert.interpreter import Interpreter

    from maikit.export.quantize import quantize_int8

    x = torch.rand(1, 4, 6, 10)
    path = convert_to_tflite(ConvShuffle().eval(), x, tmp_path / "s.tflite")
    rng = np.random.default_rng(0)
    q = quantize_int8(path.read_bytes(), [rng.random((1, 6, 10, 4), dtype=np.float32) for _ in range(4)])
    (tmp_path / "q.tflite").write_bytes(q)
    it = Interpreter(model_path=str(tmp_path / "q.tflite"))
    dtypes = {t["index"]: t["dtype"] for t in it.get_tensor_details()}
    (d2s,) = [op for op in it._get_ops_details() if op["op_name"] == "DEPTH_TO_SPACE"]
    assert dtypes[d2s["inputs"][0]] == np.int8 and dtypes[d2s["outputs"][0]] == np.int8
    assert not {"RESHAPE", "TRANSPOSE"} & set(inspect_tflite(tmp_path / "q.tflite", targets=())["ops"])
    with torch.no_grad():
        ref = ConvShuffle().eval()(x).permute(0, 2, 3, 1).numpy()
    np.testing.assert_allclose(TfliteRunner(tmp_path / "q.tflite").run(x.permute(0, 2, 3, 1).numpy()), ref, atol=0.02)
