"""The ``mai`` command: a thin Typer layer over library functions.

Each command group lives in its own module here and exposes ``register(app)``; modules are
listed in ``_COMMAND_MODULES`` in the order their commands appear in ``mai --help``.
"""

from __future__ import annotations

import importlib

import typer

from maikit import __version__
from maikit.cli._common import MaiGroup

_COMMAND_MODULES = (
    "data", "data_build", "isp", "metrics", "score", "models", "train", "predict",
    "export", "inspect", "bench", "eval", "device", "demo",
    "serve", "submit", "bundle", "challenge", "submission", "worker",
)

app = typer.Typer(
    name="mai",
    cls=MaiGroup,
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


def _register_unavailable(name: str, missing: str) -> None:
    """A stand-in for a command whose module needs the full install: one line, exit 2."""

    @app.command(name, help=f"(needs the full install: `{missing}` is not installed)",
                 context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
    def _unavailable() -> None:
        from maikit.cli._common import fail, needs_full_install

        raise fail(f"mai {name}: {needs_full_install(missing)}")


for _name in _COMMAND_MODULES:
    try:
        _mod = importlib.import_module(f"maikit.cli.{_name}")
    except ModuleNotFoundError as _e:
        if _e.name == f"maikit.cli.{_name}":
            continue
        from maikit.cli._common import needs_full_install

        if not needs_full_install(_e.name):
            raise
        _register_unavailable(_name, _e.name)
        continue
    _mod.register(app)


def main() -> None:
    app()
