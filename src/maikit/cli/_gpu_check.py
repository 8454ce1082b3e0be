"""Printing the GPU delegate check (``mai inspect --target gpu --verify``)."""

from __future__ import annotations

from maikit.cli._common import console


def print_gpu_check(c: dict) -> None:
    shape = "x".join(str(v) for v in c["checked_shape"])
    counts = "?" if c["gpu_ops"] is None else f"{c['gpu_ops']} on the GPU, {c['cpu_ops']} on the CPU"
    console.print(f"[bold]GPU delegate check[/] (LiteRT GPU accelerator, {c['precision']}, at {shape}): "
                  f"{c['ops_total']} ops: {counts}", highlight=False)
    for r in c["rejected"]:
        console.print(f"  rejected {r['op']}: {r['reason']}", highlight=False)
    console.print(f"  outputs vs CPU: max |diff| {c['max_abs_diff']:.3g} "
                  f"({'within' if c['outputs_match'] else 'OUTSIDE'} the {c['precision']} tolerance)", highlight=False)
    d = c["disagreements"]
    if c["agree"]:
        console.print("  static findings and the delegate agree", highlight=False)
    for op in d["static_only"]:
        console.print(f"  disagreement: static rules flag {op}, the delegate took it", highlight=False)
    for op in d["delegate_only"]:
        console.print(f"  disagreement: the delegate rejected {op}, the static rules did not flag it", highlight=False)
    console.print(f"  note: {c['note']}", highlight=False)
