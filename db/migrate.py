"""Alembic, driven from code: `guardian-bot db upgrade`, start-up migration and the test fixtures."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection

from db.session import Database

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def alembic_config(url: str | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    if url:
        cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def _upgrade(connection: Connection, cfg: Config, revision: str) -> None:
    cfg.attributes["connection"] = connection
    command.upgrade(cfg, revision)


async def upgrade(db: Database, revision: str = "head") -> None:
    cfg = alembic_config(db.url)
    async with db.engine.begin() as conn:
        await conn.run_sync(_upgrade, cfg, revision)


def _current(connection: Connection) -> set[str]:
    return set(MigrationContext.configure(connection).get_current_heads())


async def pending_revisions(db: Database) -> tuple[set[str], set[str]]:
    """(current heads in the database, heads of the migration scripts)."""
    heads = set(ScriptDirectory.from_config(alembic_config()).get_heads())
    async with db.engine.connect() as conn:
        current = await conn.run_sync(_current)
    return current, heads
