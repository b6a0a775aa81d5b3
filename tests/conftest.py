"""Shared fixtures: a migrated database on SQLite (always) and PostgreSQL (when TEST_DATABASE_URL is set)."""

from __future__ import annotations

import itertools
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import text

from bot.config import Settings, normalise_database_url
from db.migrate import upgrade
from db.session import Database
from tests.harness import Harness, start_harness, stop_harness

PG_URL = os.environ.get("TEST_DATABASE_URL")
BACKENDS = ["sqlite", *(["postgresql"] if PG_URL else [])]
_schemas = itertools.count(1)


async def fresh_database(backend: str, tmp_path: Path) -> Database:
    if backend == "sqlite":
        db = Database(f"sqlite+inline:///{tmp_path / 'test.db'}")
    else:
        assert PG_URL
        schema = f"test_{os.getpid()}_{next(_schemas)}"
        db = Database(normalise_database_url(PG_URL), schema=schema)
        async with db.engine.begin() as conn:
            await conn.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
            await conn.execute(text(f"CREATE SCHEMA {schema}"))
    await upgrade(db)
    return db


async def drop_database(db: Database) -> None:
    schema = db.schema
    if schema:
        async with db.engine.begin() as conn:
            await conn.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
    await db.dispose()


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def db(backend: str, tmp_path: Path) -> AsyncIterator[Database]:
    database = await fresh_database(backend, tmp_path)
    try:
        yield database
    finally:
        await drop_database(database)


@pytest.fixture(scope="session", autouse=True)
def compiled_catalogs() -> None:
    """Compile the catalogs the tests read, so `pytest` alone works as well as `make test`."""
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    from bot.paths import LOCALES_DIR

    for po_path in LOCALES_DIR.glob("*/LC_MESSAGES/messages.po"):
        mo_path = po_path.with_suffix(".mo")
        if mo_path.exists() and mo_path.stat().st_mtime >= po_path.stat().st_mtime:
            continue
        with po_path.open("rb") as f:
            catalog = read_po(f)
        with mo_path.open("wb") as f:
            write_mo(f, catalog)


@pytest.fixture
def settings(db: Database) -> Settings:
    # Journeys are replayed far faster than anyone types: the flood limit is tested on its own (test_gate.py).
    return Settings(
        telegram_bot_token=None, database_url=db.url, admin_telegram_ids=frozenset({999}), flood_burst=1_000_000
    )


@pytest.fixture
async def bot(settings: Settings, db: Database) -> AsyncIterator[Harness]:
    from bot.services.areas import ensure_default_areas
    from bot.services.contacts import ensure_default_contacts

    async with db.transaction() as session:
        await ensure_default_areas(session)
        await ensure_default_contacts(session)
    harness = await start_harness(settings, db)
    try:
        yield harness
    finally:
        await stop_harness(harness)
    assert not harness.errors, harness.errors
    assert not harness.api.violations, harness.api.violations
