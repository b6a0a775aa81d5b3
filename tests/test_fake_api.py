"""The fake Bot API is faithful: it rejects what Telegram rejects and fails the way Telegram fails."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from telegram import InlineKeyboardButton, InlineKeyboardMarkup
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TimedOut
from telegram.ext import Application, ExtBot

from bot.fake import BOT_TOKEN, FakeRequest, FakeTelegram
from bot.fake.spec import validate_request


@pytest.fixture
async def tg() -> AsyncIterator[tuple[ExtBot[None], FakeTelegram]]:
    api = FakeTelegram()
    app = Application.builder().token(BOT_TOKEN).request(FakeRequest(api)).get_updates_request(FakeRequest(api)).build()
    async with app:
        yield app.bot, api


def test_unknown_method_and_missing_or_unknown_fields() -> None:
    assert validate_request("sendMesage", {}) == ["unknown Bot API method 'sendMesage'"]
    assert validate_request("sendMessage", {"text": "hi"}) == ["sendMessage: missing required field 'chat_id'"]
    # Telegram ignores parameters it does not know; so does the fake.
    assert validate_request("sendMessage", {"chat_id": 1, "text": "hi", "colour": "red"}) == []
    assert validate_request("sendMessage", {"chat_id": "1", "text": 5}) == ["sendMessage.text: expected String"]


def test_documented_limits() -> None:
    assert validate_request("sendMessage", {"chat_id": 1, "text": ""}) == [
        "sendMessage.text: 0 characters, allowed 1-4096"
    ]
    assert validate_request("sendMessage", {"chat_id": 1, "text": "字" * 4096}) == []
    assert validate_request("sendMessage", {"chat_id": 1, "text": "字" * 4097}) != []
    # Length counts after entity parsing: tags do not count in HTML mode.
    assert (
        validate_request("sendMessage", {"chat_id": 1, "text": "<b>" + "a" * 4096 + "</b>", "parse_mode": "HTML"}) == []
    )
    button = {"inline_keyboard": [[{"text": "x", "callback_data": "d" * 65}]]}
    assert (
        "callback_data: 65 bytes, allowed 1-64"
        in validate_request("sendMessage", {"chat_id": 1, "text": "x", "reply_markup": button})[0]
    )
    # Bytes, not characters: 22 Chinese characters are 66 bytes.
    button = {"inline_keyboard": [[{"text": "x", "callback_data": "字" * 22}]]}
    assert validate_request("sendMessage", {"chat_id": 1, "text": "x", "reply_markup": button}) != []
    assert validate_request("answerCallbackQuery", {"callback_query_id": "1", "text": "x" * 201}) != []


async def test_a_rejected_request_is_a_bad_request_and_recorded(tg: tuple[ExtBot[None], FakeTelegram]) -> None:
    bot, api = tg
    markup = InlineKeyboardMarkup([[InlineKeyboardButton("x", callback_data="d" * 65)]])
    with pytest.raises(BadRequest):
        await bot.send_message(1, "hello", reply_markup=markup)
    assert api.violations and "callback_data" in api.violations[0]
    api.violations.clear()


async def test_injected_failures_map_to_the_library_errors(tg: tuple[ExtBot[None], FakeTelegram]) -> None:
    bot, api = tg
    api.fail_next("sendMessage", 429, "Too Many Requests: retry after 3", retry_after=3)
    with pytest.raises(RetryAfter) as retry:
        await bot.send_message(1, "a")
    assert retry.value.retry_after in (3, timedelta(seconds=3))
    api.fail_next("sendMessage", 502, "Bad Gateway")
    with pytest.raises(NetworkError):
        await bot.send_message(1, "b")
    api.fail_next("sendMessage", 400, "Bad Request: chat not found")
    with pytest.raises(BadRequest):
        await bot.send_message(1, "c")
    api.raise_next("sendMessage", TimedOut())
    with pytest.raises(TimedOut):
        await bot.send_message(1, "d")
    api.block(7)
    with pytest.raises(Forbidden):
        await bot.send_message(7, "e")
    sent = await bot.send_message(1, "f")
    assert sent.text == "f" and api.texts(1) == ["f"]


async def test_edits_behave_like_telegram(tg: tuple[ExtBot[None], FakeTelegram]) -> None:
    bot, _api = tg
    sent = await bot.send_message(1, "one")
    edited = await bot.edit_message_text("two", chat_id=1, message_id=sent.message_id)
    assert not isinstance(edited, bool) and edited.text == "two"
    with pytest.raises(BadRequest, match="not modified"):
        await bot.edit_message_text("two", chat_id=1, message_id=sent.message_id)
    with pytest.raises(BadRequest, match="not found"):
        await bot.edit_message_text("three", chat_id=1, message_id=99999)


def test_the_shipped_copy_of_the_api_matches_the_reference() -> None:
    from pathlib import Path

    from bot.fake.spec import SPEC_PATH

    reference = Path(__file__).resolve().parents[2] / "shared" / "reference" / "telegram-bot-api.json"
    if not reference.exists():
        pytest.skip("the shared reference folder is not beside this checkout")
    assert SPEC_PATH.read_bytes() == reference.read_bytes()
