"""Direct replies retry a 429 inside the limiter; outbox sends come straight back to be rescheduled."""

from __future__ import annotations

import asyncio
import time

import pytest
from telegram.error import RetryAfter
from telegram.ext import Application

from bot.fake import BOT_TOKEN, FakeRequest, FakeTelegram
from bot.ratelimit import LANE_BULK, LANE_REPLY, LANE_URGENT, NO_RETRIES, FloodWindow, RateLimiter


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


async def _run(window: FloodWindow, lane: int, log: list[tuple[str, float, float]], name: str) -> None:
    from bot import ratelimit

    token = ratelimit._lane.set(lane)
    try:
        async with window:
            started = time.monotonic()
            await asyncio.sleep(0.002)  # the request on the wire
            log.append((name, started, time.monotonic()))
    finally:
        ratelimit._lane.reset(token)


async def test_flood_window_never_counts_more_than_the_limit_in_any_period() -> None:
    window = FloodWindow(limit=5, period=0.2, reserve=1)
    log: list[tuple[str, float, float]] = []
    lanes = [LANE_BULK, LANE_REPLY, LANE_URGENT]
    await asyncio.gather(*(_run(window, lanes[n % 3], log, str(n)) for n in range(24)))
    assert len(log) == 24
    for _, start, _ in log:
        # Everything counted when this one started: begun by then and not yet a period past its answer.
        counted = sum(1 for _, s, f in log if s <= start < f + 0.2)
        assert counted <= 5


async def test_flood_window_serves_urgent_then_replies_then_bulk() -> None:
    window = FloodWindow(limit=2, period=0.1, reserve=1)
    log: list[tuple[str, float, float]] = []
    await asyncio.gather(_run(window, LANE_REPLY, log, "fill-1"), _run(window, LANE_REPLY, log, "fill-2"))
    waiting = [
        asyncio.create_task(_run(window, lane, log, name))
        for lane, name in [(LANE_BULK, "bulk"), (LANE_REPLY, "reply"), (LANE_URGENT, "urgent")]
    ]
    await asyncio.gather(*waiting)
    assert [name for name, _, _ in log[2:]] == ["urgent", "reply", "bulk"]


async def test_a_reply_does_not_wait_behind_a_bulk_backlog() -> None:
    window = FloodWindow(limit=10, period=0.5, reserve=1)
    log: list[tuple[str, float, float]] = []
    backlog = [asyncio.create_task(_run(window, LANE_BULK, log, f"bulk-{n}")) for n in range(30)]
    await asyncio.sleep(0.3)  # bulk has filled all it may of the window and is being paced
    asked = time.monotonic()
    await _run(window, LANE_REPLY, log, "reply")
    assert time.monotonic() - asked < 0.05
    for task in backlog:
        task.cancel()
    await asyncio.gather(*backlog, return_exceptions=True)


async def test_a_429_goes_out_again_after_retry_after_within_the_same_tick(db, settings) -> None:  # type: ignore[no-untyped-def]
    from types import SimpleNamespace

    from sqlalchemy import select

    from bot.app import build_application
    from bot.services import outbox
    from db.models import Outbox, User

    api = FakeTelegram()
    app = build_application(settings, db, token=BOT_TOKEN, request=FakeRequest(api))
    async with app:
        async with db.transaction() as s:
            user = User(telegram_id=78, chat_id=78, locale="en", timezone="Asia/Shanghai")
            s.add(user)
            await s.flush()
            await outbox.enqueue(s, user_id=user.id, chat_id=78, kind="t", text="first", dedupe_key="k1")
            await outbox.enqueue(s, user_id=user.id, chat_id=78, kind="t", text="second", dedupe_key="k2")
        dispatcher = app.bot_data["runtime"].dispatcher
        dispatcher.interval = 5.0  # as `schedule` sets it
        api.fail_next("sendMessage", 429, "Too Many Requests: retry after 1", retry_after=1)
        started = time.monotonic()
        await dispatcher.tick(SimpleNamespace(application=SimpleNamespace(running=True)))
        waited = time.monotonic() - started
        # The chat was told to wait: its second message was not tried into the same 429.
        assert [c.status for c in api.calls if c.method == "sendMessage"] == [429, 200, 200]
        assert api.texts(78) == ["first", "second"]
        assert 0.9 < waited < 2.5  # retry_after, not the next tick
        async with db.transaction() as s:
            assert set((await s.scalars(select(Outbox.status))).all()) == {"sent"}
