"""Graph clean-ups on converted .tflite files: what the converter leaves slow, done once here.

* :func:`fold_constant_ops` — weight transforms left to run at inference time.
  litert-torch lowers a transposed convolution to TRANSPOSE_CONV fed by its weights after a
  TRANSPOSE and a REVERSE_V2 (the kernel flip). For small kernels the converter folds these
  into a constant; above its folding size limit it does not (seen on PUNET's 256→128 and
  128→64 up-convolutions, 4×4 kernels, 0.5 M weights), and then every inference re-transposes
  and re-flips the weights, and XNNPACK, which needs static filters, leaves the TRANSPOSE_CONV
  to LiteRT's builtin kernel (``benchmarks/RESULTS.md``, "Deployment"). Every PAD / TRANSPOSE /
  REVERSE_V2 / RESHAPE whose inputs are all constants is evaluated with NumPy (exact: these
  ops only move values or add zeros) and stored as a constant tensor; the chain const → PAD
  (3×3 → 4×4) → REVERSE_V2 → TRANSPOSE → REVERSE_V2 folds op by op.
* :func:`shuffles_to_depth_to_space` — PyTorch's pixel shuffle becomes a chain of RESHAPE and
  TRANSPOSE ops over the full-resolution output (five full passes over memory, rank-6 tensors
  that mobile GPU delegates reject); one DEPTH_TO_SPACE does the same move in one pass, with
  the producing convolution's output channels stored in DEPTH_TO_SPACE's order.
  :func:`depth_to_space_as_moves` undoes it for int8 quantisation.
* :func:`transpose_convs_to_depth_to_space` and :func:`transpose_conv_shapes_from_input` —
  in a dynamic-shape file, TRANSPOSE_CONV keeps the output size traced at the probe shape as
  a constant. XNNPACK recomputes it from the input, LiteRT's builtin kernel checks it and
  refuses every other size (``computed_input_height != SizeOfDimension(input, 1)``), and so
  would any runtime without XNNPACK. A transposed convolution whose kernel is its stride (the
  only kind litert-torch lowers with symbolic sizes: pixel shuffles rewritten, ``UpConv`` in
  its sub-pixel form, 2x2 stride-2 up-convolutions) is a 1x1 convolution followed by
  DEPTH_TO_SPACE, which take their sizes from their input in every runtime; any other gets
  its output shape computed from its input's (SHAPE → MUL → ADD).
"""

from __future__ import annotations

import numpy as np

from maikit.errors import MaikitError
from maikit.tflite.model import Graph as _Graph, drop_dead_tensors as _drop_dead_tensors, ints as _ints  # noqa: F401

_FOLDABLE = ("TRANSPOSE", "REVERSE_V2", "RESHAPE", "PAD")


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
    g = _Graph(model_bytes)
    folded = 0
    for sg in g.model.subgraphs:
        outputs = set(_ints(sg.outputs))
        keep = []
        for op in sg.operators:
            name, outs = g.op_name(op), _ints(op.outputs)
            values = [g.constant(sg, t) for t in _ints(op.inputs) if t >= 0] if name in _FOLDABLE else []
            if not values or any(v is None for v in values) or len(outs) != 1 or outs[0] in outputs:
                keep.append(op)
                continue
            out = sg.tensors[outs[0]]
            result = _evaluate(name, values, _ints(out.shape))
            if list(result.shape) != _ints(out.shape) or result.dtype != g.np_types.get(out.type):
                raise MaikitError(f"folding {name} gave {result.dtype}{list(result.shape)}, "
                                  f"the graph expects {_ints(out.shape)}")
            g.set_constant(out, result)
            folded += 1
        sg.operators = keep
    if not folded:
        return model_bytes, 0
    return g.to_bytes(), folded


# ops that act on every element alike, so that a channel permutation passes through them
_ELEMENTWISE = frozenset({
    "LOGISTIC", "RELU", "RELU6", "RELU_N1_TO_1", "RELU_0_TO_1", "TANH", "HARD_SWISH", "ELU", "LEAKY_RELU",
    "GELU", "ABS", "NEG", "EXP", "LOG", "SQRT", "RSQRT", "SQUARE", "SIN", "COS", "FLOOR",
    "ADD", "SUB", "MUL", "DIV", "MAXIMUM", "MINIMUM", "POW",
})
_MOVES = frozenset({"RESHAPE", "TRANSPOSE"})
# ops whose output channels are the first axis of a constant filter: (filter input, bias input)
_PRODUCERS = {"CONV_2D": (1, 2), "TRANSPOSE_CONV": (1, 3)}


def _depth_to_space(x: np.ndarray, r: int) -> np.ndarray:
    """TFLite DEPTH_TO_SPACE on NHWC: out[h·r + i, w·r + j, c] = in[h, w, (i·r + j)·C + c]."""
    n, h, w, c = x.shape
    return x.reshape(n, h, w, r, r, c // (r * r)).transpose(0, 1, 3, 2, 4, 5).reshape(n, h * r, w * r, c // (r * r))


def _shuffle_permutation(g: _Graph, sg, chain: list, x_shape: list[int], y_shape: list[int]) -> tuple[int, np.ndarray] | None:
    """(r, P) when the ops of ``chain`` move the elements of their input as DEPTH_TO_SPACE(r) of its
    channels taken in the order P; None otherwise. Decided by running the moves on element indices
    (the element-wise ops of the chain leave positions alone)."""
    if len(x_shape) != 4 or len(y_shape) != 4 or x_shape[0] != y_shape[0] or min(x_shape + y_shape) < 1:
        return None
    n, h, w, cin = x_shape
    r = y_shape[1] // h
    if r < 2 or y_shape[1] != h * r or y_shape[2] != w * r or cin != y_shape[3] * r * r:
        return None
    idx = np.arange(int(np.prod(x_shape)), dtype=np.int64).reshape(x_shape)
    values = idx
    for op in chain:
        name = g.op_name(op)
        if name not in _MOVES:
            continue
        extra = [g.constant(sg, t) for t in _ints(op.inputs)[1:] if t >= 0]
        if name == "TRANSPOSE" and (not extra or extra[0] is None):
            return None
        values = _evaluate(name, [values, *extra], _ints(sg.tensors[_ints(op.outputs)[0]].shape))
    if list(values.shape) != y_shape:
        return None
    perm = values[0, :r, :r, :].reshape(-1)  # position (i·r + j)·C + c holds its source channel
    if perm.min() < 0 or perm.max() >= cin or len(np.unique(perm)) != cin:
        return None
    if not np.array_equal(values, _depth_to_space(idx[..., perm], r)):
        return None
    return r, perm


def _scalar_elementwise(g: _Graph, sg, op) -> int | None:
    """The one computed input of an element-wise op whose other operands are single values; else None."""
    if g.op_name(op) not in _ELEMENTWISE:
        return None
    ins = [v for v in _ints(op.inputs) if v >= 0]
    moving = [v for v in ins if g.constant(sg, v) is None]
    others = [g.constant(sg, v) for v in ins if v != moving[0]] if len(moving) == 1 else None
    if others is None or any(c.size != 1 or c.ndim > 4 for c in others):
        return None
    return moving[0]


def shuffles_to_depth_to_space(model_bytes: bytes) -> tuple[bytes, int]:
    """Replace pixel-shuffle RESHAPE/TRANSPOSE chains by one DEPTH_TO_SPACE op; and their count.

    PyTorch's pixel shuffle takes channels in ``c·r² + i·r + j`` order, DEPTH_TO_SPACE in
    ``(i·r + j)·C + c`` order; the difference is a channel permutation, which is folded into
    the filter and bias of the (transposed) convolution that produces the shuffled map (through any
    element-wise ops between them). Element-wise ops inside the chain (an output clamp the
    converter left between the moves) are kept and run after DEPTH_TO_SPACE. A chain is
    replaced only when running it on element indices shows that it is exactly such a shuffle
    and the producing convolution feeds nothing else; otherwise it stays as it is. Static
    shapes only; returns the input unchanged (count 0) when nothing is replaced.
    """
    g = _Graph(model_bytes)
    replaced = 0
    for sg in g.model.subgraphs:
        ops = list(sg.operators)
        outputs = set(_ints(sg.outputs))
        producer, consumers, only_to = _wiring(sg, ops)
        static = lambda t: sg.tensors[t].shapeSignature is None or min(_ints(sg.tensors[t].shapeSignature), default=0) >= 0  # noqa: E731
        in_chain = lambda op: g.op_name(op) in _MOVES or _scalar_elementwise(g, sg, op) is not None  # noqa: E731
        dropped: set[int] = set()
        new_ops: dict[int, list] = {}
        for start, op in enumerate(ops):
            if start in dropped or g.op_name(op) not in _MOVES:
                continue
            x = _ints(op.inputs)[0]
            p = producer.get(x)
            if p is not None and g.op_name(ops[p]) in _MOVES and only_to(x, start):
                continue  # not the start of a chain
            chain = [start]
            while True:
                out = _ints(ops[chain[-1]].outputs)[0]
                nxt = consumers.get(out, [])
                if out in outputs or len(nxt) != 1 or not in_chain(ops[nxt[0]]):
                    break
                chain.append(nxt[0])
            while g.op_name(ops[chain[-1]]) not in _MOVES:
                chain.pop()  # element-wise ops after the last move stay where they are
            y = _ints(ops[chain[-1]].outputs)[0]
            if len(chain) < 2 or not (static(x) and static(y)):
                continue
            found = _shuffle_permutation(g, sg, [ops[i] for i in chain], _ints(sg.tensors[x].shape), _ints(sg.tensors[y].shape))
            if found is None:
                continue
            r, perm = found
            if not np.array_equal(perm, np.arange(len(perm))) and not _permute_producer(g, sg, ops, producer, x, start, only_to, perm):
                continue
            new_ops[chain[-1]] = _depth_to_space_ops(g, sg, [ops[i] for i in chain], x, y, r)
            dropped.update(chain[:-1])
            replaced += 1
        sg.operators = [o for i, op in enumerate(ops) if i not in dropped for o in new_ops.get(i, [op])]
    if not replaced:
        return model_bytes, 0
    return g.to_bytes(), replaced


def _wiring(sg, ops: list):
    """(producer op of each tensor, consumer ops of each tensor, ``only_to(t, i)``: tensor ``t`` is
    not a model output and op ``i`` is its only consumer)."""
    outputs = set(_ints(sg.outputs))
    producer = {t: i for i, op in enumerate(ops) for t in _ints(op.outputs)}
    consumers: dict[int, list[int]] = {}
    for i, op in enumerate(ops):
        for t in _ints(op.inputs):
            consumers.setdefault(t, []).append(i)
    return producer, consumers, lambda t, i: t not in outputs and consumers.get(t) == [i]


def _depth_to_space_ops(g: _Graph, sg, chain: list, x: int, y: int, r: int) -> list:
    """DEPTH_TO_SPACE(x) followed by the chain's element-wise ops, ending in tensor ``y``."""
    d2s = g.fb.OperatorT()
    d2s.opcodeIndex = g.opcode_index("DEPTH_TO_SPACE")
    d2s.builtinOptionsType = g.fb.BuiltinOptions.DepthToSpaceOptions
    d2s.builtinOptions = g.fb.DepthToSpaceOptionsT()
    d2s.builtinOptions.blockSize = r
    elementwise = [op for op in chain if g.op_name(op) not in _MOVES]
    out_shape = _ints(sg.tensors[y].shape)
    cur = _scalar_elementwise(g, sg, elementwise[0]) if elementwise else y
    d2s.inputs, d2s.outputs = [x], [cur]
    result = [d2s]
    for k, op in enumerate(elementwise):
        moving = _scalar_elementwise(g, sg, op)
        sg.tensors[cur].shape, sg.tensors[cur].shapeSignature = list(out_shape), None
        op.inputs = [cur if v == moving else v for v in _ints(op.inputs)]
        if k == len(elementwise) - 1:
            op.outputs = [y]
        cur = _ints(op.outputs)[0]
        result.append(op)
    return result


def _permute_producer(g: _Graph, sg, ops: list, producer: dict, x: int, user: int, only_to, perm: np.ndarray,
                      scale: np.ndarray | None = None) -> bool:
    """Reorder the output channels of the (transposed) convolution behind tensor ``x`` by ``perm``
    (and multiply output channel ``j`` by ``scale[j]``); False if there is none.

    Element-wise ops between the convolution and ``x`` are passed when their other operands
    are single values (a per-channel operand would need permuting too) and every tensor on the
    way feeds only the next op; with ``scale``, none may stand between (they need not be linear).
    """
    t = x
    while True:
        p = producer.get(t)
        if p is None or not only_to(t, user):
            return False
        op = ops[p]
        if g.op_name(op) in _PRODUCERS:
            break
        moving = _scalar_elementwise(g, sg, op)
        if moving is None or scale is not None:
            return False
        t, user = moving, p
    f_at, b_at = _PRODUCERS[g.op_name(op)]
    filt, bias = _ints(op.inputs)[f_at], (_ints(op.inputs) + [-1] * 4)[b_at]
    weights = g.constant(sg, filt)
    if weights is None or not only_to(filt, p):
        return False
    act = int(getattr(op.builtinOptions, "fusedActivationFunction", 0) or 0)
    if scale is not None and (weights.dtype != np.float32 or act not in (g.fb.ActivationFunctionType.NONE, g.fb.ActivationFunctionType.RELU)
                              or (act and (np.asarray(scale) <= 0).any())):
        return False  # quantised weights, or a fused activation that a factor does not pass (ReLU passes a positive one)
    quant = sg.tensors[filt].quantization
    if quant is not None and quant.scale is not None and len(quant.scale) > 1:
        return False  # per-channel quantised: its scales would need the same order
    k = np.ones(len(perm), np.float32) if scale is None else np.asarray(scale, np.float32)
    if bias >= 0:
        b = g.constant(sg, bias)
        if b is None or not only_to(bias, p):
            return False
        g.set_constant(sg.tensors[bias], b[perm] * k.astype(b.dtype) if scale is not None else b[perm])
    g.set_constant(sg.tensors[filt], weights[perm] * k.reshape(-1, *([1] * (weights.ndim - 1))) if scale is not None else weights[perm])
    return True


def depth_to_space_as_moves(model_bytes: bytes) -> tuple[bytes, int]:
    """Write every DEPTH_TO_SPACE as RESHAPE → TRANSPOSE → RESHAPE (rank 6); and their count.

    The inverse of :func:`shuffles_to_depth_to_space` for tools that know the moves but not
    DEPTH_TO_SPACE: ai-edge-quantizer leaves DEPTH_TO_SPACE in float (and everything after
    it), so int8 quantisation runs on the moves and the quantised file gets its
    DEPTH_TO_SPACE back (same channel order: nothing to permute).
    """
    g = _Graph(model_bytes)
    fb = g.fb
    count = 0
    for sg in g.model.subgraphs:
        new_ops = []
        for op in sg.operators:
            if g.op_name(op) != "DEPTH_TO_SPACE":
                new_ops.append(op)
                continue
            x, y = _ints(op.inputs)[0], _ints(op.outputs)[0]
            n, h, w, c = _ints(sg.tensors[x].shape)
            r = int(op.builtinOptions.blockSize)
            src = sg.tensors[x]
            base = src.name.decode() if isinstance(src.name, bytes) else str(src.name)

            def tensor(shape, dtype, name, value=None):
                t = fb.TensorT()
                t.shape, t.type, t.name, t.buffer = list(shape), dtype, f"{base}/{name}", 0
                if value is not None:
                    g.set_constant(t, value)
                sg.tensors.append(t)
                return len(sg.tensors) - 1

            split = (n, h, w, r, r, c // (r * r))
            a = tensor(split, src.type, "d2s_split")
            b = tensor((n, h, r, w, r, c // (r * r)), src.type, "d2s_moved")
            s1 = tensor((6,), fb.TensorType.INT32, "d2s_split_shape", np.asarray(split, np.int32))
            pm = tensor((6,), fb.TensorType.INT32, "d2s_perm", np.asarray((0, 1, 3, 2, 4, 5), np.int32))
            s2 = tensor((4,), fb.TensorType.INT32, "d2s_shape", np.asarray(_ints(sg.tensors[y].shape), np.int32))
            for name, ins, out in (("RESHAPE", [x, s1], a), ("TRANSPOSE", [a, pm], b), ("RESHAPE", [b, s2], y)):
                o = fb.OperatorT()
                o.opcodeIndex, o.inputs, o.outputs = g.opcode_index(name), ins, [out]
                new_ops.append(o)
            count += 1
        sg.operators = new_ops
    if not count:
        return model_bytes, 0
    return g.to_bytes(), count


def _int32_tensor(g: _Graph, sg, name: str, value: np.ndarray | None = None, shape: tuple[int, ...] = (4,)) -> int:
    t = g.fb.TensorT()
    t.shape, t.type, t.name, t.buffer = list(shape), g.fb.TensorType.INT32, name, 0
    if value is not None:
        g.set_constant(t, np.asarray(value, np.int32))
    sg.tensors.append(t)
    return len(sg.tensors) - 1


def _op(g: _Graph, name: str, inputs: list[int], outputs: list[int], options: str | None = None):
    op = g.fb.OperatorT()
    op.opcodeIndex, op.inputs, op.outputs = g.opcode_index(name), inputs, outputs
    if options is not None:
        op.builtinOptionsType = getattr(g.fb.BuiltinOptions, options)
        op.builtinOptions = getattr(g.fb, options + "T")()
    return op


def transpose_conv_shapes_from_input(model_bytes: bytes) -> tuple[bytes, int]:
    """Give every TRANSPOSE_CONV with a constant output shape one computed from its input; and their count.

    A transposed convolution's output size is affine in its input size with the stride as
    slope (PyTorch: ``(in − 1)·s − 2p + k``), so ``out = in·s + (out₀ − in₀·s)`` from the one
    traced pair (in₀, out₀) holds at every size; the builtin kernel's check that the output
    shape gives back the input (``(out + s − k) / s`` for VALID, ``(out + s − 1) / s`` for
    SAME) then holds at every size too, since it held at the traced one. Batch follows the
    input, channels stay. For dynamic-shape files only (a static file's constant is right).
    Returns the input unchanged (count 0) when there is nothing to change.
    """
    g = _Graph(model_bytes)
    changed = 0
    for sg in g.model.subgraphs:
        new_ops = []
        for op in sg.operators:
            ins = _ints(op.inputs)
            const = g.constant(sg, ins[0]) if g.op_name(op) == "TRANSPOSE_CONV" else None
            x_shape = _ints(sg.tensors[ins[2]].shape) if const is not None else []
            if const is None or const.size != 4 or len(x_shape) != 4:
                new_ops.append(op)
                continue
            out, sh, sw = [int(v) for v in const], int(op.builtinOptions.strideH), int(op.builtinOptions.strideW)
            base = f"tconv{changed}_output_shape"
            shape = _int32_tensor(g, sg, f"{base}/input_shape")
            scale = _int32_tensor(g, sg, f"{base}/stride", [1, sh, sw, 0])
            scaled = _int32_tensor(g, sg, f"{base}/scaled")
            offset = _int32_tensor(g, sg, f"{base}/offset", [0, out[1] - x_shape[1] * sh, out[2] - x_shape[2] * sw, out[3]])
            result = _int32_tensor(g, sg, base)
            shape_op = _op(g, "SHAPE", [ins[2]], [shape], "ShapeOptions")
            shape_op.builtinOptions.outType = g.fb.TensorType.INT32
            new_ops += [shape_op, _op(g, "MUL", [shape, scale], [scaled], "MulOptions"),
                        _op(g, "ADD", [scaled, offset], [result], "AddOptions")]
            op.inputs = [result, *ins[1:]]
            new_ops.append(op)
            changed += 1
        sg.operators = new_ops
    if not changed:
        return model_bytes, 0
    return g.to_bytes(), changed


def transpose_convs_to_depth_to_space(model_bytes: bytes) -> tuple[bytes, int]:
    """Write every float TRANSPOSE_CONV whose kernel equals its stride (VALID padding) as a 1x1
    CONV_2D with ``stride²`` times the output channels and DEPTH_TO_SPACE; and their count.

    With kernel = stride = r, output pixel (r·h + a, r·w + b) is ``Σ_k x[h, w, k] · W[c, a, b, k]``
    (+ bias): a 1x1 convolution whose output channel ``(a·r + b)·C + c`` has the weights
    ``W[c, a, b, :]``, moved into place by DEPTH_TO_SPACE. Where that 1x1 convolution only
    reorders channels (a pixel shuffle's one-hot weights, no bias) and the convolution that
    feeds it can take the order instead, it is dropped. Returns the input unchanged (count 0)
    when there is nothing to replace.
    """
    g = _Graph(model_bytes)
    fb = g.fb
    replaced = 0
    for sg in g.model.subgraphs:
        ops = list(sg.operators)
        producer, _, only_to = _wiring(sg, ops)
        new_ops: dict[int, list] = {}
        for i, op in enumerate(ops):
            if g.op_name(op) != "TRANSPOSE_CONV":
                continue
            ins = _ints(op.inputs) + [-1] * 4
            w = g.constant(sg, ins[1])
            opt = op.builtinOptions
            r = int(opt.strideH)
            if (w is None or w.dtype != np.float32 or w.ndim != 4 or opt.padding != fb.Padding.VALID
                    or not (r == int(opt.strideW) == w.shape[1] == w.shape[2]) or r < 2):
                continue
            bias = g.constant(sg, ins[3]) if ins[3] >= 0 else None
            if ins[3] >= 0 and bias is None:
                continue
            cout, cin = w.shape[0], w.shape[3]
            weight = np.ascontiguousarray(w.transpose(1, 2, 0, 3).reshape(r * r * cout, 1, 1, cin))
            x, y = ins[2], _ints(op.outputs)[0]
            n, h, wd, _ = _ints(sg.tensors[x].shape)
            mid_t = fb.TensorT()
            mid_t.shape, mid_t.type, mid_t.buffer = [n, h, wd, r * r * cout], sg.tensors[y].type, 0
            mid_t.name = f"tconv{replaced}_as_conv1x1"
            sg.tensors.append(mid_t)
            mid = len(sg.tensors) - 1
            d2s = _op(g, "DEPTH_TO_SPACE", [mid, ], [y], "DepthToSpaceOptions")
            d2s.builtinOptions.blockSize = r
            perm, scale = _permutation(weight) if bias is None or not bias.any() else (None, None)
            act = int(getattr(opt, "fusedActivationFunction", 0) or 0)
            identity = perm is not None and np.array_equal(perm, np.arange(len(perm))) and (scale == 1).all()
            if perm is not None and not act and (identity or _permute_producer(g, sg, ops, producer, x, i, only_to, perm, scale)):
                d2s.inputs = [x]  # the feeding convolution writes the channels in DEPTH_TO_SPACE's order
                new_ops[i] = [d2s]
            else:
                conv = _op(g, "CONV_2D", [x, -1, -1], [mid], "Conv2DOptions")
                o = conv.builtinOptions
                o.padding, o.strideH, o.strideW, o.dilationHFactor, o.dilationWFactor = fb.Padding.VALID, 1, 1, 1, 1
                o.fusedActivationFunction = act  # element-wise: the same before or after the move
                wt = fb.TensorT()
                wt.shape, wt.type, wt.buffer, wt.name = list(weight.shape), fb.TensorType.FLOAT32, 0, f"tconv{replaced}_conv1x1_weight"
                g.set_constant(wt, weight)
                sg.tensors.append(wt)
                conv.inputs[1] = len(sg.tensors) - 1
                if bias is not None:
                    bt = fb.TensorT()
                    bt.shape, bt.type, bt.buffer, bt.name = [r * r * cout], fb.TensorType.FLOAT32, 0, f"tconv{replaced}_conv1x1_bias"
                    g.set_constant(bt, np.ascontiguousarray(np.tile(bias.astype(np.float32), r * r)))
                    sg.tensors.append(bt)
                    conv.inputs[2] = len(sg.tensors) - 1
                else:
                    conv.inputs = conv.inputs[:2]
                new_ops[i] = [conv, d2s]
            replaced += 1
        sg.operators = [o for i, op in enumerate(ops) for o in new_ops.get(i, [op])]
    if not replaced:
        return model_bytes, 0
    return g.to_bytes(), replaced


def _permutation(weight: np.ndarray) -> tuple[np.ndarray | None, np.ndarray | None]:
    """``(P, s)`` when the 1x1 weight ``[C, 1, 1, C]`` writes input channel ``P[j]`` times ``s[j]`` to
    output ``j`` and nothing else (a pixel shuffle's one-hot weights, maybe with a factor the
    converter folded in, as clamp01's ×6); else ``(None, None)``."""
    m = weight.reshape(weight.shape[0], weight.shape[3])
    if m.shape[0] != m.shape[1] or not ((m != 0).sum(axis=1) == 1).all():
        return None, None
    perm = np.abs(m).argmax(axis=1)
    if len(np.unique(perm)) != len(perm):
        return None, None
    return perm, m[np.arange(len(perm)), perm]
