"""Shared CLI plumbing: one-line errors, JSON output, Rich consoles.

Commands print results to stdout (a Rich table, or JSON with ``--json``) and progress to
stderr, so ``mai ... --json | jq`` always gets clean JSON.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import sys
import tempfile
from typing import TYPE_CHECKING, Any, Callable, Iterator

import typer
from rich.console import Console
from rich.markup import escape
from typer._click import exceptions as click_errors
from typer.core import TyperGroup

from maikit.errors import MaikitError, describe

if TYPE_CHECKING:
    from maikit.tasks import RawConvention

# Piped or redirected output gets a wide fixed width so tables stay readable in files and CI logs.
console = Console(width=None if sys.stdout.isatty() else 160)  # results
err_console = Console(stderr=True, width=None if sys.stderr.isatty() else 160)  # progress, warnings, errors

# Exit status of every command (README, "Exit status"):
EXIT_OK = 0
EXIT_PROBLEMS = 1  # the input has problems: a file, folder or value given is missing, malformed or out of
#                    range, or the command's own check found problems (data check, score --paper)
EXIT_ERROR = 2  # the command could not run: the command line cannot be parsed (unknown command or option,
#                 missing required argument) or something failed that is not the input's fault
EXIT_INTERRUPTED = 130


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, float) and not math.isfinite(obj):
        return None if math.isnan(obj) else (1e308 if obj > 0 else -1e308)
    if hasattr(obj, "item") and callable(obj.item) and getattr(obj, "ndim", 1) == 0:
        return _jsonable(obj.item())
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if hasattr(obj, "__fspath__"):
        return os.fspath(obj)
    return obj


def say(text: str, err: bool = False) -> None:
    """One line of plain text (no Rich markup or highlighting, never wrapped): on stdout, or
    on stderr with ``err``; for lines that carry names, paths and patterns as they are."""
    (err_console if err else console).print(text, highlight=False, markup=False, soft_wrap=True)


def print_json(obj: Any) -> None:
    sys.stdout.write(json.dumps(_jsonable(obj), indent=2) + "\n")
    sys.stdout.flush()


def parse_shape(text: str | None, option: str = "--shape", rank: int | None = 4) -> list[int] | None:
    """``"1x544x960x4"`` (or comma-separated) -> ``[1, 544, 960, 4]``; None stays None.

    Every dimension must be a positive integer and, when ``rank`` is given, there must be
    that many of them; otherwise a MaikitError names ``option``.
    """
    if not text:
        return None
    example = "1x544x960x4"
    try:
        dims = [int(v) for v in text.lower().replace(",", "x").split("x")]
    except ValueError:
        raise MaikitError(f"`{option}` must look like {example}, got {text!r}") from None
    if rank is not None and len(dims) != rank:
        raise MaikitError(f"`{option}` needs {rank} dimensions (N x H x W x C, like {example}), got {len(dims)} in {text!r}")
    if any(d < 1 for d in dims):
        raise MaikitError(f"`{option}` dimensions must be positive integers, got {text!r}")
    return dims


# Installed by the full install only (`pip install 'maikit[full]'`); the core install
# (`maikit[core]`) runs inspect, bench, eval, metrics and score without them.
FULL_INSTALL_MODULES = frozenset({"torch", "litert_torch", "ai_edge_quantizer", "onnx", "onnxruntime", "onnxscript",
                                  "matplotlib", "scipy", "skimage", "imageio", "colour_demosaicing", "rawpy"})


def needs_full_install(module: str | None) -> str | None:
    """The one-line message for a missing full-install module, or None for any other module."""
    top = (module or "").partition(".")[0]
    if top not in FULL_INSTALL_MODULES:
        return None
    return f"this needs the full install (`pip install 'maikit[full]'`): the `{top}` package is not installed"



def check_shape(shape: list[int] | None, model_shape, option: str = "--shape") -> None:
    """Refuse ``shape`` where it contradicts a fixed dimension of the model's input (-1 = free)."""
    if shape is None:
        return
    model_shape = [int(v) for v in model_shape]
    fmt = "x".join("?" if v < 0 else str(v) for v in model_shape)
    if len(shape) != len(model_shape):
        raise MaikitError(f"`{option}` has {len(shape)} dimensions but the model's input is {fmt}")
    for i, (given, fixed) in enumerate(zip(shape, model_shape)):
        if i and fixed >= 0 and given != fixed:  # i = 0: the batch size
            raise MaikitError(f"`{option}` {'x'.join(map(str, shape))} does not fit the model's input {fmt} "
                              f"(dimension {i} is fixed at {fixed})")


# option value checks live in maikit.options (the device evaluator uses them without this package)
from maikit.options import in_range, non_negative, positive  # noqa: E402,F401


# -- errors: handled once, for every command, by the root group --
def fail(message: str, code: int = EXIT_ERROR) -> "typer.Exit":
    """Print ``error: message`` on stderr and return the typer.Exit to raise."""
    print_error(message)
    return typer.Exit(code)


def print_error(message: str) -> None:
    err_console.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)


def error_exit(e: BaseException) -> tuple[str, int]:
    """The one-line message and exit status for an exception that ended a command."""
    if isinstance(e, MaikitError):
        return str(e), EXIT_PROBLEMS
    if isinstance(e, click_errors.ClickException):
        message = e.format_message()
        code = EXIT_PROBLEMS
        if not isinstance(e, click_errors.BadParameter) or isinstance(e, click_errors.MissingParameter):
            code = EXIT_ERROR
        ctx = getattr(e, "ctx", None)
        if isinstance(e, click_errors.UsageError) and ctx is not None:
            message = f"{message.rstrip('.')} (see `{ctx.command_path} --help`)"
        return message, code
    if isinstance(e, OSError) and e.filename is not None:  # a path the user gave, or one under it
        return f"{e.filename}: {describe(e)}", EXIT_PROBLEMS
    if isinstance(e, ModuleNotFoundError) and needs_full_install(e.name):
        return needs_full_install(e.name), EXIT_ERROR
    if isinstance(e, MemoryError):
        return describe(e), EXIT_ERROR
    return f"{describe(e)} ({type(e).__name__}; set MAI_DEBUG=1 for a traceback)", EXIT_ERROR


class MaiGroup(TyperGroup):
    """The ``mai`` command group: every command's errors become one line and an exit status.

    MaikitError, a bad option value and an OSError naming a path exit with 1 (the input has
    problems); a command line that cannot be parsed or an unexpected failure exits with 2
    (the command could not run); Ctrl-C exits with 130. Float options refuse NaN and
    infinity. Command modules get all of this by being registered on the app; set
    MAI_DEBUG=1 to see the traceback of an unexpected failure.
    """

    def make_context(self, info_name, args, parent=None, **extra):
        with _one_line_errors():  # the root's own options: `mai --bogus`
            return super().make_context(info_name, args, parent=parent, **extra)

    def invoke(self, ctx):
        with _one_line_errors():  # parsing the subcommand's options, and running it
            return super().invoke(ctx)


@contextlib.contextmanager
def _one_line_errors():
    try:
        yield
    except typer.Exit:  # --help, --version, typer.Exit(code): already handled
        raise
    except (KeyboardInterrupt, typer.Abort):
        print_error("interrupted")
        raise typer.Exit(EXIT_INTERRUPTED) from None
    except Exception as e:
        if os.environ.get("MAI_DEBUG") and not isinstance(e, (MaikitError, click_errors.ClickException)):
            raise
        message, code = error_exit(e)
        print_error(message)
        raise typer.Exit(code) from None


def handle_errors(fn: Callable) -> Callable:
    """No-op: errors of every command are handled by :class:`MaiGroup` (kept for old decorators)."""
    return fn


def raw_convention_option(raw_convention: str | None, old: str | None) -> str | None:
    """``--raw-convention``, or its old hidden name ``--convention``; both given must agree."""
    if raw_convention is not None and old is not None and raw_convention != old:
        raise MaikitError(f"`--raw-convention {raw_convention}` and its old name `--convention {old}` disagree; give one")
    return raw_convention if raw_convention is not None else old


def raw_convention_arg(raw_convention: str | None, old: str | None) -> RawConvention | None:
    """:func:`raw_convention_option` resolved to its :class:`~maikit.tasks.RawConvention` (None when not given)."""
    from maikit.tasks import get_raw_convention

    name = raw_convention_option(raw_convention, old)
    return None if name is None else get_raw_convention(name)


def usage_error(message: str) -> Exception:
    """An error in the form of the command line (options that do not go together, a missing
    choice): exit status 2 like an unknown option, with ``message`` on one line."""
    return click_errors.UsageError(message)


@contextlib.contextmanager
def quiet_libraries() -> Iterator[None]:
    """Keep what native libraries write to stderr (the converter's and LiteRT's log lines,
    torchao's "Failed to load ...so", XNNPACK's "Created delegate") off the terminal.

    File descriptor 2 points at a scratch file for the duration; ``err_console`` (progress,
    warnings) keeps writing to the real stderr. With MAI_DEBUG=1 nothing is hidden. Where
    stderr is not file descriptor 2 (a test runner's capture) this does nothing.
    """
    try:
        real_fd = sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):
        real_fd = -1
    if os.environ.get("MAI_DEBUG") or real_fd != 2:
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    terminal = os.fdopen(os.dup(saved), "w", buffering=1, encoding=sys.stderr.encoding, errors="replace")
    previous = err_console._file
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        err_console.file = terminal
        try:
            yield
        finally:
            try:
                sys.stderr.flush()
            except (OSError, ValueError):
                pass
            os.dup2(saved, 2)
            os.close(saved)
            err_console.file = previous
            terminal.close()
