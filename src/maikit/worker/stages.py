"""What a sandboxed child runs: preflight of uploaded files, fidelity, runtime.

Each function takes paths and plain values and returns a JSON-able dict; errors in the
submitted file raise MaikitError with the participant-facing reason. Fidelity and runtime
are maikit.eval's own functions, so the platform and ``mai eval`` agree to the digit.
"""

from __future__ import annotations

from pathlib import Path


def warm_up() -> None:
    """Import what the stages need before the wall clock starts (see ``sandbox``)."""
    import numpy  # noqa: F401
    from ai_edge_litert import interpreter  # noqa: F401

    import maikit.eval  # noqa: F401
    import maikit.export.inspect  # noqa: F401


def preflight(files: dict, task: str, target: str, code: str | None = None, code_unpacked_cap: int | None = None,
              input_shape: list[int] | None = None) -> dict:
    """Parse each file (``{"runtime": path, "fidelity": path}``), check its input and output
    shapes for the task and collect op-compatibility findings for ``target``; with ``code``, check
    the bundle's code archive too (:func:`maikit.archive.check_archive`: never unpacked, nothing
    in it run), at most ``code_unpacked_cap`` bytes unpacked. With ``input_shape`` (NHWC: the
    phase's timed shape) the runtime file must take it: a fixed input of another shape is
    refused naming both, a dynamic height/width is resized to it when timed."""
    from maikit.errors import MaikitError
    from maikit.export.inspect import inspect_tflite
    from maikit.taskspec import shape_in_layout
    from maikit.tasks import get_task

    spec = get_task(task)
    report: dict = {"files": {}, "findings": []}
    if code is not None:
        from maikit.archive import ArchiveCaps, check_archive

        caps = ArchiveCaps(max_unpacked_bytes=code_unpacked_cap) if code_unpacked_cap else ArchiveCaps()
        try:
            report["code"] = check_archive(code, caps)
        except MaikitError as e:
            raise MaikitError(f"code archive: {e.reason}") from None
    for role, path in files.items():
        path = Path(path)
        try:
            info = inspect_tflite(path, targets=(target,))
        except MaikitError as e:
            raise MaikitError(f"{role} file: {e.reason}") from None
        if len(info["inputs"]) != 1 or len(info["outputs"]) != 1:
            raise MaikitError(f"{role} file: expected one input and one output, got {len(info['inputs'])} and {len(info['outputs'])}")
        sig_in = info["inputs"][0]["shape"]
        sig_out = info["outputs"][0]["shape"]
        # the task owns the shape contract; the message names the file's role, not a server path
        layout = spec.detect_layout(tuple(sig_in), file=f"{role} file")
        spec.check_io(tuple(sig_in), tuple(sig_out), layout, file=f"{role} file")
        if role == "runtime" and input_shape is not None:
            want = shape_in_layout(tuple(input_shape), layout)
            if any(s >= 0 and s != w for s, w in zip(sig_in, want)):
                how = "fixed at" if min(sig_in) >= 0 else "fixed in part at"
                raise MaikitError(f"runtime file: its input is {how} {list(sig_in)}, but this phase times every model at "
                                  f"{want} ({layout.upper()}): export the runtime file at {want}, or with a dynamic "
                                  f"height and width (it is then resized to {want})")
        report["files"][role] = {k: info[k] for k in ("size_bytes", "inputs", "outputs", "dynamic", "ops", "op_count", "params")}
        report["files"][role]["layout"] = layout
        for f in info["findings"]:
            report["findings"].append({**f, "file": role})
    errors = [f for f in report["findings"] if f.get("severity") == "error"]
    if errors:
        f = errors[0]
        node = f" at node {f['node']}" if f.get("node") is not None else ""
        raise MaikitError(f"{f['file']} file: incompatible op {f['op']}{node} for {target}: {f['reason']}")
    if target == "gpu" and "runtime" in files:
        report["gpu_check"] = _gpu_check(Path(files["runtime"]), spec, report)
    return report


def _gpu_check(path: Path, spec, report: dict) -> dict:
    """The GPU delegate's own verdict on the runtime file (LiteRT's GPU accelerator, in a child
    process; software Vulkan on a machine without a GPU). Ops it rejects become warnings: they
    fall back to the CPU and slow the model, they do not stop it."""
    from maikit.runtime.devices import DeviceUnavailable, ModelFault
    from maikit.runtime.devices.litert_gpu import verify_gpu

    info = report["files"]["runtime"]
    shape = None
    if info["dynamic"]:
        lat = list(spec.latency_input_shape)
        shape = lat if info["layout"] == "nhwc" else [lat[0], lat[3], lat[1], lat[2]]
    try:
        check = verify_gpu(path, [f for f in report["findings"] if f.get("file") == "runtime"], shape)
    except (DeviceUnavailable, ModelFault) as e:
        return {"available": False, "reason": str(e)}
    for r in check["rejected"]:
        report["findings"].append({"target": "gpu", "node": None, "op": r["op"], "severity": "warning", "file": "runtime",
                                   "reason": f"the GPU delegate rejects it: {r['reason']} (runs on the CPU)"})
    return {"available": True, **{k: check[k] for k in ("checked_shape", "ops_total", "gpu_ops", "cpu_ops", "fully_on_gpu",
                                                          "rejected", "max_abs_diff", "outputs_match", "disagreements", "note")}}


def fidelity(file: str, task: str, split: str, convention: str | None, threads: int) -> dict:
    from maikit.eval import run_fidelity
    from maikit.tasks import get_raw_convention, get_task

    # the job names its task and RAW convention; they become objects here
    conv = get_raw_convention(convention) if convention else None
    return run_fidelity(file, get_task(task), split, conv, threads=threads)


def runtime(file: str, task: str, bench_kwargs: dict, input_shape: list[int] | None = None) -> dict:
    from maikit.eval import run_runtime
    from maikit.tasks import get_task

    return run_runtime(file, get_task(task), bench_kwargs, input_shape=input_shape)


def noop(**kwargs) -> dict:
    """Nothing (queue benchmarks)."""
    return {"noop": True}


def whoami() -> dict:
    """The child's pid, parent, session and CPU-time limit: the zygote's tests check that each
    request is a fresh child of the zygote with limits of its own."""
    import os
    import resource

    return {"pid": os.getpid(), "ppid": os.getppid(), "sid": os.getsid(0),
            "cpu_limit": resource.getrlimit(resource.RLIMIT_CPU)[0]}


def connect(host: str, port: int, timeout_s: float = 5.0) -> dict:
    """Try a TCP connection to ``host:port`` from the child: the check of the sandbox's
    network isolation (``{"connected": bool, "error": str | None}``)."""
    import socket

    try:
        with socket.create_connection((host, int(port)), timeout=timeout_s):
            return {"connected": True, "error": None}
    except OSError as e:
        return {"connected": False, "error": f"{type(e).__name__}: {e}"}
