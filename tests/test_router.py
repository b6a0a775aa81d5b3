"""The button router (handlers/router.py) picks, for any callback data, the handler python-telegram-bot would
have picked trying every button handler in turn: same handler for every pattern's own data, for forged data,
and for data of another bot."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from telegram import Update
from telegram.ext import CallbackQueryHandler

from handlers.router import ButtonRouter, first_words
from tests.harness import Harness


def _router(bot: Harness) -> ButtonRouter:
    [router] = [h for h in bot.app.handlers[0] if isinstance(h, ButtonRouter)]
    return router


def _press(bot: Harness, data: str) -> Update:
    return Update.de_json(
        {
            "update_id": 1,
            "callback_query": {
                "id": "1",
                "from": {"id": 5, "is_bot": False, "first_name": "A"},
                "chat_instance": "c",
                "data": data,
                "message": {"message_id": 3, "date": 0, "chat": {"id": 5, "type": "private"}, "text": "x"},
            },
        },
        bot.app.bot,
    )


def _in_turn(handlers: list[CallbackQueryHandler[Any, Any]], update: Update) -> object:
    for handler in handlers:
        check = handler.check_update(update)
        if check is not None and check is not False:
            return handler
    return None


def test_first_words_are_read_only_where_they_are_certain() -> None:
    assert first_words(r"^tp:t:[a-z_]{1,20}$") == {"tp"}
    assert first_words(r"^(menu:cases|cs:page:\d{1,4})$") == {"menu", "cs"}
    assert first_words(r"^ab:|^cd:") is None  # a choice at the top: any data may match
    assert first_words(r"^(a|b:c)$") is None
    assert first_words(None) is None


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_the_router_picks_what_trying_each_handler_in_turn_picks(bot: Harness) -> None:
    router = _router(bot)
    assert len(router.handlers) > 40  # every button handler of the bot is behind it
    patterns = [h.pattern.pattern for h in router.handlers if h.pattern is not None]  # type: ignore[union-attr]
    data = st.one_of(
        *(st.from_regex(p, fullmatch=True) for p in patterns),
        st.text(max_size=70),
        st.text(alphabet="abcdefghijklmnopqrstuvwxyz:0123456789-_|", max_size=40),
    )
    seen: set[object] = set()

    @settings(max_examples=600, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(data)
    def same_handler(value: str) -> None:
        update = _press(bot, value)
        routed = router.check_update(update)
        expected = _in_turn(router.handlers, update)
        assert (routed[0] if routed else None) is expected  # type: ignore[index]
        seen.add(expected)

    same_handler()
    assert len(seen) > 30  # the data reached most handlers, not only the catch-all
