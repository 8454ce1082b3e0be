"""The child process a device backend runs a model in (``maikit.runtime.devices._child``, started by
``maikit.isolation.run_isolated``): it reads one JSON request on stdin and writes one reply line on stdout; LiteRT's native log
stays on stderr, where the parent reads it (delegate messages exist nowhere else)."""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

import numpy as np

from maikit.errors import MaikitError


def _fault_kind(text: str) -> str:
    if "failed to prepare" in text:
        return "prepare_failed"
    if "Didn't find op" in text or "unresolved custom op" in text:
        return "unsupported_op"
    return "not_a_model"


def _measure(req: dict) -> dict:
    from maikit.runtime.devices.base import MeasureProtocol, ModelFault
    from maikit.runtime.loop import measure
    from maikit.tflite import TfliteBackend

    p = MeasureProtocol.from_dict(req["protocol"])
    backend = TfliteBackend(req["file"], threads=p.threads, xnnpack=p.xnnpack, shape=p.shape, seed=p.seed)
    try:
        loop = measure(backend, p.loop_settings())
    except MaikitError as e:
        if e.reason.startswith("not a loadable TFLite model"):
            raise ModelFault(_fault_kind(e.reason), e.reason, e.file) from None
        raise
    return {"loop": loop.as_dict(), "delegate": backend.delegate}


def _measure_series(req: dict) -> dict:
    """Several measurements in this one child, in order (the drift reference before and after
    a submission): one interpreter start instead of three. A model fault names the item."""
    from maikit.runtime.devices.base import ModelFault

    loops, delegates = [], []
    for i, item in enumerate(req["items"]):
        try:
            reply = _measure(item)
        except ModelFault as e:
            e.details["item"] = i
            raise
        loops.append(reply["loop"])
        delegates.append(reply["delegate"])
    return {"loops": loops, "delegates": delegates}


class _CompiledBackend:
    """A CompiledModel as a loop backend (one fixed input, buffers created once)."""

    name = "litert-compiled"

    def __init__(self, path: str, accelerators: str, enforce_f32: bool, x: np.ndarray | None, seed: int):
        self.path, self.accelerators, self.enforce_f32, self.x, self.seed = path, accelerators, enforce_f32, x, seed

    def load(self) -> None:
        from ai_edge_litert.compiled_model import CompiledModel, GpuOptions, HardwareAccelerator, Options

        acc = HardwareAccelerator.CPU
        if self.accelerators == "gpu":
            acc = HardwareAccelerator.GPU | HardwareAccelerator.CPU
        opts = Options(hardware_accelerators=acc, gpu_options=GpuOptions(enforce_f32=self.enforce_f32))
        self.model = CompiledModel.from_file(self.path, options=opts)
        sig = list(self.model.get_signature_list())[0]
        self.in_detail = list(self.model.get_input_tensor_details(sig).values())[0]
        self.out_detail = list(self.model.get_output_tensor_details(sig).values())[0]
        self.inputs = self.model.create_input_buffers(0)
        self.outputs = self.model.create_output_buffers(0)

    def prepare(self) -> None:
        from maikit.tflite import random_input

        if self.x is None:
            self.x = random_input(self.in_detail["shape"], self.in_detail["dtype"], self.seed)
        self.inputs[0].write(np.ascontiguousarray(self.x))

    def step(self) -> None:
        self.model.run_by_index(0, self.inputs, self.outputs)

    def output(self) -> np.ndarray:
        d = self.out_detail
        n = int(np.prod(d["shape"]))
        return np.asarray(self.outputs[0].read(n, np.dtype(d["dtype"]))).reshape(d["shape"])

    def close(self) -> None:
        pass


def _gpu_check(req: dict) -> dict:
    from maikit.runtime.devices._litert import input_signature, op_names, static_copy
    from maikit.runtime.loop import measure

    path = req["file"]
    ops = op_names(path)
    sig = input_signature(path)
    shape = req.get("shape")
    tmp = None
    if shape is not None or min(sig) < 0:
        if shape is None:
            return {"error": {"kind": "input", "reason": f"the input shape {sig} is dynamic: give a static shape to check at"}}
        tmp = tempfile.TemporaryDirectory()
        path = str(static_copy(path, shape, Path(tmp.name) / "static.tflite"))
    reply = {"ops": ops, "checked_shape": list(shape) if shape is not None else sig}
    sys.stderr.write("MAIKIT-GPU-COMPILE\n")
    sys.stderr.flush()
    gpu = _CompiledBackend(path, "gpu", bool(req.get("enforce_f32")), None, int(req.get("seed", 0)))
    try:
        gpu.load()
    except RuntimeError as e:
        reply["compiled"] = False
        reply["compile_error"] = str(e).strip().splitlines()[-1][:300] if str(e).strip() else type(e).__name__
        return reply
    sys.stderr.write("MAIKIT-GPU-COMPILED\n")
    sys.stderr.flush()
    reply["compiled"] = True
    reply["fully_accelerated"] = bool(gpu.model.is_fully_accelerated())
    gpu.prepare()
    gpu.step()
    y_gpu = gpu.output().astype(np.float64)
    cpu = _CompiledBackend(path, "cpu", True, gpu.x, 0)
    cpu.load()
    cpu.prepare()
    cpu.step()
    y_cpu = cpu.output().astype(np.float64)
    diff = np.abs(y_gpu - y_cpu)
    reply["max_abs_diff"] = float(diff.max()) if diff.size else 0.0
    reply["mean_abs_diff"] = float(diff.mean()) if diff.size else 0.0
    reply["output_range"] = float(np.abs(y_cpu).max()) if y_cpu.size else 0.0
    if req.get("protocol"):
        from maikit.runtime.devices.base import MeasureProtocol

        settings = MeasureProtocol.from_dict(req["protocol"]).loop_settings()
        timing = _CompiledBackend(path, "gpu", bool(req.get("enforce_f32")), gpu.x, 0)
        reply["loop"] = measure(timing, settings).as_dict()
    return reply


def _per_op(req: dict) -> dict:
    """The per-op profile (``mai bench --per-op``), top ``top`` ops by time, and op types."""
    from maikit.runtime.opprofile import profile_ops

    prof = profile_ops(req["file"], threads=int(req["threads"]), xnnpack=bool(req.get("xnnpack", True)),
                       runs=int(req.get("runs", 5)), min_seconds=float(req.get("min_seconds", 0.05)))
    top = sorted(prof["ops"], key=lambda r: -(r["ms"] or 0))[: int(req.get("top", 10))]
    return {"top_ops": top, "by_type": prof["by_type"], "sum_ms": prof["sum_ms"], "op_count": len(prof["ops"])}


def _inspect(req: dict) -> dict:
    """Static op-compatibility findings for one target (``mai inspect``)."""
    from maikit.export.inspect import inspect_tflite

    rep = inspect_tflite(req["file"], targets=(req["target"],))
    return {"findings": rep["findings"], "ops": rep["ops"], "op_count": rep["op_count"]}


ACTIONS = {"measure": _measure, "measure_series": _measure_series, "gpu_check": _gpu_check, "per_op": _per_op, "inspect": _inspect}


def main() -> None:
    from maikit.runtime.devices.base import ModelFault, child_reply, limit_self

    req = json.loads(sys.stdin.read())
    limit_self(**req["limits"])
    try:
        reply = ACTIONS[req["action"]](req)
    except ModelFault as e:
        reply = {"error": {"kind": e.kind, "reason": e.reason, "details": e.details}}
    except MaikitError as e:
        reply = {"error": {"kind": "input", "reason": e.reason}}
    except MemoryError:
        reply = {"error": {"kind": "out_of_memory", "reason": "the model ran out of memory"}}
    except (RuntimeError, ValueError) as e:
        text = str(e).strip()
        kind = _fault_kind(text) if "failed to prepare" in text or "Didn't find op" in text else "invoke_failed"
        reply = {"error": {"kind": kind, "reason": text.splitlines()[0][:300] if text else type(e).__name__}}
    child_reply(reply)


if __name__ == "__main__":
    main()
