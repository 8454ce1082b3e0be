"""Fold weight transforms that the converter leaves to run at inference time.

litert-torch lowers a transposed convolution to TRANSPOSE_CONV fed by its weights after a
TRANSPOSE and a REVERSE_V2 (the kernel flip). For small kernels the converter folds these into
a constant; above its folding size limit it does not (seen on PUNET's 256→128 and 128→64
up-convolutions, 4×4 kernels, 0.5 M weights), and then every inference re-transposes and
re-flips the weights, and XNNPACK, which needs static filters, leaves the TRANSPOSE_CONV to
LiteRT's builtin kernel (``benchmarks/RESULTS.md``, "Deployment"). :func:`fold_constant_ops`
evaluates every PAD / TRANSPOSE / REVERSE_V2 / RESHAPE whose inputs are all constants with
NumPy (exact: these ops only move values or add zeros) and stores the result as a constant
tensor; the chain const → PAD (3×3 → 4×4) → REVERSE_V2 → TRANSPOSE → REVERSE_V2 folds op by op.
"""

from __future__ import annotations

import numpy as np

from maikit.errors import MaikitError
from maikit.export.inspect import _enum_names

_FOLDABLE = ("TRANSPOSE", "REVERSE_V2", "RESHAPE", "PAD")


def _numpy_types(fb) -> dict[int, np.dtype]:
    """TFLite tensor type code → NumPy dtype, for the types NumPy names the same way (FLOAT32, INT8, ...)."""
    out = {}
    for code, name in _enum_names(fb.TensorType).items():
        try:
            out[code] = np.dtype(name.lower())
        except TypeError:  # STRING, RESOURCE, VARIANT, ...: never folded
            continue
    return out


def _evaluate(op_name: str, values: list[np.ndarray], out_shape: list[int]) -> np.ndarray:
    x = values[0]
    if op_name == "TRANSPOSE":
        return np.ascontiguousarray(np.transpose(x, [int(v) for v in values[1]]))
    if op_name == "PAD":  # zero padding (PAD's constant is 0; PADV2 is not folded)
        return np.pad(x, [(int(a), int(b)) for a, b in np.asarray(values[1]).reshape(-1, 2)])
    if op_name == "REVERSE_V2":
        return np.ascontiguousarray(np.flip(x, axis=tuple(int(v) % x.ndim for v in values[1])))
    return x.reshape(out_shape)  # RESHAPE: the output tensor carries the static shape


def fold_constant_ops(model_bytes: bytes) -> tuple[bytes, int]:
    """``model_bytes`` with constant-input PAD/TRANSPOSE/REVERSE_V2/RESHAPE ops evaluated; and their count.

    Returns the input unchanged (count 0) when there is nothing to fold.
    """
    from ai_edge_litert import schema_py_generated as fb
    from ai_edge_litert.tools import flatbuffer_utils as fu

    data = bytes(model_bytes)
    model = fu.convert_bytearray_to_object(bytearray(data))
    names, np_types = _enum_names(fb.BuiltinOperator), _numpy_types(fb)
    codes = [names.get(max(int(c.builtinCode), int(c.deprecatedBuiltinCode)), "") for c in model.operatorCodes]

    def buffer_bytes(index: int) -> bytes | None:
        b = model.buffers[index]
        if b.offset and b.offset > 1:
            return data[b.offset:b.offset + b.size]
        return None if b.data is None or len(b.data) == 0 else bytes(bytearray(b.data))

    def constant(sg, t: int) -> np.ndarray | None:
        tensor = sg.tensors[t]
        raw = buffer_bytes(tensor.buffer) if tensor.buffer else None
        if raw is None or tensor.type not in np_types:
            return None
        return np.frombuffer(raw, dtype=np_types[tensor.type]).reshape(_ints(tensor.shape))

    folded = 0
    for sg in model.subgraphs:
        outputs = set(_ints(sg.outputs))
        keep = []
        for op in sg.operators:
            name, outs = codes[op.opcodeIndex], _ints(op.outputs)
            values = [constant(sg, t) for t in _ints(op.inputs) if t >= 0] if name in _FOLDABLE else []
            if not values or any(v is None for v in values) or len(outs) != 1 or outs[0] in outputs:
                keep.append(op)
                continue
            out = sg.tensors[outs[0]]
            result = _evaluate(name, values, _ints(out.shape))
            if list(result.shape) != _ints(out.shape) or result.dtype != np_types.get(out.type):
                raise MaikitError(f"folding {name} gave {result.dtype}{list(result.shape)}, "
                                  f"the graph expects {_ints(out.shape)}")
            buf = fb.BufferT()
            buf.data = np.frombuffer(result.tobytes(), dtype=np.uint8)
            model.buffers.append(buf)
            out.buffer = len(model.buffers) - 1
            folded += 1
        sg.operators = keep
    if not folded:
        return model_bytes, 0
    _drop_dead_tensors(model)
    # buffers no tensor uses any more (the unfolded weights, intermediate results) are emptied;
    # offsets into the old file would point elsewhere once the flatbuffer is rebuilt: inline them
    used = {int(t.buffer) for sg in model.subgraphs for t in sg.tensors}
    for i, b in enumerate(model.buffers):
        if i not in used:
            b.data, b.offset, b.size = None, 0, 0
        elif b.offset and b.offset > 1:
            b.data = np.frombuffer(data[b.offset:b.offset + b.size], dtype=np.uint8)
            b.offset, b.size = 0, 0
    return bytes(fu.convert_object_to_bytearray(model)), folded


def _ints(v) -> list[int]:
    return [] if v is None else [int(x) for x in v]


def _drop_dead_tensors(model) -> None:
    """Remove tensors no op, subgraph or signature refers to, renumbering the references."""
    for g, sg in enumerate(model.subgraphs):
        sigs = [t for sd in (model.signatureDefs or []) if int(sd.subgraphIndex) == g
                for t in list(sd.inputs or []) + list(sd.outputs or [])]
        live = {v for op in sg.operators for v in _ints(op.inputs) + _ints(op.outputs) + _ints(op.intermediates)}
        live |= set(_ints(sg.inputs)) | set(_ints(sg.outputs)) | {int(t.tensorIndex) for t in sigs}
        live.discard(-1)
        order = sorted(live)
        new = {old: i for i, old in enumerate(order)}
        remap = lambda v: [new.get(x, -1) if x >= 0 else -1 for x in _ints(v)]  # noqa: E731
        for op in sg.operators:
            op.inputs, op.outputs = remap(op.inputs), remap(op.outputs)
            if op.intermediates is not None:
                op.intermediates = remap(op.intermediates)
        sg.inputs, sg.outputs = remap(sg.inputs), remap(sg.outputs)
        for t in sigs:
            t.tensorIndex = new[int(t.tensorIndex)]
        sg.tensors = [sg.tensors[i] for i in order]
