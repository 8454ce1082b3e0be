"""Weight transforms of large transposed convolutions are folded into constants at conversion."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn as nn

from maikit.export import inspect_tflite
from maikit.export.fold import fold_constant_ops, shuffles_to_depth_to_space, transpose_conv_shapes_from_input
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


class Ups(nn.Module):
    """The zoo's upsampling in a dynamic-shape file: ``UpConv`` with an odd (3x3) and an even (4x4)
    k − stride, and a plain 2x2 stride-2 ``nn.ConvTranspose2d`` (isp_forever, tuned_unet, noahtcv)."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(8)
        self.a = up_conv(3, 16, 3, stride=2)
        self.b = up_conv(16, 4, 4, stride=2)
        self.c = nn.ConvTranspose2d(4, 3, 2, stride=2)

    def forward(self, x):
        return self.c(torch.relu(self.b(torch.relu(self.a(x)))))


@pytest.fixture(scope="module")
def ups_file(tmp_path_factory):
    return convert_to_tflite(Ups().eval(), torch.rand(1, 3, 4, 6), tmp_path_factory.mktemp("ups") / "ups.tflite", dynamic_hw=True)


@pytest.mark.parametrize("xnnpack", [True, False], ids=["xnnpack", "builtin-kernels"])
def test_dynamic_upsampling_runs_at_other_sizes_without_xnnpack(ups_file, xnnpack):
    """No TRANSPOSE_CONV with a traced output shape is left in a dynamic file: LiteRT's builtin
    kernels run sizes other than the traced one, like PyTorch. (An ``UpConv`` traces with
    symbolic sizes as its sub-pixel convolution and a one-hot shuffle — litert-torch lowers no
    transposed convolution but kernel = stride then — and each kernel = stride transposed
    convolution is a 1x1 convolution and DEPTH_TO_SPACE; a one-hot one only a reorder of the
    feeding convolution's channels.)"""
    ops = inspect_tflite(ups_file, targets=())["ops"]
    assert "TRANSPOSE_CONV" not in ops and ops["DEPTH_TO_SPACE"] == 3, ops
    assert ops["CONV_2D"] == 3, ops  # two sub-pixel convolutions, one 1x1 for the learned 2x2 one
    runner = TfliteRunner(ups_file, threads=1, xnnpack=xnnpack)
    model = Ups().eval()
    for h, w in ((6, 10), (11, 7)):  # neither is the traced 4x6
        x = torch.rand(1, 3, h, w)
        with torch.no_grad():
            ref = model(x).permute(0, 2, 3, 1).numpy()
        got = runner.run(x.permute(0, 2, 3, 1).numpy())
        assert got.shape == ref.shape == (1, 8 * h, 8 * w, 3)
        np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("xnnpack", [True, False], ids=["xnnpack", "builtin-kernels"])
def test_transpose_conv_output_shape_computed_from_the_input(tmp_path, xnnpack):
    """A TRANSPOSE_CONV that stays (kernel ≠ stride, a foreign file's) gets SHAPE → MUL → ADD for its
    output shape: the builtin kernel then takes the sizes it refused with the traced constant."""
    from maikit.tflite.model import Graph

    torch.manual_seed(3)
    up = up_conv(8, 16, 3, stride=2).eval()  # 16 outputs: a TRANSPOSE_CONV in a static file
    path = convert_to_tflite(up, torch.rand(1, 8, 4, 6), tmp_path / "static.tflite")
    g = Graph(path.read_bytes())
    sg = g.model.subgraphs[0]
    sg.tensors[sg.inputs[0]].shapeSignature = [1, -1, -1, 8]  # as a dynamic export stores it
    traced = tmp_path / "traced.tflite"
    traced.write_bytes(g.to_bytes())
    x = torch.rand(1, 8, 7, 5)
    with torch.no_grad():
        ref = up(x).permute(0, 2, 3, 1).numpy()
    if not xnnpack:  # the reproduction: the builtin kernel refuses the traced constant at 7x5
        with pytest.raises(Exception, match="TRANSPOSE_CONV"):
            TfliteRunner(traced, threads=1, xnnpack=False).run(x.permute(0, 2, 3, 1).numpy())
    data, n = transpose_conv_shapes_from_input(traced.read_bytes())
    assert n == 1 and transpose_conv_shapes_from_input(data) == (data, 0)
    (tmp_path / "computed.tflite").write_bytes(data)
    sg2 = read_tflite(tmp_path / "computed.tflite")["subgraphs"][0]
    (tconv,) = [op for op in sg2["ops"] if op["op"] == "TRANSPOSE_CONV"]
    assert not sg2["tensors"][tconv["inputs"][0]]["constant"]
    got = TfliteRunner(tmp_path / "computed.tflite", threads=1, xnnpack=xnnpack).run(x.permute(0, 2, 3, 1).numpy())
    assert got.shape == ref.shape == (1, 14, 10, 16)
    np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-4)
