"""Per-op profile of a .tflite (``mai bench --per-op``): which ops the time goes to.

LiteRT's Python API has no op-level profiler (benchmark_model's ``--enable_op_profiling`` is
part of the C++ tool). Here every op of the file is cut out into a model of its own — its
computed inputs become model inputs (fixed random values), its constants and quantisation stay
— and timed with the same interpreter settings (threads, XNNPACK) as the whole model. Weight
transforms of constants (DEQUANTIZE of fp16 weights, DENSIFY of sparse weights) run once when
the model is prepared, not per inference: they are not timed alone but travel with the op
that uses their result, so that op sees constant weights as in the whole model and XNNPACK
takes it the same way. Each row says whether XNNPACK took the op; an op that cannot run alone
(a custom op the runtime lacks, indices that random inputs put out of range, control flow)
is reported as not timed, with the reason, never as 0 ms. Two limits, by construction: ops
timed alone lose cross-op fusion (XNNPACK folds a zero PAD into the following convolution,
for example), and each timing includes one invoke's fixed cost, so the rows add up to more
than the whole model; the report gives the ratio. Use it to rank ops and op types.
"""

from __future__ import annotations

import copy
import os
import tempfile
from pathlib import Path
from typing import Iterator, NamedTuple


from maikit.errors import MaikitError, first_line

def _subgraph_options() -> frozenset[int]:
    from maikit.tflite.model import schema

    opts = schema().BuiltinOptions
    return frozenset(getattr(opts, n) for n in ("IfOptions", "WhileOptions", "CallOnceOptions", "CallOptions") if hasattr(opts, n))


# ops that only turn constant weights into the form the kernels take: done once at prepare time
WEIGHT_TRANSFORMS = frozenset({"DEQUANTIZE", "DENSIFY"})


class OpModel(NamedTuple):
    node: int
    op: str
    shape: list[int]
    data: bytes | None  # the one-op model; None when the op is not timed alone
    note: str | None  # why it is not timed alone


def single_op_models(path: str | os.PathLike, subgraph: int = 0) -> Iterator[OpModel]:
    """One :class:`OpModel` per op of ``subgraph`` (graph order)."""
    from maikit.tflite.model import Graph, ints, read_tflite

    path = Path(path)
    read_tflite(path)  # a missing, truncated or non-TFLite file: one-line error naming it
    g = Graph(path.read_bytes())
    if not 0 <= subgraph < len(g.model.subgraphs):
        raise MaikitError(f"no subgraph {subgraph} in the model ({len(g.model.subgraphs)} subgraphs)", path)
    sg = g.model.subgraphs[subgraph]
    if any(min(ints(t.shapeSignature), default=0) < 0 for t in sg.tensors if t.shapeSignature is not None):
        raise MaikitError("a per-op profile needs static shapes; this file has dynamic ones (profile model.tflite)", path)
    producer = {t: i for i, op in enumerate(sg.operators) for t in ints(op.outputs)}

    def weight_transform(i: int) -> bool:
        op = sg.operators[i]
        return g.op_name(op) in WEIGHT_TRANSFORMS and all(g.constant(sg, t) is not None for t in ints(op.inputs) if t >= 0)

    for node, op in enumerate(sg.operators):
        name = g.op_name(op) if g.op_name(op) != "CUSTOM" else g.custom_name(op)
        shape = ints(sg.tensors[ints(op.outputs)[0]].shape) if ints(op.outputs) else []
        if weight_transform(node):
            yield OpModel(node, name, shape, None, "weight transform of a constant: done once when the model is "
                                                   "prepared, timed inside the op that uses it")
            continue
        if op.builtinOptionsType in _subgraph_options():
            yield OpModel(node, name, shape, None, "control flow (runs other subgraphs): not cut out alone")
            continue
        feeders = [producer[t] for t in ints(op.inputs) if t >= 0 and t in producer and weight_transform(producer[t])]
        yield OpModel(node, name, shape, _cut(g, sg, [sg.operators[i] for i in feeders] + [op]), None)


def _cut(g, sg, ops: list) -> bytes:
    """A model of its own for ``ops`` (in order): constants travel with them, computed tensors
    not produced inside become model inputs, the last op's outputs are the model's outputs."""
    from maikit.tflite.model import ints

    fb = g.fb
    m = fb.ModelT()
    m.version, m.operatorCodes, m.buffers = g.model.version, g.model.operatorCodes, [fb.BufferT()]
    one = fb.SubGraphT()
    one.tensors, one.inputs, remap = [], [], {}
    made = {t for op in ops[:-1] for t in ints(op.outputs)}
    for op in ops:
        for t in ints(op.inputs) + ints(op.outputs) + ints(op.intermediates):
            if t < 0 or t in remap:
                continue
            tensor = copy.copy(sg.tensors[t])
            value = g.constant(sg, t)
            tensor.buffer = 0
            if value is not None:  # constants travel with the op
                g.set_constant(tensor, value, model=m)
            elif t in ints(op.inputs) and t not in made:  # computed inputs become model inputs
                one.inputs.append(len(one.tensors))
            remap[t] = len(one.tensors)
            one.tensors.append(tensor)
    one.operators = []
    for op in ops:
        single = copy.copy(op)
        single.inputs = [remap[t] if t >= 0 else -1 for t in ints(op.inputs)]
        single.outputs = [remap[t] for t in ints(op.outputs)]
        if op.intermediates is not None:
            single.intermediates = [remap[t] for t in ints(op.intermediates)]
        one.operators.append(single)
    one.outputs = list(one.operators[-1].outputs)
    m.subgraphs = [one]
    return bytes(g.fu.convert_object_to_bytearray(m))


class _OneOpBackend:
    """One op's model in LiteRT for :func:`maikit.runtime.loop.measure`, fed fixed random inputs."""

    name = "tflite-op"

    def __init__(self, path: Path, threads: int, xnnpack: bool, seed: int):
        self.path, self.threads, self.xnnpack, self.seed = path, threads, xnnpack, seed
        self.runner, self.delegated = None, False

    def load(self) -> None:
        from maikit.tflite.runner import ModelRunner

        self.runner = ModelRunner(self.path, threads=self.threads, xnnpack=self.xnnpack)

    def prepare(self) -> None:
        self.runner.prepare(seed=self.seed)
        self.delegated = any(d["op_name"] == "DELEGATE" for d in self.runner.interpreter._get_ops_details())

    def step(self) -> None:
        self.runner.invoke()

    def close(self) -> None:
        self.runner = None


def profile_ops(path: str | os.PathLike, *, threads: int = 2, xnnpack: bool = True, runs: int = 5,
                min_seconds: float = 0.05, seed: int = 0, progress=None, signature: str | None = None,
                model_ms: float | None = None) -> dict:
    """Time every op of ``path`` alone (see the module docstring), each with the measuring loop
    (one warm-up run, then at least ``runs`` runs and ``min_seconds``), with the same threads
    and delegate as the whole-model run.

    Returns ``{"ops": [{"node", "op", "shape", "ms", "delegated", "share"}], "by_type": {op:
    {"count", "timed", "ms", "share"}}, "sum_ms", "not_timed", "model_ms", "sum_over_model",
    "threads", "xnnpack"}``, ops in graph order; ``ms`` is the mean, None for an op not timed
    alone (its ``reason`` says why). ``model_ms``: the whole model's time, to compare the sum
    with. The runtime's own log lines ("failed to invoke", delegate notices) are kept off the
    terminal. ``progress(done, total)`` is called after each op.
    """
    from maikit.runtime.loop import LoopSettings, measure
    from maikit.tflite.runner import ModelRunner, native_stderr

    subgraph = ModelRunner(path, threads=1, signature=signature).subgraph if signature else 0
    settings = LoopSettings(runs=max(int(runs), 1), min_seconds=min_seconds, max_seconds=max(10.0, min_seconds),
                            warmup_runs=1, warmup_seconds=0.0)
    models = list(single_op_models(path, subgraph))
    rows = []
    with tempfile.TemporaryDirectory(prefix="mai-ops-") as tmp:
        for i, item in enumerate(models):
            row = {"node": item.node, "op": item.op, "shape": item.shape, "ms": None, "delegated": False}
            if item.data is None:
                row["reason"] = item.note
            else:
                one = Path(tmp) / f"op{item.node}.tflite"
                one.write_bytes(item.data)
                backend = _OneOpBackend(one, int(threads), bool(xnnpack), seed)
                try:
                    with native_stderr():
                        row["ms"] = measure(backend, settings).avg_ms
                except (MaikitError, ValueError, RuntimeError) as e:
                    reason = e.reason if isinstance(e, MaikitError) else first_line(e)
                    row["reason"] = "cannot run alone: " + reason[:160]
                row["delegated"] = backend.delegated
            rows.append(row)
            if progress is not None:
                progress(i + 1, len(models))
    timed = [r for r in rows if r["ms"] is not None]
    total = sum(r["ms"] for r in timed)
    by_type: dict[str, dict] = {}
    for r in rows:
        r["share"] = (r["ms"] / total) if r["ms"] is not None and total > 0 else None
        t = by_type.setdefault(r["op"], {"count": 0, "timed": 0, "ms": 0.0})
        t["count"] += 1
        if r["ms"] is not None:
            t["timed"] += 1
            t["ms"] += r["ms"]
    for t in by_type.values():
        if not t["timed"]:
            t["ms"] = None
        t["share"] = t["ms"] / total if t["ms"] is not None and total > 0 else None
    by_type = dict(sorted(by_type.items(), key=lambda kv: -(kv[1]["ms"] if kv[1]["ms"] is not None else -1.0)))
    return {
        "ops": rows, "by_type": by_type, "sum_ms": total, "not_timed": len(rows) - len(timed),
        "model_ms": model_ms, "sum_over_model": total / model_ms if model_ms else None,
        "threads": int(threads), "xnnpack": bool(xnnpack), "subgraph": subgraph, "signature": signature,
    }
