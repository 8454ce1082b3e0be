"""Torch-free LiteRT pieces the device backends use in their child process: the op list, the
input signature, and a static-shape copy of a dynamic file."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from maikit.errors import MaikitError, first_line


def _model_object(path):
    from ai_edge_litert.tools import flatbuffer_utils as fu

    try:
        return fu.convert_bytearray_to_object(bytearray(Path(path).read_bytes()))
    except FileNotFoundError:
        raise MaikitError("file not found", path) from None
    except Exception as e:  # flatbuffers raises assorted errors on junk
        from maikit.runtime.devices.base import ModelFault

        raise ModelFault("not_a_model", f"not a TFLite flatbuffer ({first_line(e)})", path) from None


def op_names(path) -> list[str]:
    """Builtin op names of the first subgraph, in execution order."""
    from ai_edge_litert import schema_py_generated as fb

    names = {v: k for k, v in vars(fb.BuiltinOperator).items() if not k.startswith("_")}
    m = _model_object(path)
    out = []
    for op in m.subgraphs[0].operators or []:
        c = m.operatorCodes[op.opcodeIndex]
        out.append(names.get(max(int(c.builtinCode), int(c.deprecatedBuiltinCode)), "CUSTOM"))
    return out


def input_signature(path) -> list[int]:
    m = _model_object(path)
    sg = m.subgraphs[0]
    t = sg.tensors[sg.inputs[0]]
    sig = t.shapeSignature if t.shapeSignature is not None and len(t.shapeSignature) else t.shape
    return [int(v) for v in sig]


def static_copy(path, shape, out_path) -> Path:
    """A copy of ``path`` whose first input has the fixed ``shape`` (other shapes are
    recomputed by the runtime when it prepares the graph)."""
    from ai_edge_litert.tools import flatbuffer_utils as fu

    m = _model_object(path)
    sg = m.subgraphs[0]
    t = sg.tensors[sg.inputs[0]]
    if t.shape is not None and len(t.shape) != len(shape):
        raise MaikitError(f"shape {list(shape)} has rank {len(shape)}, the model's input rank {len(t.shape)}", path)
    t.shape = np.asarray(shape, np.int32)
    t.shapeSignature = None
    Path(out_path).write_bytes(bytes(fu.convert_object_to_bytearray(m)))
    return Path(out_path)
