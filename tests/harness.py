"""Drive the real Application through the fake Bot API, as people on their phones would.

Updates are built as Bot API JSON and parsed by python-telegram-bot (`Update.de_json`), so the library's
own parsing, handlers, ConversationHandler and persistence all run. Any handler exception is collected
and fails the test; so does any request the fake Bot API rejects against the published API.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field
from typing import Any

from telegram import Update
from telegram.ext import Application, ContextTypes

from bot.app import build_application
from bot.config import Settings
from bot.fake import BOT_TOKEN, FakeRequest, FakeTelegram
from db.session import Database

_update_ids = itertools.count(1)
_message_ids = itertools.count(1)
_query_ids = itertools.count(1)


@dataclass
class Person:
    name: str
    id: int
    language_code: str | None = "zh-hans"


@dataclass
class Harness:
    app: Application  # type: ignore[type-arg]
    api: FakeTelegram
    errors: list[BaseException] = field(default_factory=list)

    # --- sending ---------------------------------------------------------------------------------
    def _user(self, who: Person) -> dict[str, Any]:
        user: dict[str, Any] = {"id": who.id, "is_bot": False, "first_name": who.name}
        if who.language_code:
            user["language_code"] = who.language_code
        return user

    async def feed(self, payload: dict[str, Any]) -> None:
        update = Update.de_json({"update_id": next(_update_ids), **payload}, self.app.bot)
        await self.app.process_update(update)

    def message_json(self, who: Person, text: str | None = None, **extra: Any) -> dict[str, Any]:
        msg: dict[str, Any] = {
            "message_id": next(_message_ids),
            "date": int(time.time()),
            "chat": {"id": who.id, "type": "private", "first_name": who.name},
            "from": self._user(who),
            **extra,
        }
        if text is not None:
            msg["text"] = text
            if text.startswith("/"):
                msg["entities"] = [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}]
        return msg

    async def send(self, who: Person, text: str) -> None:
        await self.feed({"message": self.message_json(who, text)})

    async def send_sticker(self, who: Person) -> None:
        sticker = {
            "file_id": "CAACAgIAAxkBAAE",
            "file_unique_id": "AgADsticker",
            "type": "regular",
            "width": 512,
            "height": 512,
            "is_animated": False,
            "is_video": False,
        }
        await self.feed({"message": self.message_json(who, None, sticker=sticker)})

    async def send_photo(self, who: Person) -> None:
        photo = [{"file_id": "AgACAgIAAxkBAAE", "file_unique_id": "AQADphoto", "width": 90, "height": 90}]
        await self.feed({"message": self.message_json(who, None, photo=photo)})

    async def press(self, who: Person, label: str | None = None, *, data: str | None = None) -> None:
        """Press a button of the newest message that has buttons, by (part of) its label or its data."""
        message = self.last_with_buttons(who)
        if data is None:
            assert label is not None
            data = self.find_button(message, label)
        await self.press_data(who, data, message)

    async def press_data(self, who: Person, data: str, message: dict[str, Any] | None = None) -> None:
        """Send a callback query with any data, e.g. a forged one."""
        if message is None:
            message = self.last_with_buttons(who)
        query = {
            "id": str(next(_query_ids)),
            "from": self._user(who),
            "chat_instance": str(who.id),
            "data": data,
            "message": {
                "message_id": message["message_id"],
                "date": int(time.time()),
                "chat": {"id": who.id, "type": "private"},
                "from": message["from"],
                "text": message.get("text", ""),
                **({"reply_markup": message["reply_markup"]} if "reply_markup" in message else {}),
            },
        }
        await self.feed({"callback_query": query})

    # --- reading ---------------------------------------------------------------------------------
    def messages(self, who: Person) -> list[dict[str, Any]]:
        """The chat as it stands: messages the bot sent to this person, after edits."""
        return [m for (chat, _), m in sorted(self.api.messages.items()) if chat == who.id]

    def last_with_buttons(self, who: Person) -> dict[str, Any]:
        for message in reversed(self.messages(who)):
            if message.get("reply_markup", {}).get("inline_keyboard"):
                return message
        raise AssertionError(f"no message with buttons for {who.name}")

    def screen(self, who: Person) -> str:
        """The text of the newest message with buttons (the current screen)."""
        return str(self.last_with_buttons(who).get("text", ""))

    def last_text(self, who: Person) -> str:
        messages = self.messages(who)
        assert messages, f"nothing sent to {who.name}"
        return str(messages[-1].get("text", ""))

    def all_text(self, who: Person) -> str:
        return "\n".join(str(m.get("text", "")) for m in self.messages(who))

    @staticmethod
    def buttons(message: dict[str, Any]) -> list[tuple[str, str]]:
        return [
            (b["text"], b.get("callback_data", ""))
            for row in message.get("reply_markup", {}).get("inline_keyboard", [])
            for b in row
        ]

    def labels(self, who: Person) -> list[str]:
        return [label for label, _ in self.buttons(self.last_with_buttons(who))]

    def find_button(self, message: dict[str, Any], label: str) -> str:
        matches = [data for text, data in self.buttons(message) if label in text]
        assert matches, f"no button {label!r} in {[t for t, _ in self.buttons(message)]}"
        return matches[0]

    def alerts(self, who: Person) -> list[str]:
        return [
            c.params.get("text", "")
            for c in self.api.calls
            if c.method == "answerCallbackQuery" and c.params.get("text")
        ]


async def start_harness(settings: Settings, db: Database, api: FakeTelegram | None = None) -> Harness:
    api = api or FakeTelegram()
    app = build_application(settings, db, token=BOT_TOKEN, request=FakeRequest(api), max_retries=0)
    harness = Harness(app, api)

    async def collect(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert context.error is not None
        harness.errors.append(context.error)

    app.add_error_handler(collect)
    await app.initialize()
    return harness


async def stop_harness(harness: Harness) -> None:
    await harness.app.shutdown()
