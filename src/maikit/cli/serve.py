"""``mai serve`` (the challenge platform) and ``mai server migrate`` (PostgreSQL schema)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from maikit.cli._common import err_console


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)
    server = typer.Typer(help="Administer a challenge server's database.", no_args_is_help=True)
    server.command("migrate")(migrate)
    app.add_typer(server, name="server")


def _settings(data_dir: Path, db: Optional[str]):
    from maikit.server.core.config import Settings

    return Settings(data_dir=data_dir, db_url=db)


def serve(
    data_dir: Path = typer.Option(Path("mai-server"), "--data-dir", help="Folder for the database (SQLite), files and demo data."),
    db: Optional[str] = typer.Option(None, "--db", help="Database URL (default sqlite:///DATA_DIR/platform.db), e.g. postgresql+psycopg://user@host/db."),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on."),
    port: int = typer.Option(8000, "--port", min=1, max=65535, help="TCP port."),
    workers: int = typer.Option(1, "--workers", min=0, help="In-process workers (0 = remote workers only)."),
    demo: bool = typer.Option(False, "--demo", help="Create the demo challenges, accounts and DATA_DIR/demo-tokens.json (once)."),
) -> None:
    """Run the challenge platform: REST API, job queue, in-process workers."""
    from maikit.errors import MaikitError
    from maikit.server.serve import serve as run

    if workers < 0:
        raise MaikitError(f"`--workers` must be 0 or more, got {workers}")
    if not 0 < port < 65536:
        raise MaikitError(f"`--port` must be 1-65535, got {port}")
    settings = _settings(data_dir, db)
    try:
        run(settings, host=host, port=port, workers=workers, demo=demo, announce=lambda m: err_console.print(m, highlight=False))
    except OSError as e:
        raise MaikitError(f"cannot serve on {host}:{port} ({e.strerror or e})") from None


def migrate(
    db: str = typer.Option(..., "--db", help="Database URL, e.g. postgresql+psycopg://user@host/db."),
) -> None:
    """Bring a database to the newest schema (Alembic upgrade head)."""
    from sqlalchemy.exc import OperationalError

    from maikit.errors import MaikitError
    from maikit.server.db.session import Database, migrate as run

    database = Database(db)
    try:
        run(db, database.engine)
    except OperationalError as e:
        raise MaikitError(f"cannot reach the database ({str(e.orig).splitlines()[0] if e.orig else e})") from None
    finally:
        database.dispose()
    err_console.print("database is at the newest schema")
