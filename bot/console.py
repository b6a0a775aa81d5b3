"""The bot in a terminal: the real Application on the configured database, over a fake Telegram.

Each input line is one step taken by the current console person: text (commands included) or, for a
bare number, a press of that button on their newest message with buttons. After each step the console
prints what changed in that person's chat, and what other console persons received (`📨 to NAME:`).
Works interactively and with a piped script; a scripted transcript echoes each input line.
"""

from __future__ import annotations

import asyncio
import dataclasses
import html
import io
import itertools
import json
import logging
import re
import sys
import threading
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TextIO

from telegram import Update
from telegram.ext import Application, ContextTypes
from telegram.warnings import PTBUserWarning

from bot.app import build_application
from bot.config import Settings
from bot.demo import DEMO_PEOPLE, FAKE_ID_BASE, DemoRefused, seed_demo
from bot.fake import BOT_TOKEN, FakeRequest, FakeTelegram
from bot.fake.telegram import Call
from bot.runtime import Runtime

log = logging.getLogger(__name__)

FIRST_PERSON = "grandma"
FIRST_NEW_ID = FAKE_ID_BASE + 1001
MAX_PRESS_DIGITS = 3  # longer numbers (a phone number) are sent as text
OUTBOX_ROUNDS = 5  # bound on run_due rounds per step

HELP = """\
Console commands (everything else is sent to the bot as the current person):
  N              press button N of your newest message with buttons (up to 3 digits)
  \\TEXT          send TEXT literally, e.g. \\5 or \\/as
  /as NAME [en]  talk as NAME (a new NAME gets a new Telegram account; 'en' makes its Telegram English)
  /who           list persons
  /screen!       show your newest message with buttons again
  /code!         type the newest code the bot showed anyone here (for replayable walkthroughs)
  /help!         this help (the bot's own help is /help)
  /quit          leave (so does end of input)"""

BANNER = """\
You are '{name}'. Type what a person would type; a number presses that button.
/as NAME switches person (/as father en: a new person in English), /who lists persons,
/help! shows console help, /quit leaves."""

CODE_SHOWN = re.compile(r"<code>([A-Z0-9]{5}-[A-Z0-9]{5})</code>")
Key = tuple[int, int]  # (chat_id, message_id) as the fake keeps messages


@dataclass
class ConsolePerson:
    name: str
    id: int
    language_code: str | None = "zh-hans"


@dataclass
class Console:
    app: Application  # type: ignore[type-arg]
    api: FakeTelegram
    out: TextIO
    color: bool  # bold text for <b> only on a terminal
    persons: dict[str, ConsolePerson] = field(default_factory=dict)
    current: str = FIRST_PERSON
    errors: list[str] = field(default_factory=list)
    _alerts: list[str] = field(default_factory=list)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def __post_init__(self) -> None:
        self.person(FIRST_PERSON)
        self.api.listeners.append(self._listen)

        async def record(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
            # The class name only; the app's own error handler logs the traceback.
            self.errors.append(type(context.error).__name__)

        self.app.add_error_handler(record)

    # --- persons ---------------------------------------------------------------------------------
    def person(self, name: str) -> ConsolePerson:
        if name not in self.persons:
            taken = {p.id for p in self.persons.values()}
            pid = DEMO_PEOPLE.get(name) or next(i for i in itertools.count(FIRST_NEW_ID) if i not in taken)
            self.persons[name] = ConsolePerson(name, pid)
        return self.persons[name]

    def name_of(self, chat_id: int) -> str | None:
        return next((p.name for p in self.persons.values() if p.id == chat_id), None)

    # --- input -----------------------------------------------------------------------------------
    async def handle(self, line: str) -> bool:
        """Run one input line; False when the console should stop."""
        text = line.rstrip("\r\n")
        stripped = text.strip()
        if not stripped:
            return True
        if stripped == "/quit":
            return False
        if stripped == "/help!":
            self.print(HELP)
        elif stripped == "/who":
            self._who()
        elif stripped == "/screen!":
            key = self._newest_with_buttons(self.persons[self.current].id)
            self.print("(no message with buttons yet)" if key is None else self._render(self.api.messages[key]))
        elif stripped == "/code!":
            code = self._newest_code()
            if code is None:
                self.print("‼️ no code has been shown yet")
            else:
                await self._step(lambda: self._send(code))
        elif stripped == "/as" or stripped.startswith("/as "):
            self._switch(stripped.split()[1:])
        elif stripped.isdigit() and len(stripped) <= MAX_PRESS_DIGITS:
            await self._step(lambda: self._press(int(stripped)))
        else:
            literal = text[1:] if text.startswith("\\") else text
            await self._step(lambda: self._send(literal))
        self.out.flush()
        return True

    def _newest_code(self) -> str | None:
        for _key, message in sorted(self.api.messages.items(), key=lambda kv: kv[0][1], reverse=True):
            found = CODE_SHOWN.search(str(message.get("text", "")))
            if found:
                return found.group(1)
        return None

    def _who(self) -> None:
        for p in self.persons.values():
            mark = "*" if p.name == self.current else " "
            self.print(f"{mark} {p.name} (Telegram id {p.id}, language {p.language_code or '-'})")

    def _switch(self, args: list[str]) -> None:
        if not args or len(args) > 2 or not re.fullmatch(r"[\w.-]{1,32}", args[0]):
            self.print("usage: /as NAME [LANGUAGE], e.g. /as father en")
            return
        p = self.person(args[0])
        if len(args) == 2:
            # Telegram's language_code; the bot reads it only when it first meets the person.
            p.language_code = args[1]
        self.current = p.name
        self.print(f"→ now {p.name} (Telegram id {p.id}, language {p.language_code or '-'})")

    # --- one step --------------------------------------------------------------------------------
    async def _step(self, act: Callable[[], dict[str, Any] | None]) -> None:
        before = {k: _fingerprint(m) for k, m in self.api.messages.items()}
        errors_before = len(self.errors)
        violations_before = len(self.api.violations)
        self._alerts.clear()
        pid = self.persons[self.current].id
        update = act()
        if update is not None:
            try:
                await self._process(update)
            except Exception as exc:  # handler errors go to the error handler; this is anything else
                log.error("console step failed: %s", type(exc).__name__, exc_info=exc)
                self.errors.append(type(exc).__name__)
        self._report(before, pid)
        for alert in self._alerts:
            self.print(f"⚠️ {_plain(alert, False)}")
        for violation in self.api.violations[violations_before:]:
            self.print(f"‼️ API violation: {violation}")
        for name in self.errors[errors_before:]:
            self.print(f"‼️ error: {name}")

    async def _process(self, update: dict[str, Any]) -> None:
        await self.app.process_update(Update.de_json({"update_id": next(self._ids), **update}, self.app.bot))
        rt: Runtime = self.app.bot_data[Runtime.KEY]
        # Handlers deliver right after commit; this sends whatever else fell due (as the tick would).
        for _ in range(OUTBOX_ROUNDS):
            if not await rt.dispatcher.run_due():
                break
        # Conversation states reach the database now, not only at shutdown.
        await self.app.update_persistence()

    def _listen(self, call: Call) -> None:
        if call.method == "answerCallbackQuery" and call.params.get("text"):
            self._alerts.append(str(call.params["text"]))

    def _user(self) -> dict[str, Any]:
        p = self.persons[self.current]
        user: dict[str, Any] = {"id": p.id, "is_bot": False, "first_name": p.name}
        if p.language_code:
            user["language_code"] = p.language_code
        return user

    def _send(self, text: str) -> dict[str, Any]:
        p = self.persons[self.current]
        msg: dict[str, Any] = {
            "message_id": next(self._ids),
            "date": int(time.time()),
            "chat": {"id": p.id, "type": "private", "first_name": p.name},
            "from": self._user(),
            "text": text,
        }
        if text.startswith("/"):
            msg["entities"] = [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}]
        return {"message": msg}

    def _press(self, number: int) -> dict[str, Any] | None:
        p = self.persons[self.current]
        key = self._newest_with_buttons(p.id)
        if key is None:
            self.print(f"‼️ {p.name} has no message with buttons")
            return None
        message = self.api.messages[key]
        buttons = [b for row in _keyboard(message) for b in row]
        if not 1 <= number <= len(buttons):
            self.print(f"‼️ no button {number}: the newest message has buttons 1-{len(buttons)}")
            return None
        button = buttons[number - 1]
        if "callback_data" not in button:
            self.print(f"‼️ button {number} is not a bot button ({button.get('url', 'no callback data')})")
            return None
        query = {
            "id": str(next(self._ids)),
            "from": self._user(),
            "chat_instance": str(p.id),
            "data": button["callback_data"],
            "message": {
                "message_id": message["message_id"],
                "date": int(time.time()),
                "chat": {"id": p.id, "type": "private"},
                "from": message["from"],
                "text": message.get("text", ""),
                "reply_markup": message["reply_markup"],
            },
        }
        return {"callback_query": query}

    # --- output ----------------------------------------------------------------------------------
    def _newest_with_buttons(self, chat_id: int) -> Key | None:
        keys = [k for k, m in self.api.messages.items() if k[0] == chat_id and _keyboard(m)]
        return max(keys, key=lambda k: k[1], default=None)

    def _report(self, before: dict[Key, str], pid: int) -> None:
        changed = sorted(
            (k for k, m in self.api.messages.items() if before.get(k) != _fingerprint(m)), key=lambda k: k[1]
        )
        # The person's own chat first, then what others received in the same step.
        for key in [k for k in changed if k[0] == pid] + [k for k in changed if k[0] != pid]:
            edited = key in before
            prefix = "✏️ " if edited else ""
            if key[0] != pid:
                who = self.name_of(key[0]) or f"chat {key[0]}"
                prefix = f"📨 to {who}{' (edited)' if edited else ''}: "
            self.print(prefix + self._render(self.api.messages[key]))
        for key in before.keys() - self.api.messages.keys():
            if key[0] == pid:
                self.print("🗑 (a message was deleted)")

    def _render(self, message: dict[str, Any]) -> str:
        key = (int(message["chat"]["id"]), int(message["message_id"]))
        if "text" in message:
            text = _plain(str(message["text"]), self.color)
        elif "contact" in message:
            text = (
                f"📇 contact: {message['contact'].get('first_name', '')} {message['contact'].get('phone_number', '')}"
            )
        else:
            text = "(a message without text)"
        lines = [text]
        # Only the newest message with buttons is pressable by number; older ones show their labels.
        numbered = key == self._newest_with_buttons(key[0])
        n = 0
        for row in _keyboard(message):
            cells = []
            for button in row:
                n += 1
                cells.append(f"[{n if numbered else '·'}] {button.get('text', '')}")
            lines.append("  ".join(cells))
        return "\n".join(lines)

    def print(self, text: str) -> None:
        self.out.write(text + "\n")


def _keyboard(message: dict[str, Any]) -> list[list[dict[str, Any]]]:
    markup = message.get("reply_markup") or {}
    rows: list[list[dict[str, Any]]] = markup.get("inline_keyboard") or []
    return rows


def _fingerprint(message: dict[str, Any]) -> str:
    return json.dumps([message.get("text"), message.get("reply_markup")], sort_keys=True, ensure_ascii=False)


_BOLD = re.compile(r"<(b|strong)>(.*?)</\1>", re.DOTALL)
_TAG = re.compile(r"<[^>]+>")


def _plain(text: str, bold: bool) -> str:
    """Telegram HTML as terminal text: tags dropped (bold kept on a terminal), entities unescaped."""
    if bold:
        text = _BOLD.sub(lambda m: f"\x01{m.group(2)}\x02", text)
    text = html.unescape(_TAG.sub("", text))
    # Markers survive unescaping untouched and cannot come from Telegram HTML text.
    return text.replace("\x01", "\033[1m").replace("\x02", "\033[0m")


# --- running ---------------------------------------------------------------------------------------


async def _read_line(stdin: TextIO, prompt: str | None) -> str | None:
    """One line from stdin without blocking the event loop; None at end of input.

    A daemon thread per line rather than `asyncio.to_thread`: an executor thread stuck in `input()`
    would keep the process alive after Ctrl-C.
    """
    loop = asyncio.get_running_loop()
    future: asyncio.Future[str | None] = loop.create_future()

    def read() -> None:
        line: str | None
        try:
            line = input(prompt) + "\n" if prompt is not None else (stdin.readline() or None)
        except (EOFError, OSError, ValueError):  # end of input, or stdin closed under us
            line = None
        try:
            loop.call_soon_threadsafe(_settle, future, line)
        except RuntimeError:  # the loop has closed meanwhile
            pass

    threading.Thread(target=read, name="console-stdin", daemon=True).start()
    return await future


def _settle(future: asyncio.Future[str | None], line: str | None) -> None:
    if not future.done():
        future.set_result(line)


async def console_main(
    settings: Settings, demo: bool, stdin: TextIO, out: TextIO, *, interactive: bool = False, color: bool = False
) -> int:
    """The console loop; `run_console` wires it to the terminal. Returns 1 if any handler failed."""
    # Imported here: importing alembic logs at INFO, and `run_console` quietens logging first.
    from bot.main import prepare_database

    db = await prepare_database(settings)
    try:
        try:
            lines = await seed_demo(db) if demo else []
        except DemoRefused as exc:
            demo, lines = False, []
            out.write(f"No demo county: {exc}.\n")
        api = FakeTelegram()
        # One person at a keyboard (or a script replayed at full speed): no flood limit here.
        local = dataclasses.replace(settings, flood_burst=1_000_000)
        app = build_application(local, db, token=BOT_TOKEN, request=FakeRequest(api), max_retries=0)
        console = Console(app, api, out, color)
        async with app:
            if demo:
                console.print("Demo county loaded (made-up places and caseworkers):")
                for line in lines:
                    console.print(f"  {line}")
            else:
                console.print("Offline console: the real bot on your database, talking to a fake Telegram.")
            console.print(BANNER.format(name=console.current))
            out.flush()
            while True:
                line = await _read_line(stdin, f"{console.current}> " if interactive else None)
                if line is None:
                    break
                if not interactive:
                    # A scripted transcript shows who typed what.
                    console.print(f"{console.current}> {line.rstrip()}")
                if not await console.handle(line):
                    break
        if console.errors:
            console.print(f"‼️ {len(console.errors)} error(s) during this session; see the log on stderr")
        out.flush()
        return 1 if console.errors else 0
    finally:
        await db.dispose()


def run_console(settings: Settings, demo: bool) -> int:
    interactive = sys.stdin.isatty()
    if isinstance(sys.stdout, io.TextIOWrapper):
        # Emoji on a terminal that cannot show them become escapes rather than a crash.
        sys.stdout.reconfigure(errors="backslashreplace")
    if interactive:
        try:
            import readline  # noqa: F401  (line editing and history for input())
        except ImportError:
            pass
    # Known and harmless (the conversation is per chat on purpose); the tests ignore it too.
    warnings.filterwarnings("ignore", message="If 'per_message=False'", category=PTBUserWarning)
    root = logging.getLogger()
    if root.level > logging.DEBUG:
        # Keep the transcript readable: only warnings and errors reach stderr unless LOG_LEVEL=DEBUG.
        root.setLevel(logging.WARNING)
    return asyncio.run(
        console_main(settings, demo, sys.stdin, sys.stdout, interactive=interactive, color=sys.stdout.isatty())
    )
