"""``litert-cpu``: the LiteRT interpreter on this machine's CPU (the worker runs on the board
itself: a Raspberry Pi, a Jetson, an x86 box), XNNPACK on or off, threads set explicitly.

The model runs in a child process with memory, CPU-time and wall-clock limits; the loop is
``mai bench``'s (:func:`maikit.runtime.loop.measure`), so the two agree by construction. The
per-op profile is ``mai bench --per-op``'s (:mod:`maikit.runtime.opprofile`), in a child of its
own after the timed run.
"""

from __future__ import annotations

from pathlib import Path

from maikit.errors import MaikitError
from maikit.runtime.devices.base import (
    ChildLimits, MeasureProtocol, ProfileUnavailable, local_fingerprint, result_from_loop, run_child,
)
from maikit.tflite.runner import describe_delegation

PER_OP_METHOD = ("each op timed alone as a model of its own, same threads and delegate (no cross-op fusion; "
                 "each includes one invoke's fixed cost)")


class LitertCpuDevice:
    name = "litert-cpu"

    def __init__(self, limits: ChildLimits = ChildLimits()):
        self.limits = limits
        self.cancel = None  # a threading.Event that stops the running child

    def fingerprint(self) -> dict:
        return local_fingerprint()

    def health(self) -> dict:
        from maikit.runtime.devices.reference import reference_model

        try:
            self.measure(reference_model(), MeasureProtocol(runs=1, min_seconds=0.0, warmup_runs=0, warmup_seconds=0.0))
        except MaikitError as e:
            return {"ok": False, "reason": str(e)}
        return {"ok": True}

    def measure(self, path, protocol: MeasureProtocol = MeasureProtocol()) -> dict:
        path = Path(path)
        if not path.is_file():
            raise MaikitError("file not found", path)
        reply, _ = run_child({"action": "measure", "file": str(path), "protocol": protocol.to_dict()}, self.limits, file=path,
                             cancel=self.cancel)
        return self._result(reply["loop"], reply.get("delegate"), protocol)

    def _result(self, loop: dict, delegate: dict | None, protocol: MeasureProtocol) -> dict:
        fp = self.fingerprint()
        fp["delegate"] = describe_delegation(delegate)  # what ran, not what the protocol asked for
        return result_from_loop(loop, protocol, self.name, fp, delegate=delegate)

    def measure_series(self, items) -> list[dict]:
        """``[(path, protocol), ...]`` measured in order in one child (what ``measure`` gives for
        each): drift control times the reference before and after a submission this way, one
        interpreter start instead of three. A fault names the item (``details["item"]``)."""
        items = [(Path(path), protocol) for path, protocol in items]
        for path, _ in items:
            if not path.is_file():
                raise MaikitError("file not found", path)
        # the file a fault is reported against: the last item that is not the first's (the submission)
        blame = next((path for path, _ in items if path != items[0][0]), items[0][0])
        reply, _ = run_child({"action": "measure_series",
                              "items": [{"file": str(path), "protocol": protocol.to_dict()} for path, protocol in items]},
                             self.limits, file=blame, cancel=self.cancel)
        return [self._result(loop, delegate, protocol)
                for loop, delegate, (_, protocol) in zip(reply["loops"], reply["delegates"], items)]

    def profile(self, path, protocol: MeasureProtocol = MeasureProtocol(), top: int = 10) -> dict:
        """Every op timed alone (``mai bench --per-op``), the ``top`` slowest kept, and op types."""
        path = Path(path)
        if not path.is_file():
            raise MaikitError("file not found", path)
        if protocol.shape is not None:
            raise ProfileUnavailable("the per-op profile times the file as stored, and this one has a dynamic "
                                     "input shape (each op needs static shapes)")
        reply, _ = run_child({"action": "per_op", "file": str(path), "threads": protocol.threads,
                              "xnnpack": protocol.xnnpack, "top": int(top)}, self.limits, file=path, cancel=self.cancel)
        return {"method": PER_OP_METHOD, **reply}
