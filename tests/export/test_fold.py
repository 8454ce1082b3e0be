"""Weight transforms of large transposed convolutions are folded into constants at conversion."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn as nn

from maikit.export import inspect_tflite
from maikit.export.fold import fold_constant_ops
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
