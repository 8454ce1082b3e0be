"""An empty machine to a signed-in organiser: ``mai server create-user NAME --organiser`` (SQLite
and PostgreSQL) prints a password and a token that work; a server without an organiser says
how to make one; ``mai serve`` on a PostgreSQL database without maikit's schema, or with an
older or newer one, stops with one line naming ``mai server migrate``; ``--demo`` makes the
schema of an empty database itself."""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import sys
import uuid
from pathlib import Path

import httpx
import pytest

from _fixtures import stop_group
from platform_testing import PG_URL, _serve, free_port, stop_live, wait_for

# the newest migration, read from the folder (not from Alembic, which the command uses)
NEWEST = max(p.name.split("_", 1)[0] for p in (Path(__file__).resolve().parents[2] / "src" / "maikit" / "server" / "db"
                                                / "migrations" / "versions").glob("[0-9]*_*.py"))


@contextlib.contextmanager
def empty_pg():
    """A PostgreSQL database of its own, empty (dropped at the end)."""
    import psycopg

    base = PG_URL.replace("postgresql+psycopg://", "postgresql://")
    name = f"mai_first_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield PG_URL.rsplit("/", 1)[0] + "/" + name
    finally:
        with psycopg.connect(base, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def mai(*args, timeout=300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "maikit", *args], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "MAI_DEBUG": ""})


@pytest.fixture
def database(engine_name, tmp_path):
    """(the `--data-dir`/`--db` options, the database URL or None) of an empty database."""
    if engine_name == "sqlite":
        yield ["--data-dir", str(tmp_path / "srv")], None
    else:
        with empty_pg() as url:
            yield ["--data-dir", str(tmp_path / "srv"), "--db", url], url


def test_the_first_organiser_signs_in_with_what_create_user_prints(database, tmp_path):
    from maikit.server.app import create_app
    from maikit.server.core.config import Settings

    options, url = database
    if url:  # PostgreSQL: the schema is the operator's step, and create-user says so
        r = mai("server", "create-user", "root", "--organiser", *options)
        assert r.returncode == 1 and r.stdout == ""
        assert r.stderr.strip() == (f"error: the database has no maikit schema: create or upgrade it with "
                                    f"`mai server migrate --db {url}`")
        r = mai("server", "migrate", "--db", url, "--json")
        assert r.returncode == 0 and json.loads(r.stdout) == {"before": None, "after": NEWEST, "changed": True}, r.stderr
        r = mai("server", "migrate", "--db", url)
        assert r.returncode == 0 and r.stderr.strip() == f"the database was already at the newest schema (revision {NEWEST})"
    r = mai("server", "create-user", "root", "--organiser", *options, "--json")
    assert r.returncode == 0, r.stderr
    made = json.loads(r.stdout)
    assert made["role"] == "organiser" and len(made["password"]) >= 16 and made["token"].startswith("mai_u_")
    r = mai("server", "create-user", "pat", *options, "--password", "pat-pass-1", "--team", "Pats")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == "created participant pat in team Pats"
    assert "as pat with the password you gave" in lines[1] and lines[2].startswith("API token for mai commands")
    r = mai("server", "create-user", "root", *options)
    assert r.returncode == 1 and r.stderr.strip() == "error: user 'root' exists"
    r = mai("server", "create-user", "no body", *options)
    assert r.returncode == 1 and "user name 'no body': 1 to 64 letters" in r.stderr

    live = _serve(create_app(Settings(data_dir=tmp_path / "srv", db_url=url)))
    try:
        signed = live.http.post("/api/auth/token", json={"username": "root", "password": made["password"]})
        assert signed.status_code == 200, signed.text
        me = live.http.get("/api/me", headers={"Authorization": f"Bearer {made['token']}"}).json()
        assert me["role"] == "organiser" and me["username"] == "root"
        # the web page's sign-in, as a browser sends it (the form's CSRF token from the page)
        with httpx.Client(base_url=live.url, timeout=60) as browser:
            csrf = re.search(r'name="csrf" value="([^"]+)"', browser.get("/signin").text).group(1)
            page = browser.post("/signin", data={"csrf": csrf, "username": "root", "password": made["password"]})
            assert page.status_code == 303 and browser.get("/organiser").status_code == 200
    finally:
        stop_live(live)


def _start(args: list[str], log):
    return subprocess.Popen([sys.executable, "-m", "maikit", "serve", *args], stdout=subprocess.DEVNULL,
                            stderr=open(log, "wb"), start_new_session=True)


def test_an_empty_server_says_how_to_make_the_first_organiser(tmp_path):
    data = tmp_path / "srv"
    port = free_port()
    log = tmp_path / "serve.log"
    server = _start(["--data-dir", str(data), "--port", str(port), "--workers", "0"], log)
    try:
        wait_for(lambda: "maikit platform on" in log.read_text() or server.poll() is not None, 300, 0.2, "the server")
        lines = log.read_text().splitlines()
        assert lines[-2] == f"maikit platform on http://127.0.0.1:{port}  (sqlite, 0 in-process workers)"
        assert lines[-1] == (f"no organiser account yet: create one with `mai server create-user NAME --organiser "
                             f"--data-dir {data}` (it prints the password and an API token), then sign in at "
                             f"http://127.0.0.1:{port}/signin")
    finally:
        stop_group(server)
    assert mai("server", "create-user", "root", "--organiser", "--data-dir", str(data)).returncode == 0
    log2 = tmp_path / "serve2.log"
    server = _start(["--data-dir", str(data), "--port", str(port), "--workers", "0"], log2)
    try:
        wait_for(lambda: "maikit platform on" in log2.read_text() or server.poll() is not None, 300, 0.2, "the server")
        assert "no organiser account" not in log2.read_text()
    finally:
        stop_group(server)


def test_serve_refuses_a_postgresql_database_without_this_codes_schema(tmp_path):
    """``mai serve --db`` on a fresh database stopped with `relation "challenges" does not exist`."""
    from alembic import command
    from sqlalchemy import create_engine, inspect, text

    from maikit.server.db.session import alembic_config

    args = ["--data-dir", str(tmp_path / "srv"), "--port", str(free_port()), "--workers", "0"]
    with empty_pg() as url:
        r = mai("serve", *args, "--db", url)
        assert r.returncode == 1
        assert r.stderr.strip() == ("error: the database has no maikit schema: create or upgrade it with "
                                    f"`mai server migrate --db {url}`")
        command.upgrade(alembic_config(url), "0002")  # the schema of an older maikit
        r = mai("serve", *args, "--db", url)
        assert r.returncode == 1
        assert r.stderr.strip() == (f"error: the database's maikit schema (revision 0002) is older than this maikit's: "
                                    f"create or upgrade it with `mai server migrate --db {url}`")
        engine = create_engine(url)
        with engine.begin() as c:
            c.execute(text("UPDATE alembic_version SET version_num = '9999'"))
        engine.dispose()
        r = mai("serve", *args, "--db", url)
        assert r.returncode == 1 and "error: the database's maikit schema (revision 9999) is newer than this maikit knows" in r.stderr
        r = mai("server", "migrate", "--db", url)  # Alembic's own words were a traceback-like "Can't locate revision"
        assert r.returncode == 1 and r.stderr.startswith("error: the database's maikit schema (revision 9999) is newer")
    with empty_pg() as url:
        engine = create_engine(url)
        with engine.begin() as c:
            c.execute(text("CREATE TABLE someone_elses (id integer)"))
        engine.dispose()
        r = mai("serve", *args, "--db", url)
        assert r.returncode == 1 and r.stderr.strip() == ("error: the database has tables but no maikit schema (no Alembic "
                                                          "revision): point --db at a database of its own")
        r = mai("server", "migrate", "--db", url)  # it made maikit's tables among someone else's
        assert r.returncode == 1 and r.stderr.strip() == ("error: the database has tables but no maikit schema (no Alembic "
                                                          "revision): point --db at a database of its own")
        with engine.connect() as c:
            assert [t for t in inspect(c).get_table_names()] == ["someone_elses"]
        engine.dispose()
    r = mai("serve", *args, "--db", "postgresql+psycopg://postgres@127.0.0.1:1/none")
    assert r.returncode == 1 and r.stderr.startswith("error: cannot reach the database (")


def test_the_demo_makes_the_schema_of_an_empty_database_itself():
    from maikit.server.db.session import open_database, schema_state

    with empty_pg() as url:
        with pytest.raises(Exception, match="no maikit schema"):
            open_database(url)
        db = open_database(url, migrate_empty=True)  # what `mai serve --demo` asks for
        try:
            assert schema_state(db.engine)[0] == "current"
        finally:
            db.dispose()


def test_a_demo_made_before_passwords_gets_them(tmp_path):
    """The demo's accounts had no password: nobody could sign in to its web pages."""
    from sqlalchemy import update

    from maikit.server.app import create_app
    from maikit.server.core.config import Settings
    from maikit.server.db.models import User
    from maikit.server.demo import setup_demo
    from maikit.server.services.users import check_password

    app = create_app(Settings(data_dir=tmp_path, preflight_zygote=False))
    p = app.state.platform
    try:
        first = setup_demo(p, export_model=False)
        assert setup_demo(p, export_model=False) == first  # a second start reuses it
        # as an older maikit left it: no passwords anywhere
        old = {k: v for k, v in first.items() if k != "passwords"}
        (tmp_path / "demo-tokens.json").write_text(json.dumps(old))
        with p.db.write() as s, s.begin():
            s.execute(update(User).values(password_hash=None))
        again = setup_demo(p, export_model=False)
        assert {k: v for k, v in again.items() if k != "passwords"} == old  # the same tokens
        assert set(again["passwords"]) == {"organiser", "alice", "bob"}
        assert json.loads((tmp_path / "demo-tokens.json").read_text()) == again
        for name, password in again["passwords"].items():
            assert check_password(p, name, password) is not None, name
            assert check_password(p, name, first["passwords"][name]) is None
    finally:
        p.close()


def test_an_empty_postgresql_server_says_how_to_make_the_first_organiser(tmp_path):
    """The advice names the server's own --db, so it is the command to run as printed."""
    port = free_port()
    with empty_pg() as url:
        assert mai("server", "migrate", "--db", url).returncode == 0
        log = tmp_path / "serve.log"
        server = _start(["--data-dir", str(tmp_path / "srv"), "--db", url, "--port", str(port), "--workers", "0"], log)
        try:
            wait_for(lambda: "maikit platform on" in log.read_text() or server.poll() is not None, 300, 0.2, "the server")
            lines = log.read_text().splitlines()
            assert lines[-2] == f"maikit platform on http://127.0.0.1:{port}  (postgresql, 0 in-process workers)"
            assert lines[-1] == (f"no organiser account yet: create one with `mai server create-user NAME --organiser "
                                 f"--db {url}` (it prints the password and an API token), then sign in at "
                                 f"http://127.0.0.1:{port}/signin")
        finally:
            stop_group(server)
        r = mai("server", "create-user", "root", "--organiser", "--db", url)
        assert r.returncode == 0 and r.stdout.startswith("created organiser root\n"), r.stderr
