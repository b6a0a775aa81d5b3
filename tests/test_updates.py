"""Updates are worked through side by side for different people and in order for one person (bot/updates.py):
one slow chat does not hold anyone else, and nobody's quick presses overtake each other."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from telegram import Update
from telegram.ext import ContextTypes

from bot.app import build_application
from bot.config import Settings
from bot.fake import BOT_TOKEN, FakeRequest, FakeTelegram
from bot.services.areas import ensure_default_areas
from bot.updates import InOrderPerChat
from db.session import Database


def update(update_id: int, chat: int, text: str = "hello", bot: Any = None) -> Update:
    message = {
        "message_id": update_id,
        "date": 1_800_000_000,
        "chat": {"id": chat, "type": "private"},
        "from": {"id": chat, "is_bot": False, "first_name": "Gran", "language_code": "en"},
        "text": text,
    }
    if text.startswith("/"):
        message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}]
    return Update.de_json({"update_id": update_id, "message": message}, bot)


async def test_chats_run_side_by_side_and_each_chat_in_arrival_order() -> None:
    processor = InOrderPerChat(8)
    log: list[tuple[str, str]] = []

    async def work(name: str, seconds: float) -> None:
        log.append(("start", name))
        await asyncio.sleep(seconds)
        log.append(("end", name))

    started = time.perf_counter()
    await asyncio.gather(
        processor.process_update(update(1, 100), work("a1", 0.3)),
        processor.process_update(update(2, 100), work("a2", 0.01)),
        processor.process_update(update(3, 200), work("b1", 0.01)),
        processor.process_update(update(4, 100), work("a3", 0.01)),
    )
    elapsed = time.perf_counter() - started
    # Another chat is not held by chat 100's slow first update ...
    assert log.index(("end", "b1")) < log.index(("end", "a1"))
    # ... and chat 100's updates ran one after another, in the order they came.
    chat_100 = [entry for entry in log if entry[1].startswith("a")]
    assert chat_100 == [(edge, name) for name in ("a1", "a2", "a3") for edge in ("start", "end")]
    assert elapsed < 0.6
    assert len(processor.turns) == 0  # nothing kept for chats with nothing waiting


async def test_an_update_cancelled_while_waiting_its_turn_never_runs() -> None:
    processor = InOrderPerChat(8)
    ran: list[str] = []

    async def work(name: str, seconds: float) -> None:
        ran.append(name)
        await asyncio.sleep(seconds)

    first = asyncio.create_task(processor.process_update(update(1, 100), work("first", 0.2)))
    second_work = work("second", 0)
    second = asyncio.create_task(processor.process_update(update(2, 100), second_work))
    await asyncio.sleep(0.05)
    second.cancel()
    await asyncio.gather(first, second, return_exceptions=True)
    assert ran == ["first"]
    assert second_work.cr_frame is None  # closed, not left to warn "was never awaited"
    assert len(processor.turns) == 0


async def test_a_slow_chat_does_not_delay_other_people(settings: Settings, db: Database) -> None:
    async with db.transaction() as session:
        await ensure_default_areas(session)
    api = FakeTelegram()
    request = FakeRequest(api)
    request.slow_chats[7001] = 1.0  # every request to this grandmother's phone takes a second
    app = build_application(settings, db, token=BOT_TOKEN, request=request, max_retries=0)
    errors: list[BaseException] = []

    async def collect(_update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        errors.append(context.error or RuntimeError("unknown"))

    app.add_error_handler(collect)
    await app.initialize()
    await app.start()
    try:
        first_answer: dict[int, float] = {}
        both = asyncio.Event()

        def listen(call: Any) -> None:
            if call.method == "sendMessage":
                first_answer.setdefault(int(call.params["chat_id"]), time.perf_counter() - started)
                if len(first_answer) == 2:
                    both.set()

        api.listeners.append(listen)
        started = time.perf_counter()
        await app.update_queue.put(update(1, 7001, "/start", app.bot))
        await app.update_queue.put(update(2, 7002, "/start", app.bot))
        await asyncio.wait_for(both.wait(), 10)
        quick, slow = first_answer[7002], first_answer[7001]
        assert quick < 0.8, f"the second person waited {quick:.2f} s behind the slow chat"
        assert slow >= 1.0
    finally:
        await app.stop()
        await app.shutdown()
    assert not errors, errors
    assert not api.violations, api.violations


async def test_one_persons_updates_are_answered_in_the_order_sent(settings: Settings, db: Database) -> None:
    async with db.transaction() as session:
        await ensure_default_areas(session)
    api = FakeTelegram()
    request = FakeRequest(api)
    request.slow_chats[7003] = 0.2
    app = build_application(settings, db, token=BOT_TOKEN, request=request, max_retries=0)
    await app.initialize()
    await app.start()
    texts: list[Any] = []
    try:
        await app.update_queue.put(update(1, 7003, "/start", app.bot))
        await app.update_queue.put(update(2, 7003, "/help", app.bot))
        for _ in range(300):
            texts = api.texts(7003)
            if len(texts) >= 2:
                break
            await asyncio.sleep(0.02)
    finally:
        await app.stop()
        await app.shutdown()
    # /start asks for a language first; /help's answer (the ways to get help, with 110) comes after it.
    assert len(texts) == 2, texts
    assert "Please choose your language" in texts[0] and "110" in texts[1], texts
