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


class Database:
    """``read()`` and ``write()`` sessions on one engine (a write takes its locks at BEGIN).

    ``commits`` counts the transactions this process committed through them, so a cache in
    this process can tell that its own writes may have changed what it holds."""

    def __init__(self, url: str):
        self.url = url
        self.engine = make_engine(url)
        self.dialect = self.engine.dialect.name
        self._read = sessionmaker(self.engine, expire_on_commit=False)
        self._write = sessionmaker(self.engine.execution_options(writes=True), expire_on_commit=False)
        self.commits = 0
        self._commits_lock = threading.Lock()
        for maker in (self._read, self._write):
            event.listen(maker, "after_commit", self._committed)

    def _committed(self, _session) -> None:
        with self._commits_lock:
            self.commits += 1

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
