"""PostgreSQL connections that the server closed (a restart, an idle timeout) are replaced, not used: one idle
for a while is pinged before use; one lost while in steady use costs one failed operation, then the pool is
renewed. (db/session.py: the ping at every transaction, pool_pre_ping, is not used: a third of a short one.)"""

from __future__ import annotations

import pytest
from sqlalchemy import text

from db import session as db_session
from db.session import Database


async def _kill_pool_connections(db: Database) -> int:
    """Terminate the server side of every connection the pool holds, as a restart would."""
    async with db.engine.connect() as conn:
        mine = await conn.scalar(text("SELECT pg_backend_pid()"))
    killer = Database(db.url)
    try:
        async with killer.engine.connect() as conn:
            killed = await conn.scalar(
                text(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE usename = current_user AND pid <> pg_backend_pid() AND application_name = '' "
                    "AND pid = :pid"
                ),
                {"pid": mine},
            )
    finally:
        await killer.dispose()
    return int(killed or 0)


async def _one(db: Database) -> int:
    async with db.transaction() as s:
        return int(await s.scalar(text("SELECT 1")) or 0)


@pytest.fixture
async def dropped(db: Database) -> Database:
    """The database after the server closed the connection its pool holds (used once before)."""
    if db.dialect != "postgresql":
        pytest.skip("PostgreSQL connections")
    assert await _one(db) == 1
    assert await _kill_pool_connections(db) == 1
    return db


async def test_a_connection_closed_while_idle_is_replaced_before_use(
    dropped: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(db_session, "IDLE_PING_SECONDS", 0.0)  # everything counts as idle: pinged
    assert await _one(dropped) == 1  # the dead connection was pinged, thrown away and replaced


async def test_a_connection_lost_in_steady_use_costs_one_operation(
    dropped: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(db_session, "IDLE_PING_SECONDS", 3600.0)  # in steady use: not pinged
    with pytest.raises(Exception):  # noqa: B017 - the driver's own error for a closed connection
        await _one(dropped)
    assert await _one(dropped) == 1  # the pool was renewed
