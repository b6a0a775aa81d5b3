"""Logs never contain message text, names, nicknames, phone numbers or the bot token: the main journeys run
with the production logging set-up at DEBUG, and every captured record is searched for what was typed."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import pytest

from bot.cli import _logging
from bot.config import Settings
from db.session import Database
from tests.harness import BOT_TOKEN, Harness
from tests.journeys import person
from tests.test_calls import book_weekly
from tests.test_calls import tick as calls_tick
from tests.test_concerns import VILLAGE, at, caseworker_on
from tests.test_privacy import family

# What people typed, and the names Telegram sends with every update.
SECRETS = (
    "王阿姨",
    "13800138000",
    "小明",
    "大塘小学",
    "He hit her with a belt",
    "Visited; she is safe",
    "will not eat vegetables",
    "郭秀英",
    "Liu Jianguo",
)


async def test_nothing_personal_or_secret_reaches_the_logs(
    bot: Harness, db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    _logging(Settings(log_level="DEBUG"))  # as in production: our code at DEBUG, libraries at WARNING
    caplog.set_level(logging.DEBUG)
    at(bot, datetime(2026, 12, 2, 2, 0, tzinfo=UTC))
    director = await caseworker_on(db, 5001, "child-director", VILLAGE)
    gran, dad = person("郭秀英", 801, "en"), person("Liu Jianguo", 802, "en")
    await family(bot, gran, dad)
    # A report with a description, taken up and noted.
    await bot.send(gran.who, "/report")
    await bot.press(gran.who, "小明")
    await bot.press(gran.who, "Hurt by someone, violence")
    await bot.press(gran.who, "No, not right now")
    await bot.send(gran.who, "He hit her with a belt")
    await bot.press(gran.who, "No, keep me out of it")
    await bot.press(gran.who, "Send now")
    await bot.press(director.who, "acknowledge")
    await bot.press(director.who, "Add a note")
    await bot.send(director.who, "Visited; she is safe")
    # A call booked and reminded; a question asked; a blocked caseworker (a 403 is logged).
    await book_weekly(bot, dad, ["Wednesday"], "20:00")
    await calls_tick(bot, datetime(2026, 12, 2, 11, 45, tzinfo=UTC))
    await bot.send(gran.who, "/ask")
    await bot.send(gran.who, "小明 will not eat vegetables, what can I do")
    bot.api.block(director.who.id)
    await calls_tick(bot, datetime(2026, 12, 2, 11, 45, tzinfo=UTC) + timedelta(days=3))
    logged = "\n".join(
        r.getMessage() + (("\n" + logging.Formatter().formatException(r.exc_info)) if r.exc_info else "")
        for r in caplog.records
    )
    assert caplog.records, "nothing was logged at all: the test would prove nothing"
    for secret in (*SECRETS, BOT_TOKEN, BOT_TOKEN.split(":")[1]):
        assert secret not in logged, secret
