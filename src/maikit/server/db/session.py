"""Engine and sessions; migrations (Alembic) applied with :func:`migrate`."""

from __future__ import annotations

import threading
from pathlib import Path

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS = Path(__file__).with_name("migrations")


def make_engine(url: str) -> Engine:
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn, _record):
            # pysqlite's own transaction handling would defer BEGIN to the first write;
            # we issue BEGIN ourselves so a locking write starts the transaction
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        @event.listens_for(engine, "begin")
        def _begin(conn):
            # a writing transaction takes SQLite's write lock at BEGIN, so it never fails to
            # upgrade a read snapshot later (WAL's SQLITE_BUSY_SNAPSHOT) and serialises
            # writers the way row locks do on PostgreSQL
            conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get("writes") else "BEGIN")

        return engine
    return create_engine(url, pool_size=10, max_overflow=20, pool_pre_ping=True)


# what a leaderboard is made of; a commit that changes none of these leaves every board as it was
_BOARD_TABLES = frozenset({"submissions", "phases", "challenges", "users", "teams"})
# submission columns a board shows or ranks by (a new submission that is not Finished shows nowhere)
_BOARD_COLUMNS = ("status", "superseded", "selected", "score", "runtime_ms", "metrics", "size_bytes", "finished_at",
                  "created_at", "owner_key", "user_id", "phase_id", "runtime_interval", "flags")


def _changes_boards(obj, new: bool) -> bool:
    from sqlalchemy import inspect as sa_inspect

    from maikit.server.db.models import FINISHED, Challenge, Phase, Submission, Team, User

    if isinstance(obj, (Phase, Challenge, Team)):
        return True
    if isinstance(obj, User):  # a user's name or team is on the board; its quota counter is not
        state = sa_inspect(obj)
        return new or any(state.attrs[a.key].history.has_changes() for a in state.mapper.column_attrs
                          if a.key != "quota_lock")
    if isinstance(obj, Submission):
        state = sa_inspect(obj)
        if new:
            return obj.status == FINISHED
        status = state.attrs.status.history
        was_or_is_finished = obj.status == FINISHED or FINISHED in (status.deleted or ())
        return was_or_is_finished and any(state.attrs[k].history.has_changes() for k in _BOARD_COLUMNS)
    return False


class Database:
    """``read()`` and ``write()`` sessions on one engine (a write takes its locks at BEGIN).

    ``commits`` counts the transactions this process committed through them; ``board_commits``
    only those that may have changed a leaderboard (a submission that is, or was, Finished;
    a phase, challenge, team, or a user's name or team; any delete or bulk update of those
    tables), so that the board cache in this process can tell that its own writes changed
    what it holds without dropping its boards at every upload or heartbeat."""

    def __init__(self, url: str):
        self.url = url
        self.engine = make_engine(url)
        self.dialect = self.engine.dialect.name
        self._read = sessionmaker(self.engine, expire_on_commit=False)
        self._write = sessionmaker(self.engine.execution_options(writes=True), expire_on_commit=False)
        self.commits = 0
        self.board_commits = 0
        self._commits_lock = threading.Lock()
        for maker in (self._read, self._write):
            event.listen(maker, "after_commit", self._committed)
            event.listen(maker, "after_flush", self._flushed)
            event.listen(maker, "do_orm_execute", self._executing)
            event.listen(maker, "after_rollback", self._rolled_back)

    @staticmethod
    def _flushed(session, _ctx) -> None:
        if session.info.get("boards"):
            return
        if session.deleted or any(_changes_boards(o, True) for o in session.new) \
                or any(_changes_boards(o, False) for o in session.dirty):
            session.info["boards"] = True

    @staticmethod
    def _executing(state) -> None:
        """A bulk UPDATE or DELETE (no objects to look at): by its table; the quota counters'
        increment (``users``/``teams``.``quota_lock``) changes no board."""
        if not (state.is_update or state.is_delete):
            return
        table = getattr(state.statement, "table", None)
        name = getattr(table, "name", None)
        if name not in _BOARD_TABLES:
            return
        if state.is_update and name in ("users", "teams"):
            values = {getattr(k, "key", k) for k in (state.statement._values or {})}  # the SET columns
            if values == {"quota_lock"}:
                return
        state.session.info["boards"] = True

    @staticmethod
    def _rolled_back(session) -> None:
        session.info.pop("boards", None)

    def _committed(self, session) -> None:
        boards = session.info.pop("boards", False)
        with self._commits_lock:
            self.commits += 1
            if boards:
                self.board_commits += 1

    def read(self) -> Session:
        return self._read()

    def write(self) -> Session:
        """Use as ``with db.write() as s, s.begin(): ...`` (commits on success)."""
        return self._write()

    def dispose(self) -> None:
        self.engine.dispose()


def alembic_config(url: str):
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def migrate(url: str, engine: Engine | None = None) -> None:
    """Bring the database to the newest schema (Alembic ``upgrade head``)."""
    from alembic import command

    cfg = alembic_config(url)
    if engine is not None:
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")
    else:
        command.upgrade(cfg, "head")


def schema_state(engine: Engine) -> tuple[str, str | None]:
    """Where the database's schema stands against this code's migrations: ``("current",
    rev)``, ``("older", rev)`` (``mai server migrate`` brings it up), ``("newer", rev)`` (a
    revision this code does not know: a newer maikit made it), ``("empty", None)`` (no table at
    all) or ``("foreign", None)`` (tables, but not maikit's: no Alembic revision)."""
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory
    from sqlalchemy import inspect

    script = ScriptDirectory.from_config(alembic_config(str(engine.url)))
    with engine.connect() as conn:
        current = MigrationContext.configure(conn).get_current_revision()
        tables = inspect(conn).get_table_names()
    if current is None:
        return ("empty", None) if not tables else ("foreign", None)
    if current == script.get_current_head():
        return "current", current
    known = {rev.revision for rev in script.walk_revisions()}
    return ("older" if current in known else "newer"), current


def schema_refusal(url: str, engine: Engine) -> str | None:
    """Why a server must not start on this database, with the command that fixes it; None
    when its schema is this code's."""
    state, rev = schema_state(engine)
    fix = f"create or upgrade it with `mai server migrate --db {shown_url(url)}`"
    if state == "current":
        return None
    if state == "empty":
        return f"the database has no maikit schema: {fix}"
    if state == "older":
        return f"the database's maikit schema (revision {rev}) is older than this maikit's: {fix}"
    if state == "newer":
        return (f"the database's maikit schema (revision {rev}) is newer than this maikit knows: "
                f"upgrade maikit (pip install -U maikit) before serving it")
    return "the database has tables but no maikit schema (no Alembic revision): point --db at a database of its own"


def shown_url(url: str) -> str:
    """A database URL fit to print: its password replaced by ***."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # not a URL SQLAlchemy reads: as given
        return url


def open_database(url: str, *, run_migrations: bool | None = None, migrate_empty: bool = False) -> Database:
    """The database, its schema this code's: SQLite is migrated on start, PostgreSQL only
    when ``run_migrations`` (or ``migrate_empty`` and it has no table yet: ``--demo``); one a
    server cannot use is a MaikitError naming the command that fixes it (:func:`schema_refusal`),
    one it cannot reach says so."""
    from sqlalchemy.exc import OperationalError

    from maikit.errors import MaikitError, first_line

    db = Database(url)
    try:
        state, _rev = schema_state(db.engine)
        auto = run_migrations or (run_migrations is None and db.dialect == "sqlite")
        if state == "older" and auto or state == "empty" and (auto or migrate_empty):
            migrate(url, db.engine)
        refusal = schema_refusal(url, db.engine)
    except OperationalError as e:
        db.dispose()
        raise MaikitError(f"cannot reach the database ({first_line(e.orig or e)})") from None
    if refusal:
        db.dispose()
        raise MaikitError(refusal)
    return db
