"""Per-op profile of a .tflite (``mai bench --per-op``): which ops the time goes to.

LiteRT's Python API has no op-level profiler (benchmark_model's ``--enable_op_profiling`` is
part of the C++ tool). Here every op of the file is cut out into a model of its own — its
computed inputs become model inputs (fixed random values), its constants and quantisation stay
— and timed with the same interpreter settings as the whole model. Each row says whether the
XNNPACK delegate took the op. Two limits, by construction: ops timed alone lose cross-op
fusion (XNNPACK folds a zero PAD into the following convolution, for example), and each
timing includes one invoke's fixed cost, so the rows add up to more than the whole model. Use
it to rank ops and op types, not to sum them.
"""

from __future__ import annotations

import copy
import os
import tempfile
from pathlib import Path
from typing import Iterator

import numpy as np

from maikit.errors import MaikitError, first_line


def single_op_models(path: str | os.PathLike) -> Iterator[tuple[int, str, list[int], bytes]]:
    """(node index, op name, output shape, one-op model bytes) for every op of the first subgraph."""
    from maikit.tflite.model import Graph, ints, read_tflite

    path = Path(path)
    read_tflite(path)  # a missing, truncated or non-TFLite file: one-line error naming it
    g = Graph(path.read_bytes())
    fb = g.fb
    sg = g.model.subgraphs[0]
    if any(min(ints(t.shapeSignature), default=0) < 0 for t in sg.tensors if t.shapeSignature is not None):
        raise MaikitError("a per-op profile needs static shapes; this file has dynamic ones (profile model.tflite)", path)
    for node, op in enumerate(sg.operators):
        m = fb.ModelT()
        m.version, m.operatorCodes, m.buffers = g.model.version, g.model.operatorCodes, [fb.BufferT()]
        one = fb.SubGraphT()
        one.tensors, one.inputs, remap = [], [], {}
        for t in ints(op.inputs) + ints(op.outputs) + ints(op.intermediates):
            if t < 0 or t in remap:
                continue
            tensor = copy.copy(sg.tensors[t])
            value = g.constant(sg, t)
            tensor.buffer = 0
            if value is not None:  # constants travel with the op
                g.set_constant(tensor, value, model=m)
            elif t in ints(op.inputs):  # computed inputs become model inputs
                one.inputs.append(len(one.tensors))
            remap[t] = len(one.tensors)
            one.tensors.append(tensor)
        single = copy.copy(op)
        single.inputs = [remap[t] if t >= 0 else -1 for t in ints(op.inputs)]
        single.outputs = [remap[t] for t in ints(op.outputs)]
        if op.intermediates is not None:
            single.intermediates = [remap[t] for t in ints(op.intermediates)]
        one.outputs, one.operators = list(single.outputs), [single]
        m.subgraphs = [one]
        shape = ints(sg.tensors[ints(op.outputs)[0]].shape)
        yield node, g.op_name(op), shape, bytes(g.fu.convert_object_to_bytearray(m))


class _OneOpBackend:
    """One op's model in LiteRT for :func:`maikit.runtime.loop.measure`, fed fixed random inputs."""

    name = "tflite-op"

    def __init__(self, path: Path, kwargs: dict, rng: np.random.Generator):
        self.path, self.kwargs, self.rng = path, kwargs, rng
        self.it, self.delegated = None, False

    def load(self) -> None:
        from ai_edge_litert.interpreter import Interpreter

        self.it = Interpreter(model_path=str(self.path), **self.kwargs)
        self.it.allocate_tensors()
        self.delegated = any(d["op_name"] == "DELEGATE" for d in self.it._get_ops_details())

    def prepare(self) -> None:
        for d in self.it.get_input_details():
            dtype = np.dtype(d["dtype"])
            if dtype.kind == "f":
                x = self.rng.random(d["shape"], dtype=np.float32).astype(dtype)
            else:
                info = np.iinfo(dtype)
                x = self.rng.integers(max(info.min, -128), min(info.max, 127), size=d["shape"], endpoint=True).astype(dtype)
            self.it.set_tensor(d["index"], x)

    def step(self) -> None:
        self.it.invoke()

    def close(self) -> None:
        self.it = None


def profile_ops(path: str | os.PathLike, *, threads: int = 2, xnnpack: bool = True, runs: int = 5,
                min_seconds: float = 0.05, seed: int = 0, progress=None) -> dict:
    """Time every op of ``path`` alone (see the module docstring), each with the measuring loop
    (one warm-up run, then at least ``runs`` runs and ``min_seconds``).

    Returns ``{"ops": [{"node", "op", "shape", "ms", "delegated", "share"}], "by_type": {op:
    {"count", "ms", "share"}}, "sum_ms", "threads", "xnnpack"}``, ops in graph order; ``ms`` is
    the mean. An op that cannot run alone (e.g. indices that random inputs put out of range)
    has ``ms`` None and an ``error``. ``progress(done, total)`` is called after each op.
    """
    from ai_edge_litert.interpreter import OpResolverType

    from maikit.runtime.loop import LoopSettings, measure
    from maikit.tflite.runner import quiet_tf_logs

    quiet_tf_logs()
    kwargs = {"num_threads": int(threads)}
    if not xnnpack:
        kwargs["experimental_op_resolver_type"] = OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
    settings = LoopSettings(runs=max(int(runs), 1), min_seconds=min_seconds, max_seconds=max(10.0, min_seconds),
                            warmup_runs=1, warmup_seconds=0.0)
    rng = np.random.default_rng(seed)
    models = list(single_op_models(path))
    rows = []
    with tempfile.TemporaryDirectory(prefix="mai-ops-") as tmp:
        for i, (node, name, shape, data) in enumerate(models):
            row = {"node": node, "op": name, "shape": shape, "ms": None, "delegated": False}
            one = Path(tmp) / f"op{node}.tflite"
            one.write_bytes(data)
            backend = _OneOpBackend(one, kwargs, rng)
            try:
                row["ms"] = measure(backend, settings)["avg_ms"]
            except (ValueError, RuntimeError) as e:
                row["error"] = first_line(e)[:120]
            row["delegated"] = backend.delegated
            rows.append(row)
            if progress is not None:
                progress(i + 1, len(models))
    total = sum(r["ms"] for r in rows if r["ms"] is not None)
    by_type: dict[str, dict] = {}
    for r in rows:
        r["share"] = (r["ms"] / total) if r["ms"] is not None and total > 0 else None
        t = by_type.setdefault(r["op"], {"count": 0, "ms": 0.0})
        t["count"] += 1
        t["ms"] += r["ms"] or 0.0
    for t in by_type.values():
        t["share"] = t["ms"] / total if total > 0 else None
    by_type = dict(sorted(by_type.items(), key=lambda kv: -kv[1]["ms"]))
    return {"ops": rows, "by_type": by_type, "sum_ms": total, "threads": int(threads), "xnnpack": bool(xnnpack)}
