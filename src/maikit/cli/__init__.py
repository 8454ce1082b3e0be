"""The ``mai`` command: a thin Typer layer over library functions.

Each command group lives in its own module here and exposes ``register(app)``; modules are
listed in ``_COMMAND_MODULES`` in the order their commands appear in ``mai --help``.
"""

from __future__ import annotations

import importlib

import typer

from maikit import __version__

_COMMAND_MODULES = (
    "data", "data_build", "isp", "metrics", "score", "models", "train", "predict",
    "export", "inspect", "bench", "eval", "demo",
)

app = typer.Typer(
    name="mai",
    help="maikit — Mobile AI challenge toolkit: learned ISP (RAW->RGB) and depth estimation "
    "(RGB->depth). Data, model zoo, training, TFLite export, runtime benchmark, official "
    "metrics and scores.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    rich_markup_mode="rich",
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"maikit {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Show the version."),
) -> None:
    pass


for _name in _COMMAND_MODULES:
    try:
        _mod = importlib.import_module(f"maikit.cli.{_name}")
    except ModuleNotFoundError as _e:
        if _e.name != f"maikit.cli.{_name}":
            raise
        continue
    _mod.register(app)


def main() -> None:
    app()
