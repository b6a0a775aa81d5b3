"""An in-process Bot API for tests, benchmarks and the offline console (python-telegram-bot's request layer)."""

from bot.fake.telegram import BOT_ID, BOT_TOKEN, Call, FakeRequest, FakeTelegram

__all__ = ["BOT_ID", "BOT_TOKEN", "Call", "FakeRequest", "FakeTelegram"]
