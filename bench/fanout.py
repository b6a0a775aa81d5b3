"""Fan-out: scheduled messages to many chats through a Bot API that enforces Telegram's flood limits.

Run: `.venv/bin/python -m bench.fanout [--quick] [--backends sqlite,postgresql]`.

The real Application (`bot.app.build_application`, its AIORateLimiter subclass, the outbox Dispatcher) talks
to `bench.support.LimitedTelegram`: the fake Bot API, answering 429 with `retry_after` whenever an accepted
message would make more than 30 in any one second overall or more than 1 in any one second to one chat.
COUNT outbox rows (a tip each, with its two buttons, to COUNT different people) are written with
`bot.services.outbox.enqueue` in one transaction, as a tick writes them, and delivered two ways:

- tick: the rows are due a moment later and only the dispatcher's JobQueue job (`Dispatcher.schedule`, every
  `tick_seconds`, as `start_background_jobs` sets it up) delivers them;
- deliver: as the calls and tips jobs do, `dispatcher.deliver(ids)` right after the commit, with the same
  JobQueue job running for whatever that leaves behind.

Figures: sending rate (messages accepted per second from the first attempt to the last acceptance), the rate
from commit to the last acceptance, 429s received, rows not sent, chats that got nothing or got a message
twice, skipped JobQueue runs. Targets: at least 95% of the 30/s limit, none lost, no 429 received. The figures
are printed and merged into `bench/results/latest.json` under "fanout"; exit status 1 when a target is missed.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import time
import warnings
from collections import Counter
from datetime import timedelta
from typing import Any

LIMIT_PER_S = 30
TARGET_SHARE = 0.95
TEXT = (
    "💡 孩子哭闹时，先蹲下来和他一样高，慢慢说话。等他平静下来，再问发生了什么。"
    "不要在他哭的时候讲道理，也不要吓唬他。\n\n<i>来源：联合国儿童基金会</i>"
)


class SkippedRuns(logging.Handler):
    """Counts APScheduler's 'maximum number of running instances reached' (a tick that did not run)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        if "maximum number of running instances" in record.getMessage():
            self.count += 1


async def scenario(backend: str, mode: str, count: int, pg_url: str) -> dict[str, Any]:
    from sqlalchemy import func, select

    from bench.support import LimitedTelegram, drop_place, fresh_place, reset_sequences
    from bot.app import build_application
    from bot.config import Settings
    from bot.fake import BOT_TOKEN, FakeRequest
    from bot.fake.telegram import Call
    from bot.runtime import Runtime
    from bot.services import outbox
    from db.models import Outbox, User
    from db.types import utcnow

    place = await fresh_place(backend, pg_url, "fanout")
    db = place.open()
    try:
        base = 10_000_000_000
        created = utcnow()
        users = [
            {
                "id": i + 1,
                "telegram_id": base + i + 1,
                "chat_id": base + i + 1,
                "locale": "zh_Hans",
                "timezone": "Asia/Shanghai",
                "role": "guardian",
                "unreachable": False,
                "created_at": created,
                "timezone_chosen": False,
            }
            for i in range(count)
        ]
        async with db.engine.begin() as conn:
            await conn.execute(User.__table__.insert(), users)
        await reset_sequences(db, ["app_user"])

        api = LimitedTelegram(overall_per_second=LIMIT_PER_S, per_chat_per_second=1)
        calls: list[tuple[float, Call]] = []  # every sendMessage, when it reached the fake (its status is set later)

        def listen(call: Call) -> None:
            if call.method == "sendMessage":
                calls.append((time.perf_counter(), call))

        api.listeners.append(listen)
        settings = Settings(telegram_bot_token=BOT_TOKEN, database_url=place.url)
        app = build_application(settings, db, request=FakeRequest(api))
        rt: Runtime = app.bot_data[Runtime.KEY]
        skipped = SkippedRuns()
        aps = logging.getLogger("apscheduler")
        saved = aps.level, aps.propagate
        aps.setLevel(logging.WARNING)  # the skipped-run warnings must reach the counter, not the console
        aps.propagate = False
        aps.addHandler(skipped)
        await app.initialize()
        await app.start()
        assert app.job_queue is not None
        try:
            due = utcnow() + (timedelta(seconds=1) if mode == "tick" else timedelta(0))
            async with db.transaction() as session:
                ids = []
                for i in range(count):
                    new_id = await outbox.enqueue(
                        session,
                        user_id=i + 1,
                        chat_id=base + i + 1,
                        kind="tip.subscription",
                        text=TEXT,
                        buttons=[[("👍 有用", f"tp:up:tip-{i % 96}"), ("👎 不适合我", f"tp:down:tip-{i % 96}")]],
                        dedupe_key=f"bench:fanout:{i}",
                        due_at=due,
                    )
                    assert new_id is not None
                    ids.append(new_id)
            committed = time.perf_counter()
            rt.dispatcher.schedule(app.job_queue, settings.tick_seconds)
            if mode == "deliver":
                await rt.dispatcher.deliver(ids)
            deadline = committed + count / LIMIT_PER_S * 3 + 60
            while time.perf_counter() < deadline:
                async with db.transaction() as session:
                    open_rows = await session.scalar(
                        select(func.count()).select_from(Outbox).where(Outbox.status.in_(("pending", "sending")))
                    )
                if not open_rows:
                    break
                await asyncio.sleep(0.25)
            async with db.transaction() as session:
                statuses = dict(
                    (await session.execute(select(Outbox.status, func.count()).group_by(Outbox.status))).all()
                )
        finally:
            await app.stop()
            await app.shutdown()
            aps.removeHandler(skipped)
            aps.setLevel(saved[0])
            aps.propagate = saved[1]
    finally:
        await db.dispose()
        await drop_place(place)

    attempts = [(t, int(call.params["chat_id"]), call.status) for t, call in calls]
    ok = [(t, chat) for t, chat, status in attempts if status == 200]
    per_chat = Counter(chat for _, chat in ok)
    first_attempt = attempts[0][0] if attempts else committed
    last_ok = ok[-1][0] if ok else committed
    span = max(last_ok - first_attempt, 1e-9)
    rate = (len(ok) - 1) / span if len(ok) > 1 else 0.0
    # The busiest second accepted, by the fake's own clock (a check on its accounting).
    busiest = 0
    times = list(api.accepted_log)
    j = 0
    for i, t in enumerate(times):
        while times[j] <= t - 1.0:
            j += 1
        busiest = max(busiest, i - j + 1)
    attempt_times = [t for t, _, _ in attempts]
    pause = max((b - a for a, b in itertools.pairwise(attempt_times)), default=0.0)
    return {
        "messages": count,
        "longest_pause_s": round(pause, 2),
        "delivered": len(ok),
        "rate_per_s": round(rate, 2),
        "share_of_limit": round(rate / LIMIT_PER_S, 3),
        "commit_to_last_s": round(last_ok - committed, 2),
        "rate_from_commit_per_s": round(len(ok) / max(last_ok - committed, 1e-9), 2),
        "first_attempt_after_commit_s": round(first_attempt - committed, 2),
        "responses_429": sum(1 for _, _, status in attempts if status == 429),
        "attempts": len(attempts),
        "rows_not_sent": count - int(statuses.get("sent", 0)),
        "row_statuses": statuses,
        "chats_without_message": count - len(per_chat),
        "chats_with_duplicates": sum(1 for n in per_chat.values() if n > 1),
        "busiest_second": busiest,
        "skipped_tick_runs": skipped.count,
    }


async def amain(args: Any) -> int:
    from bench.support import Row, available_backends, ensure_catalogs, print_table, save

    ensure_catalogs()
    count = 300 if args.quick else 3_000
    backends = await available_backends(args.backends, args.pg_url)
    modes = ("tick", "deliver")
    results: dict[str, dict[str, Any]] = {}
    for backend in backends:
        for mode in modes:
            print(f"[{backend}/{mode}] {count:,} messages ...", flush=True)
            results[f"{backend}/{mode}"] = await scenario(backend, mode, count, args.pg_url)
    columns = list(results)
    floor = LIMIT_PER_S * TARGET_SHARE

    rows: list[Row] = []

    def row(figure: str, key: str, reference: Any = "", target: str = "", check: Any = None) -> None:
        values = {c: results[c][key] for c in columns}
        ok = None if check is None else all(check(v) for v in values.values())
        rows.append(Row(figure, values, reference, target, ok))

    row("sending rate, msg/s", "rate_per_s", f"limit {LIMIT_PER_S}", f">= {floor:g}", lambda v: v >= floor)
    row("  share of the limit", "share_of_limit", "", f">= {TARGET_SHARE:.0%}")
    row("commit to last message, s", "commit_to_last_s", f"ideal {count / LIMIT_PER_S:.0f}")
    row("rate from commit, msg/s", "rate_from_commit_per_s")
    row("first attempt after commit, s", "first_attempt_after_commit_s")
    row("delivered", "delivered", count)
    row("rows not sent", "rows_not_sent", "", "0", lambda v: v == 0)
    row("chats that got nothing", "chats_without_message", "", "0", lambda v: v == 0)
    row("chats that got it twice", "chats_with_duplicates", "", "0", lambda v: v == 0)
    row("429 received", "responses_429", "", "0", lambda v: v == 0)
    row("sendMessage attempts", "attempts", count)
    row("busiest second accepted", "busiest_second", LIMIT_PER_S)
    row("skipped JobQueue runs", "skipped_tick_runs")
    row("longest pause between sends, s", "longest_pause_s")
    print_table(
        f"fan-out: {count:,} messages to {count:,} chats, fake Bot API limited to {LIMIT_PER_S}/s overall and "
        f"1/s per chat" + (" (--quick)" if args.quick else ""),
        columns,
        rows,
    )
    meets = all(r.ok is not False for r in rows)
    if not args.no_save:
        save(
            "fanout",
            {
                "quick": args.quick,
                "messages": count,
                "limit_per_s": LIMIT_PER_S,
                "targets": {"rate_per_s": floor, "lost": 0, "responses_429": 0},
                "scenarios": results,
                "missed": [r.figure for r in rows if r.ok is False],
                "meets_target": meets,
                "loadavg_at_end": os.getloadavg(),
            },
        )
    return 0 if meets else 1


def main() -> int:
    from telegram.warnings import PTBUserWarning

    from bench.support import arguments

    warnings.filterwarnings("ignore", category=PTBUserWarning)
    # A 429 on an outbox send is logged by python-telegram-bot at ERROR with a traceback, and by the dispatcher
    # at WARNING; the table counts them.
    logging.basicConfig(level=logging.ERROR)
    logging.getLogger("telegram.ext.AIORateLimiter").setLevel(logging.CRITICAL)
    args = arguments(__doc__.splitlines()[0]).parse_args()
    return asyncio.run(amain(args))


if __name__ == "__main__":
    raise SystemExit(main())
