"""Direct replies retry a 429 inside the limiter; outbox sends come straight back to be rescheduled."""

from __future__ import annotations

import pytest
from telegram.error import RetryAfter
from telegram.ext import Application

from bot.fake import BOT_TOKEN, FakeRequest, FakeTelegram
from bot.ratelimit import NO_RETRIES, RateLimiter


async def test_replies_retry_and_outbox_sends_do_not() -> None:
    api = FakeTelegram()
    app = (
        Application.builder()
        .token(BOT_TOKEN)
        .request(FakeRequest(api))
        .get_updates_request(FakeRequest(api))
        .rate_limiter(RateLimiter(max_retries=2))
        .build()
    )
    async with app:
        api.fail_next("sendMessage", 429, "Too Many Requests: retry after 1", retry_after=1)
        await app.bot.send_message(1, "reply")
        assert [c.status for c in api.calls if c.method == "sendMessage"] == [429, 200]

        api.calls.clear()
        api.fail_next("sendMessage", 429, "Too Many Requests: retry after 1", retry_after=1)
        with pytest.raises(RetryAfter):
            await app.bot.send_message(1, "from the outbox", rate_limit_args=NO_RETRIES)
        assert [c.status for c in api.calls if c.method == "sendMessage"] == [429]
        # The next reply retries again: the override was for that one call.
        api.calls.clear()
        api.fail_next("sendMessage", 429, "Too Many Requests: retry after 1", retry_after=1)
        await app.bot.send_message(1, "reply again")
        assert [c.status for c in api.calls if c.method == "sendMessage"] == [429, 200]


async def test_the_production_dispatcher_reschedules_a_429_without_waiting(db, settings) -> None:  # type: ignore[no-untyped-def]
    from sqlalchemy import select

    from bot.app import build_application
    from bot.services import outbox
    from db.models import Outbox, User

    api = FakeTelegram()
    app = build_application(settings, db, token=BOT_TOKEN, request=FakeRequest(api), max_retries=3)
    async with app:
        async with db.transaction() as s:
            user = User(telegram_id=77, chat_id=77, locale="en", timezone="Asia/Shanghai")
            s.add(user)
            await s.flush()
            row = await outbox.enqueue(s, user_id=user.id, chat_id=77, kind="t", text="hello", dedupe_key="k")
        assert row is not None
        api.fail_next("sendMessage", 429, "Too Many Requests: retry after 30", retry_after=30)
        await app.bot_data["runtime"].dispatcher.deliver([row])
        assert [c.status for c in api.calls if c.method == "sendMessage"] == [429]
        async with db.transaction() as s:
            stored = await s.scalar(select(Outbox))
            assert stored is not None and stored.status == "pending"
            assert (stored.due_at - stored.created_at).total_seconds() >= 29
