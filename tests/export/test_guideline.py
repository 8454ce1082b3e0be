"""The generated optimisation guideline: the GPU conditions it lists are the table of
docs/delegate-compatibility.md, the measured section keeps to op types several sources
timed, and the cheapest op type per output element comes first."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from maikit.errors import MaikitError
from maikit.export.guideline import measured_ops, optimisation_guideline
from maikit.export.targets import GPU_CONDITIONS, XNNPACK_CUSTOM_OPS

DOC = Path(__file__).resolve().parents[2] / "docs" / "delegate-compatibility.md"


def test_the_gpu_conditions_are_the_documented_table():
    section = DOC.read_text().split("## GPU delegate: conditions beyond the op's name", 1)[1].split("\n## ", 1)[0]
    documented = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 3 and re.match(r"^[A-Z_0-9, ]+$", cells[0]) and cells[0] != "op":
            for op in cells[0].split(", "):
                documented[op] = cells[1]
    assert documented == GPU_CONDITIONS


def _row(op: str, ms: float, elems: int | None = None, delegated=True) -> dict:
    return {"op": op, "ms": ms, "delegated": delegated, **({"shape": [1, elems]} if elems else {})}


def test_measured_ops_keep_types_timed_by_enough_sources_cheapest_per_element_first():
    profiles = [("a", {"ops": [_row("CONV_2D", 4.0, 1_000_000), _row("ADD", 1.0, 1_000_000, False), _row("CUMSUM", 9.0)]}),
                ("b", {"ops": [_row("CONV_2D", 2.0, 1_000_000), _row("ADD", 3.0, 1_000_000)]}),
                ("b", {"ops": [_row("CUMSUM", 9.0)]}),  # the same source again does not count twice
                ("c", {"ops": [_row("CONV_2D", 6.0, 2_000_000), _row("ADD", 0.5, 500_000), {"op": "MUL", "ms": None}]}),
                ("d", None)]
    rows = measured_ops(profiles, min_sources=3)
    assert [r["op"] for r in rows] == ["ADD", "CONV_2D"]
    add, conv = rows
    # ADD: 1000, 3000, 1000 us per million elements -> median 1000; 2 of 3 nodes delegated
    assert (add["median_us_per_melem"], add["median_ms"], add["nodes"], add["sources"]) == (1000.0, 1.0, 3, 3)
    assert add["delegated_share"] == pytest.approx(2 / 3)
    assert conv["median_us_per_melem"] == 3000.0 and conv["median_ms"] == 4.0
    assert [r["op"] for r in measured_ops(profiles, min_sources=2)] == ["ADD", "CONV_2D", "CUMSUM"]


def test_the_cpu_guideline_names_xnnpacks_custom_ops_and_an_unknown_target_is_refused():
    text = optimisation_guideline("cpu", challenge="Demo", protocol={"device": "litert-cpu", "threads": 2, "min_runs": 50,
                                                                    "min_seconds": 1.0, "statistic": "avg"},
                                  input_shape=(1, 544, 960, 4))
    assert text.startswith("# Model optimisation guideline: CPU (builtin kernels + XNNPACK) (Demo)")
    assert all(f"`{op}`" in text for op in XNNPACK_CUSTOM_OPS)
    assert "Device `litert-cpu`, 2 thread(s), input 1x544x960x4" in text
    npu = optimisation_guideline("npu")
    assert "--precision int8" in npu and "| `DEPTH_TO_SPACE` |" in npu and "| `SELECT` |" in npu
    with pytest.raises(MaikitError, match="unknown target `tpu`"):
        optimisation_guideline("tpu")
