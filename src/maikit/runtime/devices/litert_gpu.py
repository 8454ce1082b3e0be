"""``litert-gpu``: LiteRT's GPU accelerator through the CompiledModel API.

On a machine without a GPU it runs on Mesa's software Vulkan (lavapipe, version 25 or newer,
``scripts/system-deps.sh``), which makes it a real mobile-GPU compatibility check (the same
op support rules LiteRT's GPU delegate applies on a phone): which ops the GPU path rejects
and why, how many ops run on the GPU and how many fall back to the CPU (supported ops after a
rejected one can fall back too: the counts include them), and whether the outputs match the
CPU within the precision mode (fp16-like by default, ``enforce_f32`` for float32). Its
timings on software Vulkan say nothing about a phone GPU and are reported as such.

What the delegate says goes to native stderr only, so the check runs in a child process
(``_child``) and this module parses that text (``docs/device-backends.md`` has the lines).
"""

from __future__ import annotations

import re
from pathlib import Path

from maikit.errors import MaikitError
from maikit.runtime.devices.base import (
    ChildLimits, DeviceUnavailable, MeasureProtocol, ModelFault, ProfileUnavailable, local_fingerprint,
    result_from_loop, run_child,
)

NO_PER_OP = ("no per-op profile on litert-gpu: LiteRT's CompiledModel Python API has no op profiler, and ops timed "
             "alone on software Vulkan would say nothing about a phone's GPU; the findings say which ops fall back to the CPU")

# max |gpu - cpu| relative to the output's range that each precision mode is held to
TOLERANCE = {"fp16": 1e-2, "fp32": 1e-4}

_UNSUPPORTED_HEAD = "Following operations are not supported by GPU delegate"
_OP_LINE = re.compile(r"^([A-Z][A-Z0-9_]*): (.*?\.)(?:\s+(\S.*))?$")
_COUNTS = re.compile(r"(\d+) operations? will run on the GPU, and the remaining (\d+) operations? will run on the CPU")
_NO_DEVICE = ("No adapters found", "Found no drivers", "Failed to initialize WebGPU", "vkCreateInstance failed")


def parse_gpu_log(text: str) -> dict:
    """Rejected ops (op, reason, node names) and the GPU/CPU op counts from the delegate's stderr."""
    rejected: list[dict] = []
    counts = None
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i].strip()
        if _UNSUPPORTED_HEAD in line:
            i += 1
            while i < len(lines):
                m = _OP_LINE.match(lines[i].strip())
                if not m:
                    break
                rejected.append({"op": m.group(1), "reason": m.group(2), "where": m.group(3)})
                i += 1
            continue
        m = _COUNTS.search(line)
        if m:
            counts = (int(m.group(1)), int(m.group(2)))
        i += 1
    return {"rejected": rejected, "counts": counts,
            "no_device": next((s for s in _NO_DEVICE if s in text), None)}


def gpu_check(path, shape=None, *, precision: str = "fp16", protocol: MeasureProtocol | None = None,
              limits: ChildLimits = ChildLimits(), cancel=None) -> dict:
    """Compile ``path`` for the GPU accelerator (+ CPU fallback) in a child process and report
    the delegate's verdict. Raises :class:`DeviceUnavailable` without a usable Vulkan device."""
    if precision not in TOLERANCE:
        raise MaikitError(f"`precision` must be fp16 or fp32, got {precision!r}")
    path = Path(path)
    if not path.is_file():
        raise MaikitError("file not found", path)
    req = {"action": "gpu_check", "file": str(path), "shape": list(shape) if shape else None,
           "enforce_f32": precision == "fp32", "protocol": protocol.to_dict() if protocol else None}
    reply, err = run_child(req, limits, file=path, cancel=cancel)
    log = parse_gpu_log(err)
    if not reply.get("compiled"):
        if log["no_device"]:
            raise DeviceUnavailable(f"no usable Vulkan device for LiteRT's GPU accelerator ({log['no_device']})")
        raise ModelFault("delegate_not_applied", f"the GPU accelerator could not compile the model ({reply.get('compile_error')})", path)
    if log["no_device"]:  # compiled, but on the CPU alone
        raise DeviceUnavailable(f"no usable Vulkan device for LiteRT's GPU accelerator ({log['no_device']})")
    total = len(reply["ops"])
    if log["counts"] is not None:
        gpu_ops, cpu_ops = log["counts"]
    elif reply["fully_accelerated"]:
        gpu_ops, cpu_ops = total, 0
    else:
        gpu_ops, cpu_ops = None, None
    rng = max(reply["output_range"], 1e-6)
    rel = reply["max_abs_diff"] / rng
    out = {
        "file": str(path),
        "checked_shape": reply["checked_shape"],
        "precision": precision,
        "ops_total": total,
        "gpu_ops": gpu_ops,
        "cpu_ops": cpu_ops,
        "fully_on_gpu": bool(reply["fully_accelerated"]) and not log["rejected"] and (cpu_ops in (0, None)),
        "rejected": log["rejected"],
        "max_abs_diff": reply["max_abs_diff"],
        "relative_diff": rel,
        "outputs_match": rel <= TOLERANCE[precision],
        "tolerance": TOLERANCE[precision],
        "note": "software Vulkan (lavapipe): op support is the GPU delegate's, timings are not a phone's",
    }
    if "loop" in reply:
        out["loop"] = reply["loop"]
    return out


class LitertGpuDevice:
    """Measures on LiteRT's GPU accelerator; the result carries the compatibility check."""

    name = "litert-gpu"

    def __init__(self, precision: str = "fp16", limits: ChildLimits = ChildLimits()):
        self.precision, self.limits = precision, limits
        self.cancel = None  # a threading.Event that stops the running child

    def fingerprint(self) -> dict:
        fp = local_fingerprint()
        fp["accelerator"] = "LiteRT GPU (WebGPU over Vulkan)"
        return fp

    def health(self) -> dict:
        from maikit.runtime.devices.reference import reference_model

        try:
            gpu_check(reference_model(), precision=self.precision, limits=self.limits)
        except (DeviceUnavailable, ModelFault) as e:
            return {"ok": False, "reason": str(e)}
        return {"ok": True}

    def measure(self, path, protocol: MeasureProtocol = MeasureProtocol()) -> dict:
        check = gpu_check(path, protocol.shape, precision=self.precision, protocol=protocol, limits=self.limits,
                          cancel=self.cancel)
        loop = check.pop("loop")
        result = result_from_loop(loop, protocol, self.name, self.fingerprint(), compatibility=check)
        # the inference's thread waits on the GPU: its CPU time is not the inference's cost
        result.update({f"cpu_{k}": None for k in ("avg_ms", "std_ms", "min_ms", "max_ms", "p50_ms", "p90_ms", "samples_ms")})
        result["notes"].append(check["note"])
        return result

    def profile(self, path, protocol: MeasureProtocol = MeasureProtocol(), top: int = 10) -> dict:
        raise ProfileUnavailable(NO_PER_OP)


def _static_shape_for(path: Path, shape) -> list[int] | None:
    """The shape to check a dynamic file at: the one given, or the task's latency shape when
    an export.json next to the file says which task it is for."""
    from maikit.runtime.devices._litert import input_signature

    if shape:
        return [int(v) for v in shape]
    sig = input_signature(path)
    if min(sig) >= 0:
        return None
    rec = path.parent / "export.json"
    try:
        import json

        task = json.loads(rec.read_text()).get("task")
    except (OSError, ValueError):
        task = None
    if task:
        from maikit.tasks import get_task

        return list(get_task(task).latency_input_shape)
    raise MaikitError(f"the input shape {sig} is dynamic: give --shape to check it at (e.g. 1x544x960x4)", path)


def verify_gpu(path, static_findings: list[dict] | None = None, shape=None, *, precision: str = "fp16",
               limits: ChildLimits = ChildLimits()) -> dict:
    """The GPU delegate's real verdict beside the static findings for target ``gpu``.

    For ``mai inspect --target gpu --verify`` and the platform's preflight. Returns the check
    (:func:`gpu_check`) plus ``disagreements``: ops the static rules flag that the delegate
    took (``static_only``) and ops the delegate rejected that the static rules missed
    (``delegate_only``). Raises :class:`DeviceUnavailable` without a usable Vulkan device.
    """
    path = Path(path)
    check = gpu_check(path, _static_shape_for(path, shape), precision=precision, limits=limits)
    static_ops = sorted({f["op"] for f in static_findings or [] if f.get("target") == "gpu"
                         and f.get("severity") == "error" and f.get("node") is not None})
    rejected_ops = sorted({r["op"] for r in check["rejected"]})
    check["static_error_ops"] = static_ops
    check["disagreements"] = {
        "static_only": [op for op in static_ops if op not in rejected_ops],
        "delegate_only": [op for op in rejected_ops if op not in static_ops],
    }
    check["agree"] = not check["disagreements"]["static_only"] and not check["disagreements"]["delegate_only"]
    return check
