"""Times are stored as UTC and come back aware and identical on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from db.models import User
from db.session import Database


async def test_aware_times_round_trip_as_utc(db: Database) -> None:
    shanghai = timezone(timedelta(hours=8))
    moment = datetime(2026, 3, 29, 9, 30, 15, 123456, tzinfo=shanghai)
    async with db.transaction() as s:
        s.add(User(telegram_id=1, chat_id=1, locale="en", timezone="Asia/Shanghai", notice_accepted_at=moment))
    async with db.transaction() as s:
        stored = await s.scalar(select(User.notice_accepted_at))
    assert stored == moment
    assert stored is not None and stored.tzinfo is UTC and stored.hour == 1
    # Comparisons in SQL use UTC too.
    async with db.transaction() as s:
        assert await s.scalar(select(User.id).where(User.notice_accepted_at > datetime(2026, 3, 29, 1, 30, tzinfo=UTC)))


async def test_naive_times_are_refused(db: Database) -> None:
    with pytest.raises(Exception, match="naive datetime"):
        async with db.transaction() as s:
            s.add(
                User(
                    telegram_id=2,
                    chat_id=2,
                    locale="en",
                    timezone="Asia/Shanghai",
                    notice_accepted_at=datetime(2026, 1, 1),
                )
            )
