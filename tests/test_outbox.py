"""The outbox and its dispatcher against the fake Bot API, on SQLite and (when configured) PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import logging
from collections import Counter
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from telegram.ext import AIORateLimiter, Application

import bot.dispatcher as dispatcher_module
from bot.dispatcher import Dispatcher
from bot.fake.telegram import BOT_TOKEN, FakeRequest, FakeTelegram
from bot.services import outbox
from db.models import Outbox, User
from db.session import Database
from db.types import utcnow

TEXT = "Reminder: <b>check in</b> with Xiaoming today"
BUTTONS = [[("Done", "ck:1:done"), ("Later", "ck:1:later")], [("Help", "help")]]


@pytest.fixture(autouse=True)
def _ptb_timedelta(monkeypatch: pytest.MonkeyPatch) -> None:
    # PTB 22 warns (an error under filterwarnings=error) when reading time periods as ints.
    monkeypatch.setenv("PTB_TIMEDELTA", "1")


def build_app(api: FakeTelegram) -> Application[Any, Any, Any, Any, Any, Any]:
    return (
        Application.builder()
        .token(BOT_TOKEN)
        .request(FakeRequest(api))
        .get_updates_request(FakeRequest(api))
        .rate_limiter(AIORateLimiter(max_retries=0))
        .build()
    )


@pytest.fixture
def api() -> FakeTelegram:
    return FakeTelegram()


@pytest.fixture
async def app(api: FakeTelegram) -> AsyncIterator[Application[Any, Any, Any, Any, Any, Any]]:
    application = build_app(api)
    async with application:
        yield application


async def make_user(db: Database, n: int = 1) -> tuple[int, int]:
    async with db.transaction() as s:
        user = User(telegram_id=7000 + n, chat_id=8000 + n, locale="en", timezone="Asia/Shanghai")
        s.add(user)
        await s.flush()
        return user.id, user.chat_id


async def queue(db: Database, user_id: int, chat_id: int, key: str, **kwargs: Any) -> int:
    kwargs.setdefault("text", TEXT)
    kwargs.setdefault("kind", "test")
    async with db.transaction() as s:
        new_id = await outbox.enqueue(s, user_id=user_id, chat_id=chat_id, dedupe_key=key, **kwargs)
    assert new_id is not None
    return new_id


async def row(db: Database, id: int) -> Outbox:
    async with db.transaction() as s:
        found = await s.get(Outbox, id)
        assert found is not None
        return found


def send_calls(api: FakeTelegram) -> int:
    return sum(1 for c in api.calls if c.method == "sendMessage")


async def test_enqueue_and_deliver_sends_once_with_buttons(db: Database, app: Application, api: FakeTelegram) -> None:
    user_id, chat_id = await make_user(db)
    id = await queue(db, user_id, chat_id, "k1", buttons=BUTTONS)
    d = Dispatcher(db, app.bot)

    await d.deliver([id])
    await d.deliver([id])  # already sent: claims nothing
    assert await d.run_due() == 0

    [msg] = api.sent(chat_id)
    assert msg["method"] == "sendMessage"
    assert msg["text"] == TEXT
    assert msg["parse_mode"] == "HTML"
    markup = msg["reply_markup"]
    markup = json.loads(markup) if isinstance(markup, str) else markup
    assert [[(b["text"], b["callback_data"]) for b in r] for r in markup["inline_keyboard"]] == BUTTONS
    sent = await row(db, id)
    assert sent.status == "sent"
    assert sent.attempts == 1
    assert sent.telegram_message_id is not None
    assert sent.claimed_until is None
    assert api.violations == []


async def test_no_buttons_sends_no_markup(db: Database, app: Application, api: FakeTelegram) -> None:
    user_id, chat_id = await make_user(db)
    id = await queue(db, user_id, chat_id, "k1")
    await Dispatcher(db, app.bot).deliver([id])
    [msg] = api.sent(chat_id)
    assert "reply_markup" not in msg
    assert api.violations == []


async def test_dedupe_key_inserts_one_row(db: Database) -> None:
    user_id, chat_id = await make_user(db)
    async with db.transaction() as s:
        first = await outbox.enqueue(s, user_id=user_id, chat_id=chat_id, kind="t", text="a", dedupe_key="same")
        again = await outbox.enqueue(s, user_id=user_id, chat_id=chat_id, kind="t", text="b", dedupe_key="same")
    async with db.transaction() as s:
        later = await outbox.enqueue(s, user_id=user_id, chat_id=chat_id, kind="t", text="c", dedupe_key="same")
        other = await outbox.enqueue(s, user_id=user_id, chat_id=chat_id, kind="t", text="d", dedupe_key="other")
    assert isinstance(first, int)
    assert again is None
    assert later is None
    assert isinstance(other, int)
    async with db.transaction() as s:
        rows = (await s.execute(select(Outbox).order_by(Outbox.id))).scalars().all()
    assert [(r.dedupe_key, r.payload["text"]) for r in rows] == [("same", "a"), ("other", "d")]


async def test_enqueue_rolls_back_with_the_callers_transaction(db: Database) -> None:
    user_id, chat_id = await make_user(db)
    with pytest.raises(RuntimeError):
        async with db.transaction() as s:
            await outbox.enqueue(s, user_id=user_id, chat_id=chat_id, kind="t", text="x", dedupe_key="k")
            raise RuntimeError("handler failed after enqueue")
    async with db.transaction() as s:
        assert await s.scalar(select(func.count()).select_from(Outbox)) == 0


async def test_enqueue_rejects_oversized_callback_data(db: Database) -> None:
    user_id, chat_id = await make_user(db)
    async with db.transaction() as s:
        with pytest.raises(ValueError, match="callback_data"):
            await outbox.enqueue(
                s, user_id=user_id, chat_id=chat_id, kind="t", text="x", dedupe_key="k", buttons=[[("b", "x" * 65)]]
            )


async def test_429_waits_retry_after_then_delivers(db: Database, app: Application, api: FakeTelegram) -> None:
    user_id, chat_id = await make_user(db)
    id = await queue(db, user_id, chat_id, "k1")
    api.fail_next("sendMessage", 429, "Too Many Requests: retry after 1", retry_after=1)
    d = Dispatcher(db, app.bot)
    now = utcnow()

    assert await d.run_due(now) == 1
    waiting = await row(db, id)
    assert waiting.status == "pending"
    assert abs(waiting.due_at - (now + timedelta(seconds=1))) < timedelta(milliseconds=50)
    assert waiting.last_error is not None and waiting.last_error.startswith("RetryAfter")
    assert api.sent(chat_id) == []

    assert await d.run_due(now + timedelta(milliseconds=500)) == 0  # not yet
    assert await d.run_due(now + timedelta(seconds=2)) == 1
    assert len(api.sent(chat_id)) == 1
    done = await row(db, id)
    assert (done.status, done.attempts) == ("sent", 2)
    assert api.violations == []


@pytest.mark.parametrize(
    "fail",
    [
        pytest.param(lambda api: api.fail_next("sendMessage", 502, "Bad Gateway"), id="502"),
        pytest.param(lambda api: api.fail_next("sendMessage", 500, "Internal Server Error"), id="500"),
        pytest.param(lambda api: api.raise_next("sendMessage"), id="timeout"),
    ],
)
async def test_transient_errors_back_off_then_deliver(
    db: Database, app: Application, api: FakeTelegram, fail: Any
) -> None:
    user_id, chat_id = await make_user(db)
    id = await queue(db, user_id, chat_id, "k1")
    fail(api)
    fail(api)
    d = Dispatcher(db, app.bot)
    t0 = utcnow()

    await d.deliver([id])  # first failure: due again after 2s
    first = await row(db, id)
    assert (first.status, first.attempts) == ("pending", 1)
    assert timedelta(seconds=1.9) < first.due_at - t0 < timedelta(seconds=3)

    assert await d.run_due(t0 + timedelta(seconds=1)) == 0
    t1 = t0 + timedelta(seconds=3)
    assert await d.run_due(t1) == 1  # second failure: due again after 4s
    second = await row(db, id)
    assert (second.status, second.attempts) == ("pending", 2)
    assert second.due_at == t1 + timedelta(seconds=4)

    assert await d.run_due(t1 + timedelta(seconds=3)) == 0
    assert await d.run_due(t1 + timedelta(seconds=5)) == 1
    assert len(api.sent(chat_id)) == 1
    done = await row(db, id)
    assert (done.status, done.attempts, done.last_error) == ("sent", 3, None)
    assert send_calls(api) == 3
    assert api.violations == []


async def test_400_fails_for_good_without_leaking_text(
    db: Database, app: Application, api: FakeTelegram, caplog: pytest.LogCaptureFixture
) -> None:
    user_id, chat_id = await make_user(db)
    id = await queue(db, user_id, chat_id, "k1")
    api.fail_next("sendMessage", 400, f"Bad Request: can't parse entities in {TEXT}")
    d = Dispatcher(db, app.bot)
    now = utcnow()

    with caplog.at_level(logging.DEBUG, logger="bot.dispatcher"):
        await d.deliver([id])
    failed = await row(db, id)
    assert failed.status == "failed"
    assert failed.last_error is not None
    assert failed.last_error.startswith("BadRequest: ")
    assert TEXT not in failed.last_error
    dispatcher_logs = [r.getMessage() for r in caplog.records if r.name == "bot.dispatcher"]
    assert dispatcher_logs
    assert not any("check in" in m or "can't parse" in m for m in dispatcher_logs)

    assert await d.run_due(now + timedelta(days=1)) == 0
    assert send_calls(api) == 1
    assert (await row(db, id)).status == "failed"


async def test_403_marks_row_and_user_unreachable_and_calls_hook(
    db: Database, app: Application, api: FakeTelegram
) -> None:
    user_id, chat_id = await make_user(db)
    id = await queue(db, user_id, chat_id, "k1")
    api.block(chat_id)
    escalated: list[int] = []

    async def on_unreachable(uid: int) -> None:
        escalated.append(uid)

    d = Dispatcher(db, app.bot, on_unreachable=on_unreachable)
    await d.deliver([id])

    gone = await row(db, id)
    assert gone.status == "unreachable"
    assert gone.last_error is not None and gone.last_error.startswith("Forbidden")
    async with db.transaction() as s:
        user = await s.get(User, user_id)
        assert user is not None and user.unreachable is True
    assert escalated == [user_id]
    assert await d.run_due(utcnow() + timedelta(days=1)) == 0
    assert send_calls(api) == 1


async def test_failing_unreachable_hook_does_not_stop_the_batch(
    db: Database, app: Application, api: FakeTelegram
) -> None:
    blocked_id, blocked_chat = await make_user(db, 1)
    ok_id, ok_chat = await make_user(db, 2)
    await queue(db, blocked_id, blocked_chat, "k1")
    await queue(db, ok_id, ok_chat, "k2")
    api.block(blocked_chat)

    async def on_unreachable(uid: int) -> None:
        raise RuntimeError("escalation broke")

    assert await Dispatcher(db, app.bot, on_unreachable=on_unreachable).run_due() == 2
    assert len(api.sent(ok_chat)) == 1


async def test_expired_lease_is_reclaimed(db: Database, app: Application, api: FakeTelegram) -> None:
    user_id, chat_id = await make_user(db)
    id = await queue(db, user_id, chat_id, "k1")
    t0 = utcnow()
    async with db.transaction() as s:  # a sender claims the row and then crashes
        [crashed] = await outbox.claim(s, now=t0, limit=10, lease_seconds=60)
    assert crashed.id == id
    d = Dispatcher(db, app.bot)

    assert await d.run_due(t0 + timedelta(seconds=30)) == 0  # lease still held
    assert api.sent(chat_id) == []
    assert await d.run_due(t0 + timedelta(seconds=61)) == 1
    assert len(api.sent(chat_id)) == 1
    done = await row(db, id)
    assert (done.status, done.attempts) == ("sent", 2)


async def test_stale_holder_cannot_overwrite_current_claim(db: Database) -> None:
    user_id, chat_id = await make_user(db)
    id = await queue(db, user_id, chat_id, "k1")
    t0 = utcnow()
    async with db.transaction() as s:
        [slow] = await outbox.claim(s, now=t0, limit=1, lease_seconds=60)
    async with db.transaction() as s:
        [fresh] = await outbox.claim(s, now=t0 + timedelta(seconds=61), limit=1, lease_seconds=60)
    assert (slow.attempts, fresh.attempts) == (1, 2)
    async with db.transaction() as s:
        assert await outbox.mark_sent(s, id, 42, attempt=fresh.attempts) is True
        assert await outbox.mark_retry(s, id, due_at=t0, error="TimedOut: late", attempt=slow.attempts) is False
        assert await outbox.mark_unreachable(s, id, "Forbidden", attempt=slow.attempts) is None
    done = await row(db, id)
    assert (done.status, done.telegram_message_id) == ("sent", 42)


async def test_rows_not_yet_due_are_not_sent(db: Database, app: Application, api: FakeTelegram) -> None:
    user_id, chat_id = await make_user(db)
    later = utcnow() + timedelta(hours=1)
    id = await queue(db, user_id, chat_id, "k1", due_at=later)
    d = Dispatcher(db, app.bot)

    await d.deliver([id])
    assert await d.run_due() == 0
    assert api.sent(chat_id) == []
    assert (await row(db, id)).status == "pending"

    assert await d.run_due(later + timedelta(seconds=1)) == 1
    assert len(api.sent(chat_id)) == 1


async def test_deliver_only_claims_the_given_ids(db: Database, app: Application, api: FakeTelegram) -> None:
    user_id, chat_id = await make_user(db)
    mine = await queue(db, user_id, chat_id, "k1", text="mine")
    await queue(db, user_id, chat_id, "k2", text="someone else's")
    await Dispatcher(db, app.bot).deliver([mine])
    assert api.texts(chat_id) == ["mine"]


async def test_rows_left_when_lease_runs_short_are_released(
    db: Database, app: Application, api: FakeTelegram, monkeypatch: pytest.MonkeyPatch
) -> None:
    user_id, chat_id = await make_user(db)
    first = await queue(db, user_id, chat_id, "k1", text="first")
    second = await queue(db, user_id, chat_id, "k2", text="second")
    clock = iter([0.0, 0.0, 1000.0])  # deadline, check before first send, check before second
    monkeypatch.setattr(dispatcher_module, "monotonic", lambda: next(clock))
    d = Dispatcher(db, app.bot)

    assert await d.run_due() == 2
    assert api.texts(chat_id) == ["first"]
    assert (await row(db, first)).status == "sent"
    released = await row(db, second)
    assert (released.status, released.attempts, released.claimed_until) == ("pending", 0, None)


async def test_tick_drains_full_batches(db: Database, app: Application, api: FakeTelegram) -> None:
    user_id, chat_id = await make_user(db)
    for n in range(7):
        await queue(db, user_id, chat_id, f"k{n}", text=f"m{n}")
    await Dispatcher(db, app.bot, batch_size=3).tick(None)
    assert api.texts(chat_id) == [f"m{n}" for n in range(7)]  # and in order


async def test_schedule_registers_one_repeating_job(db: Database, app: Application) -> None:
    d = Dispatcher(db, app.bot)
    assert app.job_queue is not None
    d.schedule(app.job_queue, 5)
    [job] = app.job_queue.get_jobs_by_name("outbox-tick")
    assert job.job.max_instances == 1
    assert job.job.misfire_grace_time == 60
    job.schedule_removal()


def test_backoff_grows_and_caps() -> None:
    assert [outbox.backoff(n).total_seconds() for n in range(1, 6)] == [2, 4, 8, 16, 32]
    assert outbox.backoff(0) == timedelta(seconds=2)
    assert outbox.backoff(10) == timedelta(minutes=10)
    assert outbox.backoff(10_000) == timedelta(minutes=10)


def test_retry_after_accepts_int_and_timedelta() -> None:
    assert dispatcher_module._seconds(3) == timedelta(seconds=3)
    assert dispatcher_module._seconds(timedelta(seconds=3)) == timedelta(seconds=3)


async def test_two_dispatchers_deliver_each_row_exactly_once(db: Database, api: FakeTelegram) -> None:
    users = [await make_user(db, n) for n in range(10)]
    async with db.transaction() as s:
        for n in range(200):
            user_id, chat_id = users[n % 10]
            await outbox.enqueue(s, user_id=user_id, chat_id=chat_id, kind="t", text=f"message {n}", dedupe_key=f"k{n}")

    other_db = Database(db.url, schema=db.schema)  # a second process: its own engine and connection pool
    app_a, app_b = build_app(api), build_app(api)
    try:
        async with app_a, app_b:
            a = Dispatcher(db, app_a.bot, batch_size=15)
            b = Dispatcher(other_db, app_b.bot, batch_size=15)

            async def drain(d: Dispatcher) -> int:
                total = 0
                while claimed := await d.run_due():
                    total += claimed
                return total

            done_a, done_b = await asyncio.gather(drain(a), drain(b))
    finally:
        await other_db.dispose()

    assert done_a + done_b == 200
    assert done_a > 0 and done_b > 0  # both really took part
    sends = Counter((int(c.params["chat_id"]), c.params["text"]) for c in api.calls if c.method == "sendMessage")
    assert len(sends) == 200
    assert set(sends.values()) == {1}
    async with db.transaction() as s:
        statuses = (await s.execute(select(Outbox.status, func.count()).group_by(Outbox.status))).all()
    assert dict(statuses) == {"sent": 200}
    assert api.violations == []


async def test_claim_rolls_back_with_the_callers_transaction(db: Database) -> None:
    user_id, chat_id = await make_user(db)
    id = await queue(db, user_id, chat_id, "k1")
    with pytest.raises(RuntimeError):
        async with db.transaction() as s:
            assert len(await outbox.claim(s, now=utcnow(), limit=5, lease_seconds=60)) == 1
            raise RuntimeError("crashed before commit")
    undone = await row(db, id)
    assert (undone.status, undone.attempts) == ("pending", 0)


async def test_claim_respects_limit(db: Database) -> None:
    # On PostgreSQL a locking `IN (subquery)` may be re-run per row and claim far more than LIMIT.
    user_id, chat_id = await make_user(db)
    async with db.transaction() as s:
        for n in range(60):
            await outbox.enqueue(s, user_id=user_id, chat_id=chat_id, kind="t", text="x", dedupe_key=f"k{n}")
    now = utcnow()
    async with db.transaction() as s:
        first = await outbox.claim(s, now=now, limit=7, lease_seconds=60)
    async with db.transaction() as s:
        second = await outbox.claim(s, now=now, limit=7, lease_seconds=60)
    assert len(first) == len(second) == 7
    assert [i.id for i in first] == sorted(i.id for i in first)
    assert max(i.id for i in first) < min(i.id for i in second)  # oldest first
    async with db.transaction() as s:
        assert await s.scalar(select(func.count()).where(Outbox.status == "sending")) == 14


async def test_overlapping_claims_never_share_a_row(db: Database) -> None:
    """A claim whose transaction is still open holds its rows; a concurrent claim gets only the others.

    PostgreSQL: the second claim skips the locked rows at once (SKIP LOCKED). SQLite: it waits for the
    writer lock, then sees the first claim's committed result.
    """
    user_id, chat_id = await make_user(db)
    for n in range(10):
        await queue(db, user_id, chat_id, f"k{n}")
    other_db = Database(db.url, schema=db.schema)
    now = utcnow()
    try:
        async with db.transaction() as first_session:
            first = await outbox.claim(first_session, now=now, limit=4, lease_seconds=60)

            async def second_claim() -> list[outbox.OutboxItem]:
                async with other_db.transaction() as s:
                    return await outbox.claim(s, now=now, limit=10, lease_seconds=60)

            second_task = asyncio.create_task(second_claim())
            if db.supports_skip_locked:
                second = await asyncio.wait_for(second_task, timeout=5)  # does not wait for the first
            else:
                await asyncio.sleep(0.2)
                assert not second_task.done()  # SQLite: blocked on the writer lock
        if not db.supports_skip_locked:
            second = await asyncio.wait_for(second_task, timeout=5)
    finally:
        await other_db.dispose()
    first_ids, second_ids = {i.id for i in first}, {i.id for i in second}
    assert len(first_ids) == 4
    assert len(second_ids) == 6
    assert first_ids.isdisjoint(second_ids)


# --- concern notices reaching one chat in a burst go as one message ------------------------------------


def notice(n: int) -> dict[str, Any]:
    return {
        "kind": "concern.notify",
        "text": f"🆘 <b>Concern XC-2026-0000{n}</b>\nWhat: bullying",
        "buttons": [[("✅ I will look at it", f"cs:ack:{n}")], [("📂 Timeline", f"cs:open:{n}")]],
        "together": outbox.Together(
            heading="🆘 {count} concerns at once",
            buttons=((f"✅ XC-{n}", f"cs:ack:{n}"), (f"📂 XC-{n}", f"cs:open:{n}")),
        ),
    }


async def notices(db: Database, user_id: int, chat_id: int, count: int, start: int = 1) -> list[int]:
    return [await queue(db, user_id, chat_id, f"n{n}", **notice(n)) for n in range(start, start + count)]


def keyboard(message: dict[str, Any]) -> list[list[tuple[str, str]]]:
    markup = message["reply_markup"]
    markup = json.loads(markup) if isinstance(markup, str) else markup
    return [[(b["text"], b["callback_data"]) for b in r] for r in markup["inline_keyboard"]]


async def test_notices_waiting_for_one_chat_go_as_one_message(
    db: Database, app: Application, api: FakeTelegram
) -> None:
    user_id, chat_id = await make_user(db)
    other_id, other_chat = await make_user(db, 2)
    ids = await notices(db, user_id, chat_id, 3) + await notices(db, other_id, other_chat, 1, start=7)
    d = Dispatcher(db, app.bot)

    assert await d.run_due() == 4
    [joined] = api.sent(chat_id)
    assert joined["text"].startswith("🆘 3 concerns at once")
    assert [joined["text"].count(f"XC-2026-0000{n}") for n in (1, 2, 3)] == [1, 1, 1]
    assert keyboard(joined) == [[(f"✅ XC-{n}", f"cs:ack:{n}"), (f"📂 XC-{n}", f"cs:open:{n}")] for n in (1, 2, 3)]
    [alone] = api.sent(other_chat)  # a notice on its own is sent as it was written, with all its buttons
    assert alone["text"] == notice(7)["text"]
    assert keyboard(alone) == notice(7)["buttons"]
    rows = [await row(db, id) for id in ids]
    assert {r.status for r in rows} == {"sent"}
    assert len({r.telegram_message_id for r in rows[:3]}) == 1
    assert api.violations == []


async def test_a_long_burst_is_split_within_telegrams_limits(db: Database, app: Application, api: FakeTelegram) -> None:
    user_id, chat_id = await make_user(db)
    await notices(db, user_id, chat_id, dispatcher_module.MAX_TOGETHER + 3)
    await Dispatcher(db, app.bot).run_due()
    sent = api.sent(chat_id)
    assert [len(keyboard(m)) for m in sent] == [dispatcher_module.MAX_TOGETHER, 3]
    assert all(len(m["text"]) <= dispatcher_module.MAX_TEXT for m in sent)


async def test_deliver_sends_a_chats_notices_that_came_in_meanwhile(
    db: Database, app: Application, api: FakeTelegram
) -> None:
    """While one notice to a chat is on its way, the next handlers' notices wait their turn and then go
    together: three handlers delivering at once make two messages, and nothing is sent twice."""
    user_id, chat_id = await make_user(db)
    request = app.bot.request
    assert isinstance(request, FakeRequest)
    request.slow_chats[chat_id] = 0.3
    d = Dispatcher(db, app.bot)
    [first] = await notices(db, user_id, chat_id, 1)
    on_its_way = asyncio.create_task(d.deliver([first]))
    await asyncio.sleep(0.1)
    [second] = await notices(db, user_id, chat_id, 1, start=2)
    waiting = asyncio.create_task(d.deliver([second]))
    await asyncio.sleep(0.05)
    [third] = await notices(db, user_id, chat_id, 1, start=3)
    await asyncio.gather(on_its_way, waiting, d.deliver([third]))
    sent = api.sent(chat_id)
    assert sent[0]["text"] == notice(1)["text"]
    assert sent[1]["text"].startswith("🆘 2 concerns at once") and len(sent) == 2
    assert sum(m["text"].count("XC-2026-0000") for m in sent) == 3
    assert {(await row(db, id)).status for id in (first, second, third)} == {"sent"}


async def test_a_refused_joined_message_is_sent_as_single_notices(
    db: Database, app: Application, api: FakeTelegram
) -> None:
    user_id, chat_id = await make_user(db)
    ids = await notices(db, user_id, chat_id, 2)
    api.fail_next("sendMessage", 400, "Bad Request: message is too long")
    await Dispatcher(db, app.bot).run_due()
    sent = api.sent(chat_id)
    assert [m["text"] for m in sent] == [notice(1)["text"], notice(2)["text"]]
    assert {(await row(db, id)).status for id in ids} == {"sent"}


async def test_a_429_on_a_joined_message_puts_every_notice_back(
    db: Database, app: Application, api: FakeTelegram
) -> None:
    user_id, chat_id = await make_user(db)
    ids = await notices(db, user_id, chat_id, 2)
    api.fail_next("sendMessage", 429, "Too Many Requests: retry after 3", retry_after=3)
    d = Dispatcher(db, app.bot)
    await d.run_due()
    assert {(await row(db, id)).status for id in ids} == {"pending"}
    assert await d.run_due(utcnow() + timedelta(seconds=4)) == 2
    assert {(await row(db, id)).status for id in ids} == {"sent"}
    assert len(api.sent(chat_id)) == 1


async def test_a_blocked_caseworker_marks_every_joined_notice_and_escalates_once(
    db: Database, app: Application, api: FakeTelegram
) -> None:
    user_id, chat_id = await make_user(db)
    ids = await notices(db, user_id, chat_id, 3)
    api.block(chat_id)
    escalated: list[int] = []

    async def on_unreachable(uid: int) -> None:
        escalated.append(uid)

    await Dispatcher(db, app.bot, on_unreachable=on_unreachable).run_due()
    assert {(await row(db, id)).status for id in ids} == {"unreachable"}
    assert escalated == [user_id]
    assert send_calls(api) == 1
