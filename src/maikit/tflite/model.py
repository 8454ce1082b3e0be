"""The .tflite flatbuffer: reading it into plain structures and editing it.

One owner for the file format, torch-free. Uses the schema module and flatbuffer tools
shipped in the ai-edge-litert wheel (no TensorFlow):

* :func:`read_tflite`: a file into plain dicts (tensors, ops, inputs, outputs per subgraph,
  signatures), with one-line errors for missing, foreign, truncated or corrupt files, and
  bounded work for crafted ones (:data:`LIMITS`, :class:`_Budget`);
* :class:`Graph`: an editable object tree of a model (op names, constants in and out, a
  clean re-serialisation) for graph clean-ups and per-op cut-outs.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from maikit.errors import MaikitError, first_line
from maikit.io import read_bytes


def schema():
    """The TFLite flatbuffer schema module (``schema_py_generated``) of the ai-edge-litert wheel."""
    from ai_edge_litert import schema_py_generated as fb

    return fb


def enum_names(cls) -> dict[int, str]:
    """Value -> name of a flatbuffer enum class (BuiltinOperator, TensorType, ...)."""
    return {v: k for k, v in vars(cls).items() if not k.startswith("_") and isinstance(v, int)}


def numpy_types(fb) -> dict[int, np.dtype]:
    """TFLite tensor type code -> NumPy dtype, for the types NumPy names the same way (FLOAT32, INT8, ...)."""
    out = {}
    for code, name in enum_names(fb.TensorType).items():
        try:
            out[code] = np.dtype(name.lower())
        except TypeError:  # STRING, RESOURCE, VARIANT, ...
            continue
    return out


# --------------------------------------------------------------------------------------
# Flatbuffer -> plain structures
# --------------------------------------------------------------------------------------
# What one file may make the reader walk. A flatbuffer may point many offsets at one shared
# table or vector, so an 8 MB file can hold 2,000,000 "tensors" that are all the same one
# (55 s of parsing). Each count is checked against these caps, and against the file's size
# (every offset takes 4 bytes of it), before any of them is walked; real models are far
# below (the reports' largest have a few hundred ops and a few thousand tensors).
LIMITS = {"subgraphs": 1_000, "tensors": 200_000, "operators": 200_000, "buffers": 200_000, "operator codes": 10_000,
          "signatures": 1_000}


class _Budget:
    """The bytes the reader may walk: the file's size and 64 KiB. Each table read is
    charged the least a real one takes (its offset, and 12 bytes for a tensor or an operator:
    the vtable's offset and two fields), each vector and string its length. A file whose
    objects are all its own stays under it (each is read once and takes at least what it is
    charged: real models were charged at most 0.76 of their size); one that points many
    offsets at one shared table or vector runs out of it after about the file's length of
    work, and is refused with a reason instead of keeping a core busy."""

    def __init__(self, size: int):
        self.size, self.left = size, size + 65536

    def count(self, what: str, n: int, width: int = 4) -> None:
        """Charge ``n`` items of ``width`` bytes before walking them (MaikitError past the budget)."""
        self.left -= n * width
        if self.left < 0:
            raise MaikitError(f"the file makes the reader walk more than its {self.size} bytes (at {what}): "
                              "a crafted file that shares one object among many")

    def vector(self, what: str, n: int, limit: str | None = None) -> int:
        """A vector of ``n`` offsets or 4-byte values: within its cap and the file, charged."""
        if limit is not None and n > LIMITS[limit]:
            raise MaikitError(f"{n} {limit} in the file, more than the limit of {LIMITS[limit]}")
        if 4 * n > self.size:
            raise MaikitError(f"{what} holds {n} entries, more than the file's {self.size} bytes can")
        self.count(what, n)
        return n


def read_tflite(path: str | os.PathLike) -> dict:
    """Parse a .tflite into plain dicts: ``tensors``, ``ops``, ``inputs``, ``outputs`` per subgraph,
    and ``signatures`` (key -> subgraph index and input/output names -> tensor indices).

    Raises MaikitError naming the file for a missing, non-TFLite, truncated or corrupt file,
    and for one that would make the reader walk far more than its size (:data:`LIMITS`).
    """
    path = Path(path)
    data = read_bytes(path)
    if len(data) < 8 or data[4:8] != b"TFL3":
        raise MaikitError("not a TFLite model (no TFL3 file identifier)", path)
    try:
        return _parse(data)
    except MaikitError as e:
        raise MaikitError(e.reason, path) from None
    except Exception as e:  # flatbuffer offsets out of range: a truncated or corrupt file
        raise MaikitError(f"truncated or corrupt TFLite file ({first_line(e)[:120]})", path) from None


def _parse(data: bytes) -> dict:
    fb = schema()
    op_names = enum_names(fb.BuiltinOperator)
    type_names = {k: v.lower() for k, v in enum_names(fb.TensorType).items()}
    model = fb.Model.GetRootAs(data, 0)
    size = len(data)
    budget = _Budget(size)

    def ints(what: str, n: int, get_numpy) -> list[int]:
        budget.vector(what, n)
        return [int(v) for v in get_numpy()] if n else []

    def text(what: str, raw: bytes | None) -> str:
        raw = raw or b""
        budget.count(what, len(raw), 1)
        return raw.decode("utf-8", "replace")

    # every count first, before any of them is walked
    n_buffers = budget.vector("the buffers vector", model.BuffersLength(), "buffers")
    n_codes = budget.vector("the operator codes vector", model.OperatorCodesLength(), "operator codes")
    n_subgraphs = budget.vector("the subgraphs vector", model.SubgraphsLength(), "subgraphs")
    n_signatures = budget.vector("the signatures vector", model.SignatureDefsLength(), "signatures")
    graphs = [model.Subgraphs(s) for s in range(n_subgraphs)]
    budget.vector("the subgraphs' tensors", sum(sg.TensorsLength() for sg in graphs), "tensors")
    budget.vector("the subgraphs' operators", sum(sg.OperatorsLength() for sg in graphs), "operators")

    buffers = []
    for i in range(n_buffers):
        b = model.Buffers(i)
        offset, length = int(b.Offset()), int(b.Size())
        if offset > 1:  # data stored after the flatbuffer (large models)
            if offset + length > size:
                raise MaikitError(f"buffer {i} ends at byte {offset + length}, past the end of the file ({size} bytes)")
            buffers.append(length)
        else:
            n = b.DataLength()
            if n:
                b.DataAsNumpy()  # raises when the vector runs past the end of the file
            buffers.append(int(n))

    codes = []
    for i in range(n_codes):
        oc = model.OperatorCodes(i)
        code = max(int(oc.DeprecatedBuiltinCode()), int(oc.BuiltinCode()))
        name = op_names.get(code, f"BUILTIN_{code}")
        custom = oc.CustomCode()
        is_custom = name == "CUSTOM"
        if is_custom and custom:
            name = text(f"operator code {i}", custom)  # as the interpreter names custom ops
        codes.append((name, is_custom))

    subgraphs = []
    for sg in graphs:
        tensors = []
        for t in range(sg.TensorsLength()):
            tt = sg.Tensors(t)
            where = f"tensor {t}"
            budget.count(where, 12, 1)
            shape = ints(f"{where}'s shape", tt.ShapeLength(), tt.ShapeAsNumpy)
            n_sig = tt.ShapeSignatureLength()
            sig = ints(f"{where}'s shape signature", n_sig, tt.ShapeSignatureAsNumpy) if n_sig else list(shape)
            q = tt.Quantization()
            scale = [float(v) for v in q.ScaleAsNumpy()] if q is not None and budget.vector(
                f"{where}'s scales", q.ScaleLength()) else []
            zero = [int(v) for v in q.ZeroPointAsNumpy()] if q is not None and budget.vector(
                f"{where}'s zero points", q.ZeroPointLength()) else []
            buf = int(tt.Buffer())
            if buf >= len(buffers):
                raise MaikitError(f"tensor {t} refers to buffer {buf} of {len(buffers)}")
            tensors.append({
                "index": t,
                "name": text(f"{where}'s name", tt.Name()),
                "shape": shape,
                "shape_signature": sig,
                "dtype": type_names.get(int(tt.Type()), str(tt.Type())),
                "buffer": buf,
                "constant": buf > 0 and buffers[buf] > 0,
                "scale": scale,
                "zero_point": zero,
            })
        ops = []
        for o in range(sg.OperatorsLength()):
            op = sg.Operators(o)
            budget.count(f"operator {o}", 12, 1)
            idx = int(op.OpcodeIndex())
            if idx >= len(codes):
                raise MaikitError(f"operator {o} refers to opcode {idx} of {len(codes)}")
            ins = ints(f"operator {o}'s inputs", op.InputsLength(), op.InputsAsNumpy)
            outs = ints(f"operator {o}'s outputs", op.OutputsLength(), op.OutputsAsNumpy)
            for v in ins + outs:
                if v >= len(tensors) or v < -1:  # -1: an optional input left out
                    raise MaikitError(f"operator {o} refers to tensor {v} of {len(tensors)}")
            ops.append({"index": o, "op": codes[idx][0], "custom": codes[idx][1], "inputs": ins, "outputs": outs})
        inputs = ints(f"subgraph {len(subgraphs)}'s inputs", sg.InputsLength(), sg.InputsAsNumpy)
        outputs = ints(f"subgraph {len(subgraphs)}'s outputs", sg.OutputsLength(), sg.OutputsAsNumpy)
        for kind, values in (("input", inputs), ("output", outputs)):
            for v in values:
                if not 0 <= v < len(tensors):
                    raise MaikitError(f"subgraph {len(subgraphs)} {kind} refers to tensor {v} of {len(tensors)}")
        subgraphs.append({"tensors": tensors, "ops": ops, "inputs": inputs, "outputs": outputs})
    if not subgraphs:
        raise MaikitError("the model has no subgraph")
    signatures = {}
    for k in range(n_signatures):
        sd = model.SignatureDefs(k)
        g = int(sd.SubgraphIndex())
        if g >= len(subgraphs):
            raise MaikitError(f"signature {k} refers to subgraph {g} of {len(subgraphs)}")

        def names(n, get, what):
            budget.vector(what, n)
            return {text(what, get(i).Name()): int(get(i).TensorIndex()) for i in range(n)}

        signatures[text(f"signature {k}'s key", sd.SignatureKey())] = {
            "subgraph": g, "inputs": names(sd.InputsLength(), sd.Inputs, f"signature {k}'s inputs"),
            "outputs": names(sd.OutputsLength(), sd.Outputs, f"signature {k}'s outputs")}
    return {"size_bytes": size, "buffers": buffers, "subgraphs": subgraphs, "signatures": signatures,
            "version": int(model.Version())}


# --------------------------------------------------------------------------------------
# Editing
# --------------------------------------------------------------------------------------
class Graph:
    """A parsed .tflite being edited: op names, constants in and out, and a clean re-serialisation."""

    def __init__(self, model_bytes: bytes):
        from ai_edge_litert import schema_py_generated as fb
        from ai_edge_litert.tools import flatbuffer_utils as fu

        self.fb, self.fu, self.data = fb, fu, bytes(model_bytes)
        self.model = fu.convert_bytearray_to_object(bytearray(self.data))
        self.np_types = numpy_types(fb)
        self.opcodes = enum_names(fb.BuiltinOperator)

    def op_name(self, op) -> str:
        c = self.model.operatorCodes[op.opcodeIndex]
        return self.opcodes.get(max(int(c.builtinCode), int(c.deprecatedBuiltinCode)), "")

    def custom_name(self, op) -> str:
        """The custom code of a CUSTOM op (as the interpreter names it), "" for builtins."""
        c = self.model.operatorCodes[op.opcodeIndex]
        code = c.customCode
        return code.decode("utf-8", "replace") if isinstance(code, bytes) else (code or "")

    def opcode_index(self, name: str) -> int:
        """Index of builtin ``name`` in the model's operator codes, added when missing."""
        code = getattr(self.fb.BuiltinOperator, name)
        for i, c in enumerate(self.model.operatorCodes):
            if max(int(c.builtinCode), int(c.deprecatedBuiltinCode)) == code:
                return i
        c = self.fb.OperatorCodeT()
        c.builtinCode, c.deprecatedBuiltinCode, c.version = code, min(code, 127), 1
        self.model.operatorCodes.append(c)
        return len(self.model.operatorCodes) - 1

    def _buffer_bytes(self, index: int) -> bytes | None:
        b = self.model.buffers[index]
        if b.offset and b.offset > 1:
            return self.data[b.offset:b.offset + b.size]
        return None if b.data is None or len(b.data) == 0 else bytes(bytearray(b.data))

    def constant(self, sg, t: int) -> np.ndarray | None:
        """Tensor ``t``'s constant value, or None when it is computed at run time."""
        tensor = sg.tensors[t]
        raw = self._buffer_bytes(tensor.buffer) if tensor.buffer else None
        if raw is None or tensor.type not in self.np_types:
            return None
        return np.frombuffer(raw, dtype=self.np_types[tensor.type]).reshape(ints(tensor.shape))

    def set_constant(self, tensor, value: np.ndarray, model=None) -> None:
        """Store ``value`` in a new buffer of ``tensor`` (the old one is emptied at the end if unused).

        ``model``: another ModelT to put the buffer in (default: the one being edited).
        """
        model = self.model if model is None else model
        buf = self.fb.BufferT()
        buf.data = np.frombuffer(np.ascontiguousarray(value).tobytes(), dtype=np.uint8)
        model.buffers.append(buf)
        tensor.buffer = len(model.buffers) - 1

    def to_bytes(self) -> bytes:
        drop_dead_tensors(self.model)
        # buffers no tensor uses any more (replaced weights, intermediate results) are emptied;
        # offsets into the old file would point elsewhere once the flatbuffer is rebuilt: inline them
        used = {int(t.buffer) for sg in self.model.subgraphs for t in sg.tensors}
        for i, b in enumerate(self.model.buffers):
            if i not in used:
                b.data, b.offset, b.size = None, 0, 0
            elif b.offset and b.offset > 1:
                b.data = np.frombuffer(self.data[b.offset:b.offset + b.size], dtype=np.uint8)
                b.offset, b.size = 0, 0
        return bytes(self.fu.convert_object_to_bytearray(self.model))



def ints(v) -> list[int]:
    return [] if v is None else [int(x) for x in v]


def drop_dead_tensors(model) -> None:
    """Remove tensors no op, subgraph or signature refers to, renumbering the references."""
    for g, sg in enumerate(model.subgraphs):
        sigs = [t for sd in (model.signatureDefs or []) if int(sd.subgraphIndex) == g
                for t in list(sd.inputs or []) + list(sd.outputs or [])]
        live = {v for op in sg.operators for v in ints(op.inputs) + ints(op.outputs) + ints(op.intermediates)}
        live |= set(ints(sg.inputs)) | set(ints(sg.outputs)) | {int(t.tensorIndex) for t in sigs}
        live.discard(-1)
        order = sorted(live)
        new = {old: i for i, old in enumerate(order)}
        remap = lambda v: [new.get(x, -1) if x >= 0 else -1 for x in ints(v)]  # noqa: E731
        for op in sg.operators:
            op.inputs, op.outputs = remap(op.inputs), remap(op.outputs)
            if op.intermediates is not None:
                op.intermediates = remap(op.intermediates)
        sg.inputs, sg.outputs = remap(sg.inputs), remap(sg.outputs)
        for t in sigs:
            t.tensorIndex = new[int(t.tensorIndex)]
        sg.tensors = [sg.tensors[i] for i in order]

