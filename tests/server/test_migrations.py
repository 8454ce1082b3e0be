"""The migrations build the schema the models describe (SQLite and PostgreSQL): after
``upgrade head`` Alembic's autogenerate finds nothing to add, drop or change, so a model
change without its migration (or a migration out of step with its model) fails here."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from platform_testing import _reset_postgres

from maikit.server.db.models import Base
from maikit.server.db.session import Database, migrate


def test_the_migrated_schema_is_the_models(engine_name, request, tmp_path):
    if engine_name == "postgresql":
        url = request.getfixturevalue("pg_database")
        _reset_postgres(url)
    else:
        url = f"sqlite:///{tmp_path / 'schema.db'}"
    db = Database(url)
    try:
        migrate(url, db.engine)
        with db.engine.connect() as conn:
            assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []
    finally:
        db.dispose()
