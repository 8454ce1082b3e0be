"""Models the project did not make, built here the way outside tools make them.

TensorFlow's own converter made the ``foreign/tf_*.tflite`` files (committed; the script that
made them and its versions are beside them: ``foreign/make_tf_fixtures.py``). litert-torch converts small PyTorch modules (several inputs and outputs, several signatures);
ai-edge-quantizer stores fp16 weights (DEQUANTIZE); the rest is edited into converted files
with the flatbuffer schema module of the ai-edge-litert wheel, as other converters write them:
a custom op no runtime has, MediaPipe's ``Convolution2DTransposeBias`` custom op (which
XNNPACK runs), and sparse weights behind a DENSIFY op.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

CUSTOM_OP = "MaiTestNoSuchOp"
TF_MADE = {p.stem: p for p in sorted((Path(__file__).parent / "foreign").glob("tf_*.tflite"))}


class MultiIO(nn.Module):
    """float image, int32 offset, bool mask -> masked feature map and its mean."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.c = nn.Conv2d(3, 4, 3, padding=1)

    def forward(self, img, offset, mask):
        y = self.c(img) + offset.float()
        return torch.where(mask, y, torch.zeros_like(y)), y.mean(dim=(1, 2, 3))


class Encode(nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(1)
        self.c = nn.Conv2d(3, 8, 3, padding=1)

    def forward(self, x):
        return torch.relu(self.c(x))


class Mix(nn.Module):
    def forward(self, x, y):
        return x * 2 + y


def convs() -> nn.Module:
    torch.manual_seed(2)
    return nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(), nn.Conv2d(16, 16, 3, padding=1), nn.ReLU(),
                         nn.Conv2d(16, 3, 1)).eval()


def _quiet_convert(fn):
    import contextlib
    import io

    with contextlib.redirect_stdout(io.StringIO()):
        return fn()


def build_all(root: Path) -> dict[str, Path]:
    import litert_torch

    from maikit.export.quantize import quantize_fp16
    from maikit.export.tflite import convert_to_tflite, quiet_conversion

    out = {}
    with quiet_conversion():
        args = (torch.rand(1, 3, 8, 8), torch.tensor([2], dtype=torch.int32), torch.rand(1, 4, 8, 8) > 0.5)
        litert_torch.convert(MultiIO().eval(), args).export(str(root / "multi.tflite"))
        out["multi"] = root / "multi.tflite"
        conv = litert_torch.signature("encode", Encode().eval(), (torch.rand(1, 3, 16, 16),))
        conv = conv.signature("mix", Mix().eval(), (torch.rand(1, 5), torch.rand(1, 5)))
        conv.convert().export(str(root / "sigs.tflite"))
        out["sigs"] = root / "sigs.tflite"
    out["f32"] = convert_to_tflite(convs(), torch.rand(1, 3, 32, 32), root / "f32.tflite")
    (root / "fp16.tflite").write_bytes(quantize_fp16(out["f32"].read_bytes()))
    out["fp16"] = root / "fp16.tflite"
    out["custom"] = root / "custom.tflite"
    out["custom"].write_bytes(with_custom_op(out["multi"].read_bytes(), CUSTOM_OP))
    torch.manual_seed(3)
    out["tconv"] = convert_to_tflite(nn.ConvTranspose2d(4, 3, 2, stride=2).eval(), torch.rand(1, 4, 8, 8), root / "tconv.tflite")
    out["tconvbias"] = root / "tconvbias.tflite"
    out["tconvbias"].write_bytes(as_transpose_conv_bias(out["tconv"].read_bytes()))
    out["densify"] = root / "densify.tflite"
    out["densify"].write_bytes(with_sparse_weights(out["f32"].read_bytes()))
    out["densify_computed"] = root / "densify_computed.tflite"
    out["densify_computed"].write_bytes(with_sparse_weights(out["f32"].read_bytes(), constant=False))
    return {**out, **TF_MADE}


def _custom_code(g, name: str) -> int:
    fb = g.fb
    c = fb.OperatorCodeT()
    c.builtinCode = c.deprecatedBuiltinCode = fb.BuiltinOperator.CUSTOM
    c.customCode, c.version = name, 1
    g.model.operatorCodes.append(c)
    return len(g.model.operatorCodes) - 1


def with_custom_op(data: bytes, name: str) -> bytes:
    """The first op of subgraph 0 turned into custom op ``name``."""
    from maikit.tflite.model import Graph

    g = Graph(data)
    op = g.model.subgraphs[0].operators[0]
    op.opcodeIndex = _custom_code(g, name)
    op.builtinOptionsType, op.builtinOptions = 0, None
    return g.to_bytes()


def as_transpose_conv_bias(data: bytes) -> bytes:
    """TRANSPOSE_CONV (VALID, stride 2) rewritten as MediaPipe's Convolution2DTransposeBias:
    inputs (input, weights, bias), options a TfLiteTransposeConvParams (padding, strides)."""
    from maikit.tflite.model import Graph, ints

    g = Graph(data)
    op = g.model.subgraphs[0].operators[0]
    assert g.op_name(op) == "TRANSPOSE_CONV"
    _, w, x, b = ints(op.inputs)
    opts = op.builtinOptions
    op.opcodeIndex = _custom_code(g, "Convolution2DTransposeBias")
    op.inputs = [x, w, b]
    op.builtinOptionsType, op.builtinOptions = 0, None
    valid = 2  # kTfLitePaddingValid
    assert opts.padding == g.fb.Padding.VALID
    op.customOptions = list(struct.pack("<iiii", valid, opts.strideW, opts.strideH, 0))
    return g.to_bytes()


def with_sparse_weights(data: bytes, constant: bool = True) -> bytes:
    """The first convolution's weights stored as a sparse tensor (every dimension DENSE-encoded)
    and densified by a DENSIFY op; ``constant=False`` makes the sparse tensor a model input."""
    from maikit.tflite.model import Graph, ints

    g = Graph(data)
    fb, sg = g.fb, g.model.subgraphs[0]
    w_idx = ints(sg.operators[0].inputs)[1]
    w = sg.tensors[w_idx]
    sparse = fb.TensorT()
    sparse.shape, sparse.type, sparse.name = list(w.shape), w.type, "sparse_weights"
    if constant:
        g.set_constant(sparse, np.array(g.constant(sg, w_idx)))
    else:
        sparse.buffer = 0
    params = fb.SparsityParametersT()
    params.traversalOrder = list(range(len(w.shape)))
    params.dimMetadata = []
    for d in w.shape:
        m = fb.DimensionMetadataT()
        m.format, m.denseSize = fb.DimensionType.DENSE, int(d)
        params.dimMetadata.append(m)
    sparse.sparsity = params
    sg.tensors.append(sparse)
    if not constant:
        sg.inputs = list(ints(sg.inputs)) + [len(sg.tensors) - 1]
    w.buffer = 0
    op = fb.OperatorT()
    op.opcodeIndex = g.opcode_index("DENSIFY")
    op.inputs, op.outputs = [len(sg.tensors) - 1], [w_idx]
    sg.operators.insert(0, op)
    return g.to_bytes()
