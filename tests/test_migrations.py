"""The migrations build exactly the schema the models describe, on each database: nothing missing, nothing extra."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy.engine import Connection

from db.models import Base
from db.session import Database


def _differences(connection: Connection, schema: str | None) -> list[object]:
    opts: dict[str, object] = {"compare_type": True}
    if schema:
        opts["include_schemas"] = False
    context = MigrationContext.configure(connection, opts=opts)
    return list(compare_metadata(context, Base.metadata))


async def test_migrations_match_the_models(db: Database) -> None:
    async with db.engine.connect() as conn:
        diff = await conn.run_sync(_differences, db.schema)
    assert diff == []


async def test_sqlite_never_reuses_ids_after_the_migrations(db: Database) -> None:
    """A table rebuilt by a migration keeps AUTOINCREMENT: outbox dedupe keys name rows by id."""
    if db.engine.dialect.name != "sqlite":
        pytest.skip("PostgreSQL sequences never reuse ids")
    async with db.engine.connect() as conn:
        rows = (await conn.exec_driver_sql("SELECT name, sql FROM sqlite_master WHERE type = 'table'")).all()
    declared = {t.name for t in Base.metadata.sorted_tables if t.dialect_kwargs.get("sqlite_autoincrement")}
    missing = sorted(name for name, sql in rows if name in declared and "AUTOINCREMENT" not in (sql or ""))
    assert missing == []
