"""The model optimisation guideline of a target, generated (Markdown): which ops it runs, under
which conditions, what splits the graph or slows it, and which op types measured fastest.

The reports' participants "were additionally provided with a detailed model optimization
guideline demonstrating the restrictions and the most efficient setups for each supported
TFLite op" (ISP report, runtime evaluation). Here it is not written by hand per challenge:
the op sets and conditions are :mod:`maikit.export.targets`' (those ``mai inspect`` checks,
docs/delegate-compatibility.md gives their sources), and the "measured" section is built from
the per-op profiles device workers stored with their runtime results (``op_profile``, see
:func:`maikit.runtime.opprofile.profile_ops` and the phone's operator table in
:mod:`maikit.runtime.devices.adb`).

An op type enters the measured section only when profiles from at least ``min_sources``
different sources (participants) timed it, so the guideline never tells one team what
another team's model holds.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable

from maikit.errors import MaikitError
from maikit.export.inspect import MIN_SHUFFLE_CHAIN
from maikit.export.targets import (GPU_CONDITIONS, GPU_CUSTOM_OPS, KNOWN_OP_REASONS, MAX_RANK, SUPPORTED_OPS,
                                   TARGET_TITLES, TARGETS, XNNPACK_CUSTOM_OPS)

MIN_SOURCES = 3


def measured_ops(profiles: Iterable[tuple[str, dict]], min_sources: int = MIN_SOURCES) -> list[dict]:
    """Per op type, from ``(source, op_profile)`` pairs: the median time per node, the median
    time per million output elements (where the profile has output shapes), the share of
    nodes the delegate (XNNPACK on a CPU) took, and how many nodes and sources; only types
    timed by at least ``min_sources`` sources, cheapest per element (else per node) first."""
    per_type: dict[str, dict] = {}
    for source, prof in profiles:
        for row in (prof or {}).get("ops") or []:
            if row.get("ms") is None or not row.get("op"):
                continue
            t = per_type.setdefault(row["op"], {"ms": [], "us_per_melem": [], "delegated": 0, "nodes": 0, "sources": set()})
            t["ms"].append(float(row["ms"]))
            t["nodes"] += 1
            t["delegated"] += bool(row.get("delegated"))
            t["sources"].add(source)
            elems = 1
            for d in row.get("shape") or []:
                elems *= max(int(d), 1)
            if row.get("shape"):
                t["us_per_melem"].append(float(row["ms"]) * 1000.0 / (elems / 1e6))
    out = []
    for op, t in per_type.items():
        if len(t["sources"]) < min_sources:
            continue
        out.append({"op": op, "nodes": t["nodes"], "sources": len(t["sources"]), "median_ms": statistics.median(t["ms"]),
                    "median_us_per_melem": statistics.median(t["us_per_melem"]) if t["us_per_melem"] else None,
                    "delegated_share": t["delegated"] / t["nodes"]})
    out.sort(key=lambda r: (r["median_us_per_melem"] is None, r["median_us_per_melem"] or r["median_ms"], r["op"]))
    return out


def _table(head: list[str], rows: list[list[str]]) -> list[str]:
    def cell(v: str) -> str:
        return str(v).replace("|", "\\|").replace("\n", " ")

    return ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)] + ["| " + " | ".join(map(cell, r)) + " |" for r in rows]


def _ops_section(target: str) -> list[str]:
    title = TARGET_TITLES[target]
    if target == "cpu":
        return [
            "## Ops the target runs", "",
            "Every TFLite builtin op has a kernel in the runtime. XNNPACK takes the float and int8 nodes it "
            "knows and runs them faster; the rest run on the builtin kernels. Of the custom ops, XNNPACK runs "
            + ", ".join(f"`{o}`" for o in sorted(XNNPACK_CUSTOM_OPS))
            + " (MediaPipe's), which fail where XNNPACK is off; any other custom op needs its own kernel "
              "and Flex ops need the Select TF ops library: both fail here.", ""]
    lines = ["## Ops the target runs", "",
             f"The {title} takes these builtin ops; any other op runs on the CPU and splits the graph "
             "(each split costs a copy between the accelerator and the CPU).", ""]
    conditions = GPU_CONDITIONS if target == "gpu" else {}
    rows = [[f"`{op}`", conditions.get(op, "")] for op in sorted(SUPPORTED_OPS[target])]
    lines += _table(["op", "taken only when" if conditions else "conditions"], rows)
    if target == "gpu":
        lines += ["", "Custom ops it takes (by custom code): " + ", ".join(f"`{o}`" for o in sorted(GPU_CUSTOM_OPS)) + "."]
    return lines + [""]


def _rules_section(target: str) -> list[str]:
    title = TARGET_TITLES[target]
    rules = []
    if target != "cpu":
        rules += [f"Tensors of rank above {MAX_RANK[target]} are not supported by the {title}: keep every tensor "
                  "NHWC (a pixel shuffle written as a rank-6 reshape/transpose trips this).",
                  f"A dynamic input shape cannot be delegated: the {title} needs static shapes, so the runtime file "
                  "(model.tflite) has a fixed input.",
                  f"A pixel shuffle lowered as a chain of {MIN_SHUFFLE_CHAIN} or more RESHAPE/TRANSPOSE ops is pure data "
                  "movement: write it as DEPTH_TO_SPACE or a transposed convolution (`mai export --gpu-friendly`).",
                  f"float64 tensors are not supported by the {title}."]
        rules += [r.format(title=title) + "." for op, r in sorted(KNOWN_OP_REASONS.items()) if op not in SUPPORTED_OPS[target]]
    else:
        rules += ["float64 tensors are not accelerated by XNNPACK: keep the model float32 (or int8)."]
    if target == "npu":
        rules += ["NPUs run int8 (or fp16-relaxed) models: export with `--precision int8`; a float model runs slowly or "
                  "falls back.", f"int64 tensors are not supported by the {title}."]
    rules.append("A TRANSPOSE_CONV with a constant output shape in a dynamic-shape model runs at other input sizes only "
                 "where the runtime recomputes it (XNNPACK); the builtin kernel and delegates refuse them.")
    return ["## What splits the graph or slows it", "", *[f"- {r}" for r in rules], ""]


def _measured_section(rows: list[dict], min_sources: int, device: str | None) -> list[str]:
    where = f" on `{device}`" if device else ""
    lines = ["## Measured on this platform", ""]
    if not rows:
        return lines + [f"No op type has been timed{where} by the per-op profiles of at least {min_sources} participants "
                        "yet; this section fills in as submissions are measured (device workers store a per-op profile "
                        "with each runtime result).", ""]
    lines += [f"Per-op profiles stored with the runtime results{where}, op types timed for at least {min_sources} "
              "participants, cheapest per output element first. Where one piece of work can be written with different "
              "ops, prefer the cheaper; ops the delegate did not take run on the builtin kernels.", ""]
    table = [[f"`{r['op']}`", f"{r['median_us_per_melem']:.1f}" if r["median_us_per_melem"] is not None else "—",
              f"{r['median_ms']:.3f}", f"{100 * r['delegated_share']:.0f}%", str(r["nodes"])] for r in rows]
    return lines + _table(["op", "µs per million output elements (median)", "ms per node (median)",
                           "nodes the delegate took", "nodes timed"], table) + [""]


def optimisation_guideline(target: str, *, challenge: str | None = None, task_title: str | None = None,
                           protocol: dict | None = None, input_shape: Iterable[int] | None = None,
                           profiles: Iterable[tuple[str, dict]] = (), min_sources: int = MIN_SOURCES,
                           version: str | None = None) -> str:
    """The guideline for ``target`` (cpu, gpu or npu) as Markdown; ``profiles``: ``(source,
    op_profile)`` pairs measured on the target's device (see :func:`measured_ops`)."""
    if target not in TARGETS:
        raise MaikitError(f"unknown target `{target}`; choose from {', '.join(TARGETS)}")
    from maikit import __version__

    title = TARGET_TITLES[target]
    head = f"# Model optimisation guideline: {title}" + (f" ({challenge})" if challenge else "")
    lines = [head, "",
             f"Generated by maikit {version or __version__} from the op tables and rules that `mai inspect` checks"
             " and from the per-op timings the platform's device workers measured. Check a model before uploading:"
             f" `mai inspect model.tflite --target {target}` (the same findings the upload's preflight gives) and"
             " `mai bench model.tflite --per-op` (where the time goes on your machine).", ""]
    if protocol:
        shape = f", input {'x'.join(str(v) for v in input_shape)}" if input_shape else ""
        lines += ["## How the runtime is measured", "",
                  f"Device `{protocol.get('device')}`, {protocol.get('threads')} thread(s){shape}; at least "
                  f"{protocol.get('min_runs')} runs and {protocol.get('min_seconds')} s after warm-up; the score uses the "
                  f"{protocol.get('statistic')} time" + (f" ({task_title})" if task_title else "") + ".", ""]
    lines += _ops_section(target)
    lines += _rules_section(target)
    lines += _measured_section(measured_ops(profiles, min_sources), min_sources, (protocol or {}).get("device"))
    return "\n".join(lines)
