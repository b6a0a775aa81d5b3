"""How updates from Telegram are worked through: different people side by side, one person's in order.

python-telegram-bot handles one update at a time unless told otherwise. Then one slow step (a report being
filed, a reply held back by Telegram's limit of about 30 messages a second) holds everyone behind it: fifty
neighbours pressing "Send" together wait for each other's replies before the fiftieth report is even saved.
With `concurrent_updates` every update runs at once, and two quick presses by the same grandmother could
then race through her conversation state. This processor does both halves: updates of different chats run
concurrently (up to `max_concurrent_updates`), and those of one chat run one after another, in the order
they arrived.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any

from telegram import Update
from telegram.ext import BaseUpdateProcessor

from bot.turns import Turns

MAX_CONCURRENT = 128


def chat_of(update: object) -> int | None:
    """The conversation an update belongs to: its chat, else its sender; None when it has neither."""
    if not isinstance(update, Update):
        return None
    if update.effective_chat is not None:
        return update.effective_chat.id
    if update.effective_user is not None:
        return update.effective_user.id
    return None


class InOrderPerChat(BaseUpdateProcessor):
    """Concurrent across chats, in arrival order within a chat."""

    __slots__ = ("turns",)

    def __init__(self, max_concurrent_updates: int = MAX_CONCURRENT) -> None:
        super().__init__(max_concurrent_updates)
        self.turns = Turns()

    async def process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        chat = chat_of(update)
        if chat is None:
            await super().process_update(update, coroutine)
            return
        started = False
        try:
            # The chat's turn is taken before a place among the concurrent ones, so updates queued behind
            # one slow chat never hold places other people need.
            async with self.turns.turn(chat):
                started = True
                await super().process_update(update, coroutine)
        finally:
            if not started and asyncio.iscoroutine(coroutine):
                coroutine.close()  # cancelled while waiting its turn: never run, so no "never awaited" warning

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        await coroutine

    async def initialize(self) -> None:
        return None

    async def shutdown(self) -> None:
        return None
