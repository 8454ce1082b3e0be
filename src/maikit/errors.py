"""The one error type a user can hit.

Every failure caused by input (a corrupt file, a wrong shape, a missing folder, missing
weights) raises :class:`MaikitError` naming the file and the reason. The CLI prints it as a
single line and exits non-zero; library callers (the future challenge server) can catch it
and show the same text to a participant.
"""

from __future__ import annotations

from os import PathLike


class MaikitError(Exception):
    """A user-facing error: ``file`` (may be None) and a short ``reason``."""

    def __init__(self, reason: str, file: str | PathLike | None = None):
        self.reason = reason
        self.file = None if file is None else str(file)
        super().__init__(self.__str__())

    def __str__(self) -> str:
        return f"{self.file}: {self.reason}" if self.file else self.reason


def first_line(e: BaseException, default: str | None = None) -> str:
    """The first line of an exception's text, for one-line messages that wrap a library failure.

    An exception without text gives ``default``, or its type name when ``default`` is None.
    """
    text = str(e).strip()
    if text:
        return text.splitlines()[0]
    return type(e).__name__ if default is None else default


_OS_ERROR_WORDS = (
    (FileNotFoundError, "does not exist"),
    (FileExistsError, "is in the way: a file exists where a folder is needed"),
    (NotADirectoryError, "is not a folder (a part of the path is a file)"),
    (IsADirectoryError, "is a folder, not a file"),
    (PermissionError, "permission denied"),
)

_WORDS = {
    "EOFError": "the file ends too early (truncated?)",
    "UnicodeDecodeError": "not text (undecodable bytes)",
    "JSONDecodeError": "not valid JSON",
    "MemoryError": "out of memory",
}


def describe(e: BaseException) -> str:
    """What went wrong, in words, for a one-line message (no bare exception names).

    OSErrors get a phrase for their kind (the caller names the path); JSON errors say where;
    other exceptions give the first line of their text, or a phrase for their type.
    """
    if isinstance(e, OSError):
        for kind, words in _OS_ERROR_WORDS:
            if isinstance(e, kind):
                return words
        return (e.strerror or first_line(e, default="input/output error")).lower()
    name = type(e).__name__
    if name == "JSONDecodeError":
        return f"not valid JSON ({e.msg} at line {e.lineno}, column {e.colno})"
    if name in _WORDS:
        return _WORDS[name]
    text = first_line(e, default="")
    if text:
        return text
    return {"ValueError": "invalid value", "TypeError": "wrong kind of value", "KeyError": "missing entry",
            "RuntimeError": "failed"}.get(name, f"failed ({name})")
