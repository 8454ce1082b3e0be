"""Running a .tflite with the LiteRT interpreter, torch-free.

* :func:`open_interpreter` — the interpreter with the thread count always set explicitly
  (the Python interpreter defaults to 1 thread otherwise), XNNPACK on or off, the runtime's
  native log lines kept off the terminal, and one-line errors (a custom op the runtime lacks
  is named);
* :class:`ModelRunner` — any model, as LiteRT's ``benchmark_model`` takes it: every input and
  output of one subgraph (the main one, or a signature's), inputs by name, fixed shapes kept
  unless resizing is asked for;
* :class:`TfliteRunner` — the challenge's contract: one image in, one image out, float data
  fed to quantised (int8) inputs by their scale and zero point.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

from maikit.errors import MaikitError, first_line

_UNRESOLVED_CUSTOM = re.compile(r"unresolved custom op: ([^\s.]+)")


def quiet_tf_logs() -> None:
    """Keep LiteRT's native INFO/WARNING lines (delegate creation, ...) off the terminal."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


@contextlib.contextmanager
def native_stderr(lines: list[str] | None = None) -> Iterator[list[str]]:
    """Capture what native code writes to file descriptor 2 (LiteRT's "failed to invoke" and
    delegate lines) instead of letting it reach the terminal; the lines are appended to
    ``lines`` (returned) when the block ends."""
    lines = [] if lines is None else lines
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no usable fd 2 (embedded interpreters): nothing to capture
        yield lines
        return
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        try:
            yield lines
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            sink.seek(0)
            lines.extend(ln for ln in sink.read().decode("utf-8", "replace").splitlines() if ln.strip())


def runtime_error(e: BaseException, path: Path, what: str = "not a loadable TFLite model") -> MaikitError:
    """A one-line MaikitError for a LiteRT failure; a custom op the runtime lacks is named."""
    m = _UNRESOLVED_CUSTOM.search(str(e))
    if m:
        from maikit.export.targets import XNNPACK_CUSTOM_OPS

        op = m.group(1)
        if op in XNNPACK_CUSTOM_OPS:
            return MaikitError(f"the model uses custom op `{op}`, which only the XNNPACK delegate runs "
                               "(LiteRT's builtin kernels have none): keep XNNPACK on", path)
        return MaikitError(f"the model uses custom op `{op}`, which this LiteRT runtime has no kernel for "
                           "(it needs a runtime built with that op)", path)
    return MaikitError(f"{what} ({first_line(e)})", path)


def open_interpreter(path: str | os.PathLike, threads: int = 2, xnnpack: bool = True, **kwargs):
    """A LiteRT ``Interpreter`` for ``path`` with ``threads`` threads (XNNPACK unless ``xnnpack`` is False)."""
    quiet_tf_logs()
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    path = Path(path)
    if not path.is_file():
        raise MaikitError("file not found", path)
    if int(threads) < 1:
        raise MaikitError(f"`threads` must be at least 1, got {threads}")
    kwargs["num_threads"] = int(threads)
    if not xnnpack:
        kwargs["experimental_op_resolver_type"] = OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
    try:
        with native_stderr():
            return Interpreter(model_path=str(path), **kwargs)
    except (ValueError, RuntimeError) as e:
        raise runtime_error(e, path) from None


@dataclass(frozen=True)
class TensorInfo:
    """One input or output of a subgraph: ``shape`` as allocated now, ``signature`` as stored
    (-1 for dynamic dimensions), ``key`` the signature's name for it when there is one."""

    name: str
    key: str | None
    index: int
    shape: tuple[int, ...]
    signature: tuple[int, ...]
    dtype: np.dtype
    quantization: tuple[float, int]

    @property
    def dynamic(self) -> bool:
        return any(v < 0 for v in self.signature)

    def describe(self) -> dict:
        return {"name": self.key or self.name, "tensor": self.name, "shape": list(self.shape),
                "shape_signature": list(self.signature), "dtype": self.dtype.name}


def _tensor_info(d: dict, key: str | None) -> TensorInfo:
    shape = tuple(int(v) for v in d["shape"])
    sig = tuple(int(v) for v in d.get("shape_signature", d["shape"]))
    return TensorInfo(d["name"], key, int(d["index"]), shape, sig, np.dtype(d["dtype"]),
                      tuple(d.get("quantization", (0.0, 0))))


def fill_input(info: TensorInfo, shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    """A random input for ``info`` at ``shape``, filled by its type as benchmark_model does:
    floats uniform in [0, 1); quantised 8/16-bit integers over their full range; other
    integers (indices, counts, token ids) in 0-99 so that they stay in range for most graphs;
    booleans at random."""
    dtype = info.dtype
    if dtype.kind == "b":
        return rng.random(shape) < 0.5
    if dtype.kind in "iu":
        iinfo = np.iinfo(dtype)
        if info.quantization[0] or dtype.itemsize == 1:
            return rng.integers(iinfo.min, iinfo.max, size=shape, endpoint=True).astype(dtype)
        return rng.integers(0, min(99, iinfo.max), size=shape, endpoint=True).astype(dtype)
    if dtype.kind == "f":
        return rng.random(shape, dtype=np.float32).astype(dtype)
    raise MaikitError(f"input `{info.key or info.name}` has type {dtype.name}, which bench cannot fill: give it with --input")


class ModelRunner:
    """Any .tflite in LiteRT: one subgraph — the main one (subgraph 0), or the one a signature
    names — with all its inputs and outputs.

    :meth:`prepare` sizes and fills the inputs (given arrays by name, random values otherwise);
    a fixed-shape input is never resized unless ``resize`` is True. :meth:`invoke` runs the
    subgraph once and nothing else (no copies), as benchmark_model times it.
    """

    def __init__(self, path: str | os.PathLike, threads: int = 2, xnnpack: bool = True, signature: str | None = None):
        self.path = Path(path)
        self.interpreter = open_interpreter(self.path, threads, xnnpack)
        self.xnnpack = bool(xnnpack)
        self.delegate: dict | None = None  # what ran the model (:func:`delegation`), once prepared
        self._wrapper = self.interpreter._interpreter  # the per-subgraph calls SignatureRunner uses
        self.signatures = self.interpreter.get_signature_list()
        self.signature = signature
        if signature is not None:
            if signature not in self.signatures:
                have = ", ".join(f"`{k}`" for k in self.signatures) or "none"
                raise MaikitError(f"no signature `{signature}` in the model (signatures: {have})", self.path)
            runner = self.interpreter.get_signature_runner(signature)
            self.subgraph = int(runner._subgraph_index)
            self.inputs = [_tensor_info(d, k) for k, d in runner.get_input_details().items()]
            self.outputs = [_tensor_info(d, k) for k, d in runner.get_output_details().items()]
        else:
            self.subgraph = 0
            keys_in, keys_out = self._main_signature_keys()
            self.inputs = [_tensor_info(d, keys_in.get(int(d["index"]))) for d in self.interpreter.get_input_details()]
            self.outputs = [_tensor_info(d, keys_out.get(int(d["index"]))) for d in self.interpreter.get_output_details()]
        self.values: dict[str, np.ndarray] = {}

    def _main_signature_keys(self) -> tuple[dict[int, str], dict[int, str]]:
        """Tensor index -> signature key, for the signature of subgraph 0 if there is one."""
        for key, sig in self.interpreter._get_full_signature_list().items():
            if int(self._wrapper.GetSubgraphIndexFromSignature(key)) == 0:
                return ({int(v): k for k, v in sig["inputs"].items()}, {int(v): k for k, v in sig["outputs"].items()})
        return {}, {}

    def find_input(self, name: str) -> TensorInfo:
        for t in self.inputs:
            if name in (t.key, t.name):
                return t
        have = ", ".join(f"`{t.key or t.name}`" for t in self.inputs)
        raise MaikitError(f"no input `{name}` in the model (inputs: {have})", self.path)

    def prepare(self, values: dict[str, np.ndarray] | None = None, shapes: dict[str, tuple[int, ...]] | None = None,
                resize: bool = False, seed: int = 0) -> None:
        """Size, allocate and fill every input; ``values``/``shapes`` are keyed by input name."""
        values, shapes = dict(values or {}), dict(shapes or {})
        given = {self.find_input(k).index: np.asarray(v) for k, v in values.items()}
        sizes = {self.find_input(k).index: tuple(int(x) for x in v) for k, v in shapes.items()}
        rng = np.random.default_rng(seed)
        targets = {}
        for t in self.inputs:
            label = f"input `{t.key or t.name}`"
            shape = tuple(given[t.index].shape) if t.index in given else sizes.get(t.index)
            if shape is not None and t.index in given and t.index in sizes and tuple(sizes[t.index]) != shape:
                raise MaikitError(f"{label}: the array's shape {list(shape)} differs from the shape asked for {list(sizes[t.index])}", self.path)
            if shape is None:
                if t.dynamic:
                    raise MaikitError(f"{label} has a dynamic shape {list(t.signature)}: give a shape to measure at "
                                      "(--shape) or an input array", self.path)
                shape = t.shape
            if len(shape) != len(t.signature) or any(v < 1 for v in shape):
                raise MaikitError(f"{label}: shape {list(shape)} does not fit the model's {list(t.signature)}", self.path)
            fixed_clash = [i for i, (s, v) in enumerate(zip(t.signature, shape)) if s >= 0 and s != v]
            if fixed_clash and not resize:
                raise MaikitError(f"{label} is fixed at {list(t.signature)}, not {list(shape)}: resizing a fixed-shape "
                                  "model is allowed only when asked for (--resize)", self.path)
            targets[t.index] = shape
        log: list[str] = []
        try:
            with native_stderr(log):
                for t in self.inputs:
                    if targets[t.index] != t.shape:
                        self._wrapper.ResizeInputTensor(t.index, np.array(targets[t.index], np.int32), False, self.subgraph)
                self._wrapper.AllocateTensors(self.subgraph)
        except (ValueError, RuntimeError) as e:
            raise runtime_error(e, self.path, f"cannot prepare the model at inputs {list(targets.values())}") from None
        if self.delegate is None:  # the first allocation applies the default delegate
            self.delegate = delegation(self.interpreter, self.xnnpack, log)
        self._refresh()
        self.values = {}
        for t in self.inputs:
            x = given[t.index] if t.index in given else fill_input(t, t.shape, rng)
            if x.dtype != t.dtype:
                if x.dtype.kind == "f" and t.dtype.kind in "iu" and t.quantization[0]:
                    x = quantise(x, t)
                elif np.can_cast(x.dtype, t.dtype, "same_kind"):
                    x = x.astype(t.dtype)
                else:
                    raise MaikitError(f"input `{t.key or t.name}` is {t.dtype.name}, the array given is {x.dtype.name}", self.path)
            self._wrapper.SetTensor(t.index, np.ascontiguousarray(x), self.subgraph)
            self.values[t.key or t.name] = x

    def _refresh(self) -> None:
        details = lambda t: self.interpreter._get_tensor_details(t.index, self.subgraph)  # noqa: E731
        self.inputs = [_tensor_info(details(t), t.key) for t in self.inputs]
        self.outputs = [_tensor_info(details(t), t.key) for t in self.outputs]

    def invoke(self) -> None:
        try:
            self._wrapper.Invoke(self.subgraph)
        except (ValueError, RuntimeError) as e:
            raise runtime_error(e, self.path, "the model failed to run") from None

    def output(self, name: str | None = None) -> np.ndarray:
        t = self.outputs[0] if name is None else next(o for o in self.outputs if name in (o.key, o.name))
        return np.array(self._wrapper.GetTensor(t.index, self.subgraph))


def quantise(x: np.ndarray, t: TensorInfo) -> np.ndarray:
    """Float data for a quantised integer input, by its scale and zero point."""
    scale, zero = t.quantization
    info = np.iinfo(t.dtype)
    q = np.rint(np.asarray(x, np.float32) / np.float32(scale)) + zero
    return np.clip(q, info.min, info.max).astype(t.dtype)


_DELEGATE_NODE = "DELEGATE"  # the node a delegate puts in place of the nodes it took
_DELEGATE_TROUBLE = re.compile(r"cpuinfo|fail|error", re.IGNORECASE)  # what the runtime logs when a delegate cannot start
_DELEGATE_CREATED = re.compile(r"Created TensorFlow Lite XNNPACK delegate", re.IGNORECASE)


def delegation(interpreter, xnnpack: bool, log: list[str] | None = None) -> dict:
    """What ran the main subgraph of a prepared interpreter: the delegate actually applied, not the one asked for.

    ``{"requested", "name", "applied", "nodes", "ops_total", "partitions", "coverage", "reason"}``:
    ``nodes`` of the model's ``ops_total`` ops were taken by the delegate (``coverage``
    ``fully``/``partially``/``none``, as benchmark_model words it), in ``partitions`` delegate
    kernels. LiteRT applies XNNPACK lazily when tensors are first allocated and drops it
    silently where it cannot start (under qemu-user without ``/sys/devices/system/cpu/possible``
    its cpuinfo fails): the model then runs on the builtin kernels, and ``reason`` keeps the
    runtime's own log line about it from ``log`` (the native stderr of that allocation).
    """
    w = interpreter._interpreter
    n = int(w.NumNodes())
    names = [w.NodeName(i) for i in range(n)]
    ops_total = sum(1 for name in names if name != _DELEGATE_NODE)
    producer = {int(t): i for i in range(n) if names[i] != _DELEGATE_NODE for t in w.NodeOutputs(i)}
    taken: set[int] = set()
    partitions = 0
    for d in (i for i in range(n) if names[i] == _DELEGATE_NODE):
        partitions += 1
        # the kernel's inputs bound its partition: walk back from its outputs to them
        stop = {int(t) for t in w.NodeInputs(d)}
        todo = [int(t) for t in w.NodeOutputs(d)]
        while todo:
            t = todo.pop()
            i = producer.get(t)
            if t in stop or i is None or i in taken:
                continue
            taken.add(i)
            todo.extend(int(v) for v in w.NodeInputs(i) if v >= 0)
    requested = "XNNPACK" if xnnpack else None
    nodes = len(taken)
    coverage = "none" if not nodes else ("fully" if nodes == ops_total else "partially")
    reason = None
    if requested and not nodes:
        said = [ln.strip() for ln in log or [] if _DELEGATE_TROUBLE.search(ln)]
        if said:
            reason = said[0][:200]
        elif any(_DELEGATE_CREATED.search(ln) for ln in log or []):
            reason = f"{requested} started but took none of the model's ops (it supports none of them)"
        else:
            reason = "the runtime applied no delegate and logged no reason"
    return {"requested": requested, "name": requested, "applied": bool(nodes), "nodes": nodes, "ops_total": ops_total,
            "partitions": partitions, "coverage": coverage if requested else None, "reason": reason}


def delegate_not_applied(delegate: dict | None) -> str | None:
    """The flag for a result whose requested delegate did not apply (a :func:`delegation`
    record): one line saying so and why, or None."""
    if not isinstance(delegate, dict) or not delegate.get("requested") or delegate.get("applied", True):
        return None
    why = f" ({delegate['reason']})" if delegate.get("reason") else ""
    return (f"the requested {delegate['requested']} delegate did not apply{why}: all {delegate.get('ops_total', '?')} ops "
            "ran on LiteRT's builtin kernels, and the time is theirs")


def describe_delegation(d: dict | None) -> str | None:
    """One line for a fingerprint: what actually ran, e.g. "XNNPACK (12 of 14 nodes)" or
    "builtin kernels (XNNPACK requested, not applied)"."""
    if not d:
        return None
    if d.get("applied"):
        return f"{d['name']} ({d['nodes']} of {d['ops_total']} nodes)"
    if d.get("requested"):
        return f"builtin kernels ({d['requested']} requested, not applied)"
    return "builtin kernels"


class TfliteRunner:
    """A LiteRT interpreter for one .tflite file with one input and one output.

    ``run`` takes and returns float arrays also for quantised models: a float input is
    quantised with the input's scale/zero point, a quantised output dequantised.
    """

    def __init__(self, path: str | os.PathLike, threads: int = 2, xnnpack: bool = True):
        self.path = Path(path)
        self.interpreter = open_interpreter(self.path, threads, xnnpack)
        self._refresh()
        self._allocated = False
        try:
            with native_stderr():
                self.interpreter.allocate_tensors()
            self._allocated = True
        except (ValueError, RuntimeError) as e:
            # A dynamic file is stored at 1x1 height/width, which some graphs cannot prepare
            # (traced constants); it is allocated again at the real size in `resize`.
            if not self.dynamic:
                raise runtime_error(e, self.path) from None

    def _refresh(self) -> None:
        inputs, outputs = self.interpreter.get_input_details(), self.interpreter.get_output_details()
        if len(inputs) != 1 or len(outputs) != 1:
            raise MaikitError(
                f"this takes models with one input image and one output image (the task's contract); the model has "
                f"{len(inputs)} input(s) and {len(outputs)} output(s) (`mai bench` times any model)", self.path
            )
        self.input, self.output = inputs[0], outputs[0]

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(int(v) for v in self.input["shape"])

    @property
    def output_shape(self) -> tuple[int, ...]:
        return tuple(int(v) for v in self.output["shape"])

    @property
    def input_signature(self) -> tuple[int, ...]:
        """The input shape as stored, -1 for dynamic dimensions."""
        return tuple(int(v) for v in self.input.get("shape_signature", self.input["shape"]))

    @property
    def dynamic(self) -> bool:
        return any(v < 0 for v in self.input_signature)

    @property
    def input_dtype(self) -> np.dtype:
        return np.dtype(self.input["dtype"])

    def resize(self, shape: tuple[int, ...]) -> None:
        """Resize the input (for files with dynamic height/width)."""
        shape = tuple(int(v) for v in shape)
        if shape == self.input_shape and self._allocated:
            return
        # strict=False as before: fixed-shape files may be resized too (callers that must
        # respect the stored shape, like eval, check `input_signature` themselves)
        try:
            with native_stderr():
                self.interpreter.resize_tensor_input(self.input["index"], list(shape), strict=False)
                self.interpreter.allocate_tensors()
            self._allocated = True
        except (ValueError, RuntimeError) as e:
            raise runtime_error(e, self.path, f"cannot run at input shape {list(shape)}") from None
        self._refresh()

    def _quantise_input(self, x: np.ndarray) -> np.ndarray:
        dtype = self.input_dtype
        scale, zero = self.input.get("quantization", (0.0, 0))
        if dtype.kind in "iu" and np.asarray(x).dtype.kind == "f" and scale:
            info = np.iinfo(dtype)
            q = np.rint(np.asarray(x, np.float32) / np.float32(scale)) + zero
            return np.clip(q, info.min, info.max).astype(dtype)
        return np.ascontiguousarray(x, dtype=dtype)

    def set_input(self, x: np.ndarray) -> None:
        self.interpreter.set_tensor(self.input["index"], np.ascontiguousarray(self._quantise_input(x)))

    def invoke(self) -> None:
        self.interpreter.invoke()

    def get_output(self, dequantise: bool = True) -> np.ndarray:
        out = self.interpreter.get_tensor(self.output["index"]).copy()
        scale, zero = self.output.get("quantization", (0.0, 0))
        if dequantise and out.dtype.kind in "iu" and scale:
            out = (out.astype(np.float32) - np.float32(zero)) * np.float32(scale)
        return out

    def run(self, x: np.ndarray) -> np.ndarray:
        """Run one input (resizing dynamic inputs as needed) and return a copy of the output."""
        self.resize(tuple(x.shape))
        self.set_input(x)
        self.invoke()
        # an output sized by a computed shape (a TRANSPOSE_CONV's, from its input) is known only now
        self._refresh()
        return self.get_output()


def run_tflite(path: str | os.PathLike, x: np.ndarray, threads: int = 2) -> np.ndarray:
    return TfliteRunner(path, threads=threads).run(x)
