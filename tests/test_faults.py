"""Under faults: 500 concerns while a fifth of the Bot API calls fail at random (5xx, timeouts, connection
errors, 429 with retry_after) and one caseworker has blocked the bot. Every concern is saved, every one reaches
a reachable caseworker in the end, and duplicate notifications stay at or under 1%."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

from sqlalchemy import func, select
from telegram.error import NetworkError, TimedOut

from bot.services import areas, concerns, people
from db.models import Concern, Outbox
from db.session import Database
from db.types import utcnow
from tests.harness import Harness
from tests.test_concerns import VILLAGE, caseworker_on

CONCERNS = 500


async def test_500_concerns_under_random_faults_all_reach_a_reachable_caseworker(bot: Harness, db: Database) -> None:
    reachable = await caseworker_on(db, 5001, "child-director", VILLAGE)
    blocked = await caseworker_on(db, 5004, "child-director", VILLAGE)
    bot.api.block(blocked.who.id)
    bot.api.random_failure_rate = 0.2
    bot.api.random_failures = [
        (500, {"ok": False, "error_code": 500, "description": "Internal Server Error"}),
        (502, {"ok": False, "error_code": 502, "description": "Bad Gateway"}),
        TimedOut(),
        NetworkError("connection reset by peer"),
        (429, {"ok": False, "error_code": 429, "description": "Too Many Requests", "parameters": {"retry_after": 1}}),
    ]
    rt = bot.app.bot_data["runtime"]
    async with db.transaction() as s:
        reporter = await people.get_or_create(s, telegram_id=6500, chat_id=6500, locale="en", timezone="Asia/Shanghai")
        village = await areas.get_area_by_code(s, VILLAGE)
        assert village is not None
    for _ in range(CONCERNS):
        async with db.transaction() as s:
            filed = await concerns.file_concern(
                s,
                concerns.NewConcern(
                    village_id=village.id, category="bullying", in_danger=False, reporter_user_id=reporter.id
                ),
            )
        await rt.dispatcher.deliver(list(filed.outbox_ids))  # right after commit, as the handler does
    # The tick retries what is left, with its backoff; time is moved on instead of slept through.
    now = utcnow()
    for _ in range(200):
        async with db.transaction() as s:
            pending = await s.scalar(
                select(func.count()).select_from(Outbox).where(Outbox.status.in_(("pending", "sending")))
            )
        if not pending:
            break
        now += timedelta(minutes=5)
        while await rt.dispatcher.run_due(now=now):
            pass
    async with db.transaction() as s:
        saved = await s.scalar(select(func.count()).select_from(Concern))
        statuses = dict((await s.execute(select(Outbox.status, func.count()).group_by(Outbox.status))).all())
        refs = (await s.scalars(select(Concern.ref))).all()
    assert saved == CONCERNS
    # Delivered to the reachable one (the blocked one is marked unreachable: 403, no retry).
    assert statuses.get("pending", 0) == 0 and statuses.get("sending", 0) == 0
    delivered = Counter(
        ref
        for c in bot.api.calls
        if c.method == "sendMessage" and c.status == 200 and int(c.params["chat_id"]) == reachable.who.id
        for ref in refs
        if ref in c.params.get("text", "")
    )
    assert set(delivered) == set(refs)  # every concern, to someone who can act on it
    duplicates = sum(n - 1 for n in delivered.values())
    assert duplicates <= CONCERNS // 100
    faults = sum(1 for c in bot.api.calls if c.status not in (200, 403))
    assert faults > CONCERNS * 0.1  # the faults really happened
