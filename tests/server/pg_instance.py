"""A PostgreSQL server of the test's own (initdb and pg_ctl from the machine's PostgreSQL 15),
on a free loopback port, that a test may stop and start again: a database outage without
touching the machine's shared cluster. Under root the server runs as the ``postgres`` user
(initdb refuses root), in a folder that user can reach."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
from _fixtures import free_port

BIN = Path(os.environ.get("MAI_TEST_PG_BIN", "/usr/lib/postgresql/15/bin"))


class OwnPostgres:
    def __init__(self, folder: Path):
        self.root = folder
        self.data = folder / "data"
        self.log = folder / "postgres.log"
        self.port = free_port()
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"
        self._as = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []

    def _run(self, *cmd: str, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run([*self._as, *cmd], capture_output=True, text=True, check=check, timeout=300)

    def init(self) -> None:
        self._run(str(BIN / "initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8",
                  "--no-sync")
        with open(self.data / "postgresql.conf", "a") as f:
            f.write(f"\nport = {self.port}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{self.root}'\n"
                    "fsync = off\nsynchronous_commit = off\nfull_page_writes = off\nmax_connections = 200\n")

    def start(self) -> None:
        """Start it and wait until it accepts connections."""
        self._run(str(BIN / "pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-w", "-t", "120", "start")
        self.wait_ready()

    def stop(self, mode: str = "fast") -> None:
        """Stop it (``fast``: open connections are cut, as an operator's restart does;
        ``immediate``: as a crash)."""
        self._run(str(BIN / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "-t", "120", "stop")

    def wait_ready(self, timeout: float = 120.0) -> None:
        import psycopg

        end = time.monotonic() + timeout
        while True:
            try:
                with psycopg.connect(self.url.replace("+psycopg", ""), connect_timeout=5):
                    return
            except psycopg.OperationalError:
                if time.monotonic() > end:
                    raise
                time.sleep(0.2)

    def running(self) -> bool:
        return self._run(str(BIN / "pg_ctl"), "-D", str(self.data), "status", check=False).returncode == 0


@pytest.fixture(scope="module")
def own_postgres(tmp_path_factory):
    """A started PostgreSQL of this test module's own (stopped and removed at the end)."""
    if not (BIN / "initdb").exists():
        pytest.fail(f"no PostgreSQL server binaries in {BIN} (set MAI_TEST_PG_BIN)")
    if os.geteuid() == 0:  # the postgres user cannot reach pytest's folders (0700, root's)
        folder = Path(tempfile.mkdtemp(prefix="mai-own-pg-"))
        shutil.chown(folder, "postgres", "postgres")
    else:
        folder = tmp_path_factory.mktemp("own-pg")
    pg = OwnPostgres(folder)
    pg.init()
    pg.start()
    try:
        yield pg
    finally:
        if pg.running():
            pg.stop("immediate")
        if os.geteuid() == 0:
            shutil.rmtree(folder, ignore_errors=True)
