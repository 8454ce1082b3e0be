"""Every test folder has a conftest.py, so ``from conftest import X`` in a test module picks
whichever folder's conftest pytest loaded first (a failure only when folders run together, as
in `make test`). Helpers are imported from modules with names of their own."""

from __future__ import annotations

import re
from pathlib import Path

TESTS = Path(__file__).resolve().parent


def test_no_test_module_imports_from_conftest():
    pattern = re.compile(r"^\s*(from conftest import|import conftest)", re.M)
    offenders = [str(p.relative_to(TESTS)) for p in TESTS.rglob("*.py") if pattern.search(p.read_text())]
    assert offenders == []
