"""maikit.errors: the one-line text of wrapped library failures."""

from maikit.errors import MaikitError, first_line


def test_first_line_of_an_exception():
    assert first_line(RuntimeError("\n  XNNPack failed to prepare\nnode 39\n")) == "XNNPack failed to prepare"
    assert first_line(ValueError()) == "ValueError"
    assert first_line(ValueError(), default="") == ""
    assert first_line(MaikitError("bad header", "a.png")) == "a.png: bad header"
