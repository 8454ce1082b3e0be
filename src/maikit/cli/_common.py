"""Shared CLI plumbing: one-line errors, JSON output, Rich consoles.

Commands print results to stdout (a Rich table, or JSON with ``--json``) and progress to
stderr, so ``mai ... --json | jq`` always gets clean JSON.
"""

from __future__ import annotations

import functools
import json
import math
import os
import sys
from typing import Any, Callable

import typer
from rich.console import Console

from maikit.errors import MaikitError, first_line

# Piped or redirected output gets a wide fixed width so tables stay readable in files and CI logs.
console = Console(width=None if sys.stdout.isatty() else 160)  # results
err_console = Console(stderr=True, width=None if sys.stderr.isatty() else 160)  # progress, warnings, errors

EXIT_PROBLEMS = 1  # the command ran, and found problems in the input (e.g. data check)
EXIT_ERROR = 2  # the command could not run: bad input, bad arguments


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


def print_json(obj: Any) -> None:
    sys.stdout.write(json.dumps(_jsonable(obj), indent=2) + "\n")
    sys.stdout.flush()


def parse_shape(text: str | None, option: str = "--shape") -> list[int] | None:
    """``"1x544x960x4"`` (or comma-separated) -> ``[1, 544, 960, 4]``; None stays None."""
    if not text:
        return None
    try:
        return [int(v) for v in text.lower().replace(",", "x").split("x")]
    except ValueError:
        raise MaikitError(f"`{option}` must look like 1x544x960x4, got {text!r}") from None


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


def fail(message: str, code: int = EXIT_ERROR) -> "typer.Exit":
    from rich.markup import escape

    err_console.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


def handle_errors(fn: Callable) -> Callable:
    """Turn MaikitError (and other failures) into a one-line message and a non-zero exit.

    Set MAI_DEBUG=1 to see the full traceback of unexpected errors.
    """

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except (typer.Exit, typer.Abort, SystemExit):
            raise
        except MaikitError as e:
            raise fail(str(e)) from None
        except KeyboardInterrupt:
            raise fail("interrupted", 130) from None
        except Exception as e:  # pragma: no cover - last line of defence
            if isinstance(e, ModuleNotFoundError) and needs_full_install(e.name):
                raise fail(needs_full_install(e.name)) from None
            if os.environ.get("MAI_DEBUG"):
                raise
            msg = first_line(e, default="")
            raise fail(f"{type(e).__name__}: {msg} (set MAI_DEBUG=1 for a traceback)") from None

    return wrapper
