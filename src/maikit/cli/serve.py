"""``mai serve`` (the challenge platform), ``mai server migrate`` (the database's schema) and
``mai server create-user`` (the first organiser, and any account, straight into the database)."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Optional

import typer

from maikit.cli._common import err_console, print_json, quiet_libraries, say


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)
    server = typer.Typer(help="Administer a challenge server's database.", no_args_is_help=True)
    server.command("migrate")(migrate)
    server.command("create-user")(create_user)
    server.command("create-worker-token")(create_worker_token)
    app.add_typer(server, name="server")


DATA_DIR = typer.Option(Path("mai-server"), "--data-dir", help="Folder for the database (SQLite), files and demo data.")
DB = typer.Option(None, "--db", help="Database URL (default sqlite:///DATA_DIR/platform.db), e.g. postgresql+psycopg://user@host/db.")


def _settings(data_dir: Path, db: Optional[str]):
    from maikit.server.core.config import Settings

    return Settings(data_dir=data_dir, db_url=db)


def serve(
    data_dir: Path = DATA_DIR,
    db: Optional[str] = DB,
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on."),
    port: int = typer.Option(8000, "--port", min=1, max=65535, help="TCP port."),
    workers: int = typer.Option(1, "--workers", min=0, help="In-process workers (0 = remote workers only)."),
    demo: bool = typer.Option(False, "--demo", help="Create the demo challenges, accounts, trained baselines and "
                              "DATA_DIR/demo-tokens.json (once)."),
    demo_from: Path = typer.Option(Path("demo_out"), "--demo-from", help="With --demo, made for the first time: the "
                                   "baselines are the exports of the newest finished `mai demo` here (a demo folder or "
                                   "its parent); without one, a short training run first (about 2 minutes)."),
    reference_root: Optional[Path] = typer.Option(None, "--reference-root", help="The folder every challenge's reference "
                                                  "data must lie under (default: MAI_SERVER_REFERENCE_ROOT, else DATA_DIR)."),
) -> None:
    """Run the challenge platform: REST API, job queue, in-process workers."""
    from maikit.errors import MaikitError
    from maikit.server.serve import serve as run

    if workers < 0:
        raise MaikitError(f"`--workers` must be 0 or more, got {workers}")
    if not 0 < port < 65536:
        raise MaikitError(f"`--port` must be 1-65535, got {port}")
    settings = _settings(data_dir, db)
    if reference_root is not None:
        settings = settings.model_copy(update={"reference_root": reference_root})
    try:
        # a short training run for the demo's baselines: its progress on the terminal, the
        # converters' native log lines kept off it (as in mai demo)
        run(settings, host=host, port=port, workers=workers, demo=demo, demo_from=demo_from,
            announce=lambda m: say(m, err=True), demo_training=lambda: (quiet_libraries(), err_console))
    except OSError as e:
        raise MaikitError(f"cannot serve on {host}:{port} ({e.strerror or e})") from None


def migrate(
    db: str = typer.Option(..., "--db", help="Database URL, e.g. postgresql+psycopg://user@host/db."),
    as_json: bool = typer.Option(False, "--json", help="Print {before, after, changed} (Alembic revisions) as JSON."),
) -> None:
    """Bring a database to the newest schema (Alembic upgrade head). A schema newer than this
    maikit's, or a database holding other tables but no maikit schema, is refused."""
    from sqlalchemy.exc import OperationalError

    from maikit.errors import MaikitError
    from maikit.server.db.session import Database, migrate as run, schema_refusal, schema_state

    database = Database(db)
    try:
        state, before = schema_state(database.engine)
        if state in ("newer", "foreign"):
            raise MaikitError(schema_refusal(db, database.engine))
        run(db, database.engine)
        after = schema_state(database.engine)[1]
    except OperationalError as e:
        raise MaikitError(f"cannot reach the database ({str(e.orig).splitlines()[0] if e.orig else e})") from None
    finally:
        database.dispose()
    if as_json:
        print_json({"before": before, "after": after, "changed": before != after})
    elif before == after:
        say(f"the database was already at the newest schema (revision {after})", err=True)
    else:
        say(f"database is at the newest schema (revision {after}; it was {'empty' if before is None else 'at ' + before})",
            err=True)


@contextlib.contextmanager
def _platform(data_dir: Path, db: Optional[str]):
    """The server's services on its database, no server running (the admin commands): SQLite
    made and migrated if new, PostgreSQL as it is (its schema: ``mai server migrate``); a
    refusal of the services is a one-line error."""
    from maikit.errors import MaikitError
    from maikit.server.db.session import open_database
    from maikit.server.errors import ServiceError
    from maikit.server.state import Platform
    from maikit.server.store import FileStore

    settings = _settings(data_dir, db).model_copy(update={"preflight_zygote": False})
    if db is None:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    platform = Platform(settings, open_database(settings.database_url), FileStore(settings.files_dir))
    try:
        yield platform
    except ServiceError as e:
        raise MaikitError(e.reason) from None
    finally:
        platform.close()


def create_user(
    name: str = typer.Argument(..., metavar="NAME", help="The user name (letters, digits, _ . -)."),
    organiser: bool = typer.Option(False, "--organiser", help="An organiser (creates challenges, publishes, re-runs); "
                                   "default: a participant."),
    password: Optional[str] = typer.Option(None, "--password", help="The password (default: a random one, printed once). "
                                           "A password given here stays in the shell's history."),
    team: Optional[str] = typer.Option(None, "--team", help="Put the user in this team (made if new)."),
    data_dir: Path = DATA_DIR, db: Optional[str] = DB,
    as_json: bool = typer.Option(False, "--json", help="Print {username, role, team, password, token} as JSON."),
) -> None:
    """Create an account in the server's database (no server needs to run): how the first
    organiser gets in. Prints how to sign in, the password when it was made here, and an API token."""
    from maikit.server.services.users import add_user, new_password

    made = password is None
    password = new_password() if made else password
    with _platform(data_dir, db) as platform:
        user, token = add_user(platform, username=name, role="organiser" if organiser else "participant",
                               password=password, team=team)
    if as_json:
        print_json({"username": user.username, "role": user.role, "team": team, "password": password if made else None,
                    "token": token})
        return
    shown = f"password {password} (shown once: keep it)" if made else "the password you gave"
    for line in (f"created {user.role} {user.username}" + (f" in team {team}" if team else ""),
                 f"sign in on the server's web pages at /signin (e.g. http://127.0.0.1:8000/signin) as {user.username} "
                 f"with {shown}",
                 f"API token for mai commands (shown once): {token}  (export MAI_TOKEN=...)"):
        say(line)


def create_worker_token(
    device: str = typer.Option("*", "--device", help="The device tag the token's workers may serve (* = any)."),
    label: str = typer.Option("", "--label", help="A note kept with the token (which machine it is for)."),
    data_dir: Path = DATA_DIR, db: Optional[str] = DB,
    as_json: bool = typer.Option(False, "--json", help="Print {device, token} as JSON."),
) -> None:
    """A worker token for `mai worker --token` (no server needs to run); shown once, only its hash is kept."""
    from maikit.server.services.users import add_worker_token

    with _platform(data_dir, db) as platform:
        token = add_worker_token(platform, device, label)
    if as_json:
        print_json({"device": device, "token": token})
    else:
        say(f"worker token for device {device!r} (shown once): {token}")
