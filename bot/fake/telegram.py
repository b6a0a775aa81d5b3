"""A fake Telegram Bot API that python-telegram-bot talks to through its own request layer.

Everything above `BaseRequest` is the real library: method signatures, serialisation, error mapping,
the rate limiter, `Application` and the handlers. The fake records every call, keeps the messages it
"sent" so edits of missing or unchanged messages fail as Telegram's do, validates each request against
the published API, and can be told to fail calls with 429 / 403 / 400 / 5xx or a timeout.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from telegram.error import TimedOut
from telegram.request import BaseRequest, RequestData

from bot.fake.spec import validate_request

BOT_ID = 5550001
BOT_TOKEN = f"{BOT_ID}:OFFLINE-CONSOLE-TOKEN-NOT-REAL"
BOT_USERNAME = "guardian_offline_bot"

Response = tuple[int, dict[str, Any]]


@dataclass
class Call:
    method: str
    params: dict[str, Any]
    status: int = 200


@dataclass
class FakeTelegram:
    """The server side. One instance is shared by every request object of an application."""

    validate: bool = True
    calls: list[Call] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    scripted: dict[str, list[Response | BaseException]] = field(default_factory=dict)
    blocked_chat_ids: set[int] = field(default_factory=set)
    messages: dict[tuple[int, int], dict[str, Any]] = field(default_factory=dict)
    random_failure_rate: float = 0.0
    random_failures: list[Response | BaseException] = field(default_factory=list)
    rng: random.Random = field(default_factory=lambda: random.Random(7))
    listeners: list[Callable[[Call], None]] = field(default_factory=list)
    # Files uploaded with a request (multipart, "attach://name"): (chat id, name, bytes), in order.
    uploads: list[tuple[int, str, bytes]] = field(default_factory=list)
    _files: dict[str, bytes] = field(default_factory=dict)
    _message_ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1000))

    # --- fault injection -------------------------------------------------------------------------
    def fail_next(self, method: str, status: int, description: str, **parameters: Any) -> None:
        body: dict[str, Any] = {"ok": False, "error_code": status, "description": description}
        if parameters:
            body["parameters"] = parameters
        self.scripted.setdefault(method, []).append((status, body))

    def raise_next(self, method: str, exc: BaseException | None = None) -> None:
        self.scripted.setdefault(method, []).append(exc or TimedOut())

    def block(self, chat_id: int) -> None:
        self.blocked_chat_ids.add(chat_id)

    # --- inspection ------------------------------------------------------------------------------
    def sent(self, chat_id: int | None = None, method: str | None = None) -> list[dict[str, Any]]:
        """Successful message-producing calls (sendMessage, editMessageText, sendContact, ...)."""
        out = []
        for c in self.calls:
            if c.status != 200 or c.method not in _PRODUCING:
                continue
            if method and c.method != method:
                continue
            if chat_id is not None and int(c.params.get("chat_id", 0)) != chat_id:
                continue
            out.append({"method": c.method, **c.params})
        return out

    def texts(self, chat_id: int | None = None) -> list[str]:
        return [m.get("text", "") for m in self.sent(chat_id) if "text" in m]

    def last(self, chat_id: int) -> dict[str, Any]:
        sent = [m for m in self.sent(chat_id) if "text" in m]
        if not sent:
            raise AssertionError(f"nothing was sent to chat {chat_id}")
        return sent[-1]

    def reset_calls(self) -> None:
        self.calls.clear()

    # --- the server ------------------------------------------------------------------------------
    def handle(self, method: str, params: dict[str, Any], files: dict[str, bytes] | None = None) -> Response:
        self._files = files or {}
        call = Call(method, params)
        self.calls.append(call)
        for listener in self.listeners:
            listener(call)
        if self.validate:
            problems = validate_request(method, params)
            if problems:
                self.violations.extend(problems)
                call.status = 400
                return 400, {"ok": False, "error_code": 400, "description": "Bad Request: " + problems[0]}
        queued = self.scripted.get(method)
        if queued:
            nxt = queued.pop(0)
            if isinstance(nxt, BaseException):
                call.status = 599
                raise nxt
            call.status = nxt[0]
            return nxt
        if self.random_failure_rate and method in _PRODUCING and self.rng.random() < self.random_failure_rate:
            nxt = self.rng.choice(self.random_failures or [_server_error()])
            if isinstance(nxt, BaseException):
                call.status = 599
                raise nxt
            call.status = nxt[0]
            return nxt
        chat_id = params.get("chat_id")
        if chat_id is not None and int(chat_id) in self.blocked_chat_ids:
            call.status = 403
            return 403, {
                "ok": False,
                "error_code": 403,
                "description": "Forbidden: bot was blocked by the user",
            }
        handler = getattr(self, f"_m_{method}", None)
        result = handler(params) if handler else True
        if isinstance(result, tuple):
            call.status = result[0]
            return result
        return 200, {"ok": True, "result": result}

    def _bot_user(self) -> dict[str, Any]:
        return {
            "id": BOT_ID,
            "is_bot": True,
            "first_name": "Guardian",
            "username": BOT_USERNAME,
            "can_join_groups": False,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
        }

    def _m_getMe(self, _: dict[str, Any]) -> dict[str, Any]:
        return self._bot_user()

    def _new_message(self, params: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
        chat_id = int(params["chat_id"])
        message = {
            "message_id": next(self._message_ids),
            "date": int(time.time()),
            "chat": {"id": chat_id, "type": "private" if chat_id > 0 else "supergroup"},
            "from": self._bot_user(),
            **extra,
        }
        if "reply_markup" in params:
            message["reply_markup"] = params["reply_markup"]
        self.messages[(chat_id, message["message_id"])] = message
        return message

    def _m_sendMessage(self, p: dict[str, Any]) -> dict[str, Any]:
        return self._new_message(p, {"text": p["text"]})

    def _m_sendContact(self, p: dict[str, Any]) -> dict[str, Any]:
        contact = {"phone_number": p["phone_number"], "first_name": p["first_name"]}
        return self._new_message(p, {"contact": contact})

    def _m_sendVoice(self, p: dict[str, Any]) -> dict[str, Any]:
        voice = {"file_id": str(p["voice"]), "file_unique_id": "u" + str(p["voice"])[-8:], "duration": 1}
        return self._new_message(p, {"voice": voice, **({"caption": p["caption"]} if "caption" in p else {})})

    def _photo(self, chat_id: int, given: str) -> list[dict[str, Any]]:
        """A photo by file id, or uploaded ("attach://name"): then it gets a new file id, as Telegram gives."""
        if given.startswith("attach://"):
            name = given[len("attach://") :]
            data = self._files.get(name)
            if data is None:
                raise KeyError(f"no file uploaded as {name!r}")
            self.uploads.append((chat_id, name, data))
            given = f"upload-{len(self.uploads)}"
        return [{"file_id": given, "file_unique_id": "u" + given[-8:], "width": 1, "height": 1}]

    def _m_sendPhoto(self, p: dict[str, Any]) -> dict[str, Any]:
        photo = self._photo(int(p["chat_id"]), str(p["photo"]))
        return self._new_message(p, {"photo": photo, **({"caption": p["caption"]} if "caption" in p else {})})

    def _m_sendMediaGroup(self, p: dict[str, Any]) -> list[dict[str, Any]] | Response:
        media = p["media"]
        if not 2 <= len(media) <= 10:
            return 400, {"ok": False, "error_code": 400, "description": "Bad Request: wrong number of media"}
        group = str(next(self._message_ids))
        sent = []
        for item in media:
            if item.get("type") != "photo":
                return 400, {"ok": False, "error_code": 400, "description": "Bad Request: only photos here"}
            photo = self._photo(int(p["chat_id"]), str(item["media"]))
            extra = {
                "photo": photo,
                "media_group_id": group,
                **({"caption": item["caption"]} if "caption" in item else {}),
            }
            sent.append(self._new_message({"chat_id": p["chat_id"]}, extra))
        return sent

    def _edit(self, p: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any] | Response:
        key = (int(p.get("chat_id", 0)), int(p.get("message_id", 0)))
        message = self.messages.get(key)
        if message is None:
            return 400, {
                "ok": False,
                "error_code": 400,
                "description": "Bad Request: message to edit not found",
            }
        if all(message.get(k) == v for k, v in changes.items()):
            return 400, {
                "ok": False,
                "error_code": 400,
                "description": "Bad Request: message is not modified: specified new message content and reply "
                "markup are exactly the same as a current content and reply markup of the message",
            }
        message.update(changes)
        if "reply_markup" not in changes:
            message.pop("reply_markup", None)
        return message

    def _m_editMessageText(self, p: dict[str, Any]) -> dict[str, Any] | Response:
        changes: dict[str, Any] = {"text": p["text"]}
        if "reply_markup" in p:
            changes["reply_markup"] = p["reply_markup"]
        return self._edit(p, changes)

    def _m_editMessageReplyMarkup(self, p: dict[str, Any]) -> dict[str, Any] | Response:
        return self._edit(p, {"reply_markup": p.get("reply_markup")})

    def _m_deleteMessage(self, p: dict[str, Any]) -> bool | Response:
        if self.messages.pop((int(p["chat_id"]), int(p["message_id"])), None) is None:
            return 400, {
                "ok": False,
                "error_code": 400,
                "description": "Bad Request: message to delete not found",
            }
        return True

    def _m_getUpdates(self, _: dict[str, Any]) -> list[Any]:
        return []


_PRODUCING = {
    "sendMessage",
    "editMessageText",
    "editMessageReplyMarkup",
    "sendContact",
    "sendPhoto",
    "sendVoice",
    "sendMediaGroup",
}


def _server_error() -> Response:
    return 502, {"ok": False, "error_code": 502, "description": "Bad Gateway"}


class FakeRequest(BaseRequest):
    """python-telegram-bot's transport, pointed at a `FakeTelegram` instead of the network."""

    def __init__(self, api: FakeTelegram) -> None:
        self.api = api
        # chat id -> seconds every request naming that chat takes (a person on a slow connection)
        self.slow_chats: dict[int, float] = {}

    @property
    def read_timeout(self) -> float:
        return 1.0

    async def initialize(self) -> None:
        return None

    async def shutdown(self) -> None:
        return None

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: Any = BaseRequest.DEFAULT_NONE,
        write_timeout: Any = BaseRequest.DEFAULT_NONE,
        connect_timeout: Any = BaseRequest.DEFAULT_NONE,
        pool_timeout: Any = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        api_method = url.rsplit("/", 1)[-1]
        params = dict(request_data.parameters) if request_data else {}
        # Round-trip through JSON, as the wire would, so nothing non-serialisable slips through.
        params = json.loads(json.dumps(params))
        files = {}
        if request_data is not None and request_data.contains_files:
            for name, part in request_data.multipart_data.items():
                content = part[1] if isinstance(part, tuple) else part
                files[name] = content if isinstance(content, bytes) else bytes(content)
        pause = self.slow_chats.get(params.get("chat_id")) if self.slow_chats else None
        if pause:
            await asyncio.sleep(pause)
        status, body = self.api.handle(api_method, params, files)
        return status, json.dumps(body).encode()
