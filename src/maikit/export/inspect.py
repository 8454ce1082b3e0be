"""``inspect_tflite``: what is inside a .tflite file and where it will not run well.

Reads the flatbuffer with :func:`maikit.tflite.read_tflite` (torch-free, no TensorFlow):
size, inputs/outputs (shape with -1 for dynamic dimensions, dtype, quantisation), op
histogram, tensors of rank > 4, parameter count, a MACs estimate, and compatibility
findings per target in the style of TensorFlow's model analyzer (node index, op, reason),
against the op sets in :mod:`maikit.export.targets`.

Counting rules: ``params`` = elements of the constant tensors (unique buffers) that are
float, 8/16-bit integer, or int32 biases of conv/FC ops, so shape and permutation
constants are not counted. ``macs`` counts CONV_2D, DEPTHWISE_CONV_2D, TRANSPOSE_CONV,
FULLY_CONNECTED and BATCH_MATMUL from their tensor shapes; for files with dynamic
height/width it needs ``input_shape`` (shapes are then taken from a resized interpreter),
which also sizes a fixed-shape file at another shape.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable

import numpy as np

from maikit.errors import MaikitError, first_line
from maikit.export.targets import (
    GPU_CUSTOM_OPS, KNOWN_OP_REASONS, MAX_RANK, SUPPORTED_OPS, TARGET_TITLES, TARGETS, XNNPACK_CUSTOM_OPS,
)
from maikit.tflite.model import enum_names as _enum_names, read_tflite, schema as _schema  # noqa: F401  (re-exported)

_WEIGHT_OPS = {"CONV_2D": (1, 2), "DEPTHWISE_CONV_2D": (1, 2), "FULLY_CONNECTED": (1, 2), "TRANSPOSE_CONV": (1, 3)}
_PARAM_DTYPES = {"float32", "float16", "float64", "bfloat16", "int8", "uint8", "int16", "int4"}
_SHUFFLE_OPS = {"RESHAPE", "TRANSPOSE"}
MIN_SHUFFLE_CHAIN = 4  # pixel shuffle lowers to >= 4 alternating RESHAPE/TRANSPOSE ops


def _first_line(e: Exception) -> str:
    return first_line(e)[:120]


# --------------------------------------------------------------------------------------
# Counting
# --------------------------------------------------------------------------------------
def _io_entry(t: dict, key: str | None = None) -> dict:
    entry = {"name": t["name"], "shape": t["shape_signature"], "dtype": t["dtype"]}
    if key is not None:
        entry = {"key": key, **entry}
    if t["scale"]:
        entry["quantization"] = {"scale": t["scale"], "zero_point": t["zero_point"]}
    return entry


def count_params(sg: dict) -> int:
    """Elements of the weight-like constant tensors (unique buffers)."""
    tensors = sg["tensors"]
    bias_like = {op["inputs"][pos] for op in sg["ops"] if op["op"] in _WEIGHT_OPS
                 for pos in _WEIGHT_OPS[op["op"]][1:] if pos < len(op["inputs"]) and op["inputs"][pos] >= 0}
    seen, total = set(), 0
    for t in tensors:
        if not t["constant"] or t["buffer"] in seen:
            continue
        if t["dtype"] in _PARAM_DTYPES or (t["dtype"] == "int32" and t["index"] in bias_like):
            seen.add(t["buffer"])
            total += int(np.prod(t["shape"], dtype=np.int64)) if t["shape"] else 1
    return total


def _op_macs(op: dict, shape) -> int:
    name, ins, outs = op["op"], op["inputs"], op["outputs"]
    out = shape(outs[0]) if outs else []
    prod = lambda s: int(np.prod(s, dtype=np.int64)) if s else 0  # noqa: E731
    if name == "CONV_2D":
        f = shape(ins[1])  # [Co, Kh, Kw, Ci/groups]
        return prod(out) * f[1] * f[2] * f[3]
    if name == "DEPTHWISE_CONV_2D":
        f = shape(ins[1])  # [1, Kh, Kw, Co]
        return prod(out) * f[1] * f[2]
    if name == "TRANSPOSE_CONV":
        f, x = shape(ins[1]), shape(ins[2])  # weights [Co, Kh, Kw, Ci], input NHWC
        return prod(x) * f[0] * f[1] * f[2]
    if name == "FULLY_CONNECTED":
        w = shape(ins[1])  # [O, I]
        return prod(out) * w[-1]
    if name == "BATCH_MATMUL":
        a = shape(ins[0])
        return prod(out) * a[-1]
    return 0


def estimate_macs(sg: dict, shapes: dict[int, list[int]] | None = None) -> int:
    """Multiply-accumulates of the conv / FC / matmul ops (``shapes`` overrides stored shapes)."""
    tensors = sg["tensors"]

    def shape(i: int) -> list[int]:
        return list(shapes[i]) if shapes and i in shapes else tensors[i]["shape"]

    return int(sum(_op_macs(op, shape) for op in sg["ops"]))


def conv_share(sg: dict) -> float:
    """Share of a subgraph's arithmetic in conv / FC / matmul ops: their MACs over those MACs plus
    one operation per output element of every other op (elementwise, resize, memory moves).

    A model is *convolution-dominated* when this is ≥ 0.9 (``benchmarks/deploy.py``): that is
    where int8 kernels can pay off, while element-wise chains and data movement stay as slow.
    """
    tensors = sg["tensors"]

    def shape(i: int) -> list[int]:
        return tensors[i]["shape"]

    conv, other = 0, 0
    for op in sg["ops"]:
        m = _op_macs(op, shape)
        if m:
            conv += m
        else:
            other += sum(int(np.prod(shape(o), dtype=np.int64)) if shape(o) else 1 for o in op["outputs"])
    return conv / (conv + other) if conv + other else 0.0


def _resized_shapes(path: Path, input_shape: Iterable[int]) -> dict[int, list[int]]:
    from maikit.tflite.runner import native_stderr, open_interpreter

    it = open_interpreter(path, threads=1, xnnpack=False)
    try:
        with native_stderr():
            it.resize_tensor_input(it.get_input_details()[0]["index"], list(input_shape), strict=False)
            it.allocate_tensors()
    except (ValueError, RuntimeError) as e:
        raise MaikitError(f"cannot size the model at input {list(input_shape)} ({_first_line(e)})", path) from None
    return {d["index"]: [int(v) for v in d["shape"]] for d in it.get_tensor_details()}


def _macs_at(path: Path, main: dict, input_shape: list[int] | None) -> tuple[int | None, str | None]:
    """(MACs, note) of the main subgraph, at ``input_shape`` when given (see inspect_tflite)."""
    tensors = main["tensors"]
    sigs = [tensors[i]["shape_signature"] for i in main["inputs"]]
    dynamic = any(v < 0 for sig in sigs for v in sig)
    if input_shape is None:
        if dynamic:
            return None, "dynamic input shape: pass an input shape for a MACs estimate"
        return estimate_macs(main), None
    if len(sigs) != 1:
        return None, f"--shape sizes a model with one input; this one has {len(sigs)}"
    sig = sigs[0]
    if len(input_shape) != len(sig) or any(v < 1 for v in input_shape):
        raise MaikitError(f"`--shape` {list(input_shape)} does not fit the model's input {sig}: give {len(sig)} positive sizes", path)
    clash = [k for k, (s, v) in enumerate(zip(sig, input_shape)) if s >= 0 and s != v]
    if dynamic and clash:
        raise MaikitError(f"`--shape` {list(input_shape)} does not fit the model's input {sig}: dimension {clash[0]} "
                          f"is fixed at {sig[clash[0]]}", path)
    if not dynamic and not clash:
        return estimate_macs(main), None
    note = f"at input shape {list(input_shape)}"
    if not dynamic:
        note += f" (the file is fixed at {sig}; resized for this estimate only)"
    return estimate_macs(main, _resized_shapes(path, input_shape)), note


# --------------------------------------------------------------------------------------
# Findings
# --------------------------------------------------------------------------------------
def _shuffle_chains(sg: dict) -> list[list[int]]:
    """Runs of RESHAPE/TRANSPOSE ops, each feeding the next, of length >= MIN_SHUFFLE_CHAIN."""
    ops = sg["ops"]
    producer = {o: op["index"] for op in ops for o in op["outputs"]}
    consumers: dict[int, list[int]] = {}
    for op in ops:
        for i in op["inputs"]:
            consumers.setdefault(i, []).append(op["index"])
    chains, used = [], set()
    for op in ops:
        if op["op"] not in _SHUFFLE_OPS or op["index"] in used:
            continue
        prev = producer.get(op["inputs"][0]) if op["inputs"] else None
        if prev is not None and ops[prev]["op"] in _SHUFFLE_OPS:
            continue  # not the start of a run
        chain, cur = [op["index"]], op
        while True:
            nxt = consumers.get(cur["outputs"][0], []) if cur["outputs"] else []
            if len(nxt) != 1 or ops[nxt[0]]["op"] not in _SHUFFLE_OPS:
                break
            cur = ops[nxt[0]]
            chain.append(cur["index"])
        if len(chain) >= MIN_SHUFFLE_CHAIN and {ops[i]["op"] for i in chain} == _SHUFFLE_OPS:
            chains.append(chain)
            used.update(chain)
    return chains


def _finding(target: str, node: int | None, op: str, reason: str, severity: str = "error", subgraph: int = 0) -> dict:
    f = {"target": target, "node": node, "op": op, "reason": reason, "severity": severity}
    if subgraph:
        f["subgraph"] = subgraph
    return f


def _cpu_custom_op(name: str) -> tuple[str, str]:
    """(severity, reason) for a custom op on the CPU."""
    if name in XNNPACK_CUSTOM_OPS:
        return "warning", (f"custom op `{name}`: the XNNPACK delegate runs it (MediaPipe's op); LiteRT's builtin kernels "
                           "have none, so it fails where XNNPACK is off (--no-xnnpack) or cannot take it")
    if name.startswith("Flex"):
        return "error", f"Flex op `{name}` needs the Select TF ops library, which LiteRT's builtin runtime lacks"
    return "error", (f"custom op `{name}`: neither LiteRT's builtin kernels nor XNNPACK have it; the runtime must "
                     "register its kernel")


def _gpu_condition(op: dict, tensors: list[dict]) -> str | None:
    """The GPU delegate's per-op check beyond the op's name (docs/delegate-compatibility.md):
    the reason it refuses this node, or None when the node passes."""
    name = op["op"]
    ins = [tensors[i] for i in op["inputs"] if i >= 0]
    runtime = [t for t in ins if not t["constant"]]
    if name == "DENSIFY" and runtime:
        return "DENSIFY: the GPU delegate takes it only when its input is a constant (sparse weights densified once); here it is computed"
    if name == "DEQUANTIZE" and ins and ins[0]["dtype"] == "int16":
        return "DEQUANTIZE of int16: the GPU delegate dequantises fp16 and 8-bit inputs only"
    if name in ("CONV_2D", "DEPTHWISE_CONV_2D", "TRANSPOSE_CONV") and len(runtime) > 2:
        return f"{name} with {len(runtime)} computed inputs: the GPU delegate takes at most 2 (input and weights)"
    if name == "FULLY_CONNECTED":
        if ins and ins[0]["constant"]:
            return "FULLY_CONNECTED with a constant first input: the GPU delegate needs it computed"
        if len(runtime) > 2:
            return f"FULLY_CONNECTED with {len(runtime)} computed inputs: the GPU delegate takes at most 2"
    if name == "MEAN":
        axes = ins[1] if len(ins) > 1 else None
        if axes is None or not axes["constant"] or axes["dtype"] != "int32":
            return "MEAN: the GPU delegate needs its axes as a constant int32 tensor"
    if name in ("RESHAPE", "TRANSPOSE", "TILE", "QUANTIZE", "DEPTH_TO_SPACE", "SPACE_TO_DEPTH", "HARD_SWISH") and len(runtime) != 1:
        return f"{name} with {len(runtime)} computed inputs: the GPU delegate needs exactly one (the others constant)"
    if name in ("SLICE", "STRIDED_SLICE") and ins and len(ins[0]["shape_signature"]) not in (3, 4):
        return f"{name} of a rank-{len(ins[0]['shape_signature'])} tensor: the GPU delegate slices rank 3 or 4 only"
    if name in ("ADD", "MUL") and len(ins) != 2:
        return f"{name} with {len(ins)} inputs: the GPU delegate needs two"
    return None


def find_issues(model: dict, targets: Iterable[str]) -> list[dict]:
    """Compatibility findings per target: node, op, reason, severity (error = not delegated)."""
    findings: list[dict] = []
    main = model["subgraphs"][0]
    quantised = any(t["dtype"] in ("int8", "uint8", "int16") and t["scale"] for t in main["tensors"])
    for target in targets:
        title = TARGET_TITLES[target]
        supported = SUPPORTED_OPS.get(target)
        for s, sg in enumerate(model["subgraphs"]):
            tensors = sg["tensors"]
            if s == 0:
                for i in sg["inputs"]:
                    sig = tensors[i]["shape_signature"]
                    if target != "cpu" and any(v < 0 for v in sig):
                        findings.append(_finding(
                            target, None, "INPUT",
                            f"dynamic input shape {sig} (`{tensors[i]['name']}`): the {title} needs static shapes; "
                            "resize to a fixed shape before applying it (the runtime file model.tflite is fixed)",
                            "warning"))
            for op in sg["ops"]:
                name, node = op["op"], op["index"]
                used = [tensors[i] for i in op["inputs"] + op["outputs"] if i >= 0]
                if target == "cpu":
                    if op["custom"]:
                        severity, reason = _cpu_custom_op(name)
                        findings.append(_finding(target, node, name, reason, severity, s))
                    if any(t["dtype"] == "float64" for t in used):
                        findings.append(_finding(target, node, name, "float64 tensor: not accelerated by XNNPACK", "warning", s))
                    continue
                known = (name in GPU_CUSTOM_OPS) if (op["custom"] and target == "gpu") else (name in supported)
                if not known:
                    what = f"custom op `{name}`" if op["custom"] else name
                    reason = KNOWN_OP_REASONS.get(name, "{op} is not supported by the {title}").format(op=what, title=title)
                    findings.append(_finding(target, node, name, reason + "; it runs on the CPU and splits the graph", subgraph=s))
                elif target == "gpu" and (why := _gpu_condition(op, tensors)):
                    findings.append(_finding(target, node, name, why + "; it runs on the CPU and splits the graph", subgraph=s))
                rank = max((len(t["shape_signature"]) for t in used), default=0)
                if rank > MAX_RANK[target]:
                    why = " (pixel shuffle written as a rank-6 reshape/transpose)" if name in _SHUFFLE_OPS and rank == 6 else ""
                    findings.append(_finding(target, node, name, f"rank-{rank} tensor{why}: the {title} supports rank <= {MAX_RANK[target]}", subgraph=s))
                if any(t["dtype"] == "float64" for t in used):
                    findings.append(_finding(target, node, name, f"float64 tensor: not supported by the {title}", subgraph=s))
                if any(t["dtype"] == "int64" for t in used) and target == "npu":
                    findings.append(_finding(target, node, name, f"int64 tensor: not supported by the {title}", "warning", s))
            dynamic = s == 0 and any(v < 0 for i in sg["inputs"] for v in tensors[i]["shape_signature"])
            for op in sg["ops"] if dynamic else ():
                if op["op"] == "TRANSPOSE_CONV" and tensors[op["inputs"][0]]["constant"]:
                    findings.append(_finding(
                        target, op["index"], op["op"],
                        "TRANSPOSE_CONV with a constant output shape in a dynamic-shape model: other input sizes run "
                        "only where the runtime recomputes it (XNNPACK); the builtin kernel and delegates refuse them",
                        "warning", s))
            for chain in _shuffle_chains(sg) if target != "cpu" else ():
                findings.append(_finding(
                    target, chain[0], sg["ops"][chain[0]]["op"],
                    f"pixel shuffle lowered as a chain of {len(chain)} RESHAPE/TRANSPOSE ops (nodes {chain[0]}-{chain[-1]}): "
                    f"pure data movement on the {title}; DEPTH_TO_SPACE or a transposed convolution "
                    "(`mai export --gpu-friendly`) avoids it", "warning", s))
        if target == "npu" and not quantised:
            findings.append(_finding(target, None, "MODEL", "float model: NPUs run int8 (or fp16-relaxed) models; export with --precision int8", "warning"))
    return findings


def inspect_tflite(path: str | os.PathLike, targets: Iterable[str] = TARGETS, input_shape: Iterable[int] | None = None) -> dict:
    """Describe a .tflite file; see the module docstring for the counting rules.

    ``input_shape`` sizes the MACs estimate of a one-input model: a dynamic model at that
    shape, a fixed one resized to it for the estimate (the note says so). A shape of the wrong
    rank, with a size below 1, or against a fixed dimension of a dynamic input, is a
    MaikitError, as is a shape the model cannot be sized at.
    """
    path = Path(path)
    targets = tuple(targets)
    for t in targets:
        if t not in TARGETS:
            raise MaikitError(f"unknown target `{t}`; choose from {', '.join(TARGETS)}")
    model = read_tflite(path)
    main = model["subgraphs"][0]
    tensors = main["tensors"]
    ops: dict[str, int] = {}
    for sg in model["subgraphs"]:
        for op in sg["ops"]:
            ops[op["op"]] = ops.get(op["op"], 0) + 1
    dynamic = any(v < 0 for i in main["inputs"] for v in tensors[i]["shape_signature"])
    macs, macs_note = _macs_at(path, main, list(input_shape) if input_shape is not None else None)
    high_rank = [
        {"index": t["index"], "name": t["name"], "shape": t["shape_signature"]}
        for t in tensors if len(t["shape_signature"]) > 4
    ]
    return {
        "file": str(path),
        "size_bytes": model["size_bytes"],
        "inputs": [_io_entry(tensors[i]) for i in main["inputs"]],
        "outputs": [_io_entry(tensors[i]) for i in main["outputs"]],
        "dynamic": dynamic,
        "ops": dict(sorted(ops.items(), key=lambda kv: (-kv[1], kv[0]))),
        "op_count": sum(ops.values()),
        "subgraphs": len(model["subgraphs"]),
        "signatures": {
            key: {"subgraph": sig["subgraph"],
                  "inputs": [_io_entry(model["subgraphs"][sig["subgraph"]]["tensors"][i], name) for name, i in sig["inputs"].items()],
                  "outputs": [_io_entry(model["subgraphs"][sig["subgraph"]]["tensors"][i], name) for name, i in sig["outputs"].items()]}
            for key, sig in model["signatures"].items()},
        "tensors": len(tensors),
        "rank_gt4_tensors": high_rank,
        "params": count_params(main),
        "macs": macs,
        "macs_note": macs_note,
        "targets": list(targets),
        "findings": find_issues(model, targets),
    }
