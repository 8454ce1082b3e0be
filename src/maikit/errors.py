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
