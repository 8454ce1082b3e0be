"""A script in benchmarks/ runs with that folder first on sys.path, so a file there named after a
standard-library module (e.g. platform.py) would be imported instead of it by every sibling
script and by the libraries they load (torch imports `platform`)."""

from __future__ import annotations

import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"


def test_no_benchmark_shadows_a_standard_library_module():
    names = {p.stem for p in BENCH.glob("*.py")}
    assert names, BENCH
    assert not names & set(sys.stdlib_module_names), sorted(names & set(sys.stdlib_module_names))
