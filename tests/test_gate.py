"""Before any handler: the same update delivered twice is handled once, and one person flooding the bot is
slowed down with one polite notice while everyone else's replies stay quick."""

from __future__ import annotations

import asyncio
import statistics
import time

import pytest
from telegram import Update

from bot.config import Settings
from bot.throttle import Gatekeeper
from db.session import Database
from tests.harness import Harness, Person, start_harness, stop_harness


async def test_the_same_update_twice_is_handled_once(bot: Harness) -> None:
    who = Person("Gran", 9101, "en")
    payload = {"update_id": 777_001, "message": bot.message_json(who, "/start")}
    await bot.app.process_update(Update.de_json(payload, bot.app.bot))
    replies = len(bot.api.texts(who.id))
    await bot.app.process_update(Update.de_json(payload, bot.app.bot))  # Telegram sent it again
    assert replies >= 1 and len(bot.api.texts(who.id)) == replies


@pytest.fixture
async def strict(settings: Settings, db: Database) -> Harness:
    """The production flood limit, in real time (the rate limiter counts real seconds too: a flood squeezed
    into less time would be a heavier one)."""
    harness = await start_harness(settings, db)
    harness.app.bot_data["runtime"].gatekeeper = Gatekeeper()
    yield harness  # type: ignore[misc]
    await stop_harness(harness)


async def test_a_flood_is_slowed_with_one_notice_and_others_are_not_delayed(strict: Harness) -> None:
    bot = strict
    flooder, other = Person("Flood", 9201, "en"), Person("Gran", 9202, "en")

    async def timed(who: Person, text: str) -> float:
        started = time.perf_counter()
        await bot.send(who, text)
        return time.perf_counter() - started

    async def once_a_second(seconds: int, *, flood: bool) -> list[float]:
        """The other person writes once a second for `seconds`, with 50 a second from the flooder meanwhile or
        not. Normal is measured at the same pace as during the flood: on this machine a reply after a second
        of idling costs several times one right after another, whoever else is writing."""
        taken: list[float] = []
        start = time.monotonic()
        for i in range(50 * seconds):
            await asyncio.sleep(max(0.0, start + i * 0.02 - time.monotonic()))
            if flood:
                await bot.send(flooder, f"hello {i}")
            if i % 50 == 25:
                taken.append(await timed(other, "/menu"))
        return taken

    await bot.send(other, "/menu")
    normal = await once_a_second(5, flood=False)
    await asyncio.sleep(1.1)  # the window of those replies has passed
    during = await once_a_second(10, flood=True)  # 50 messages a second for 10 seconds
    notices = [t for t in bot.api.texts(flooder.id) if t.startswith("You are sending messages very fast.")]
    assert len(notices) == 1
    # The first burst was answered; the rest dropped (ten seconds at one a second refill: about 22 in all).
    answered = [t for t in bot.api.texts(flooder.id) if t == "Please choose from the menu below."]
    assert 12 <= len(answered) <= 30
    assert statistics.median(during) <= 2 * statistics.median(normal) + 0.005
    assert not bot.errors
