"""The migrations build exactly the schema the models describe, on each database: nothing missing, nothing extra."""

from __future__ import annotations

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
