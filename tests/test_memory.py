"""What handlers keep in memory between updates (bot/services/memory.py and its users) is never staler than
the database as this process changed it: identities, households as shown, drafts, tips seen; and SQLite on the
loop's thread (db/sqlite_inline.py) waits for a lock without stopping the loop."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import delete, func, select, text, update

from bot.runtime import Runtime
from bot.services import drafts, household, people, tips
from bot.services.household import HouseholdViews
from bot.services.identities import Identities
from bot.services.tip_views import TipViews
from db import sqlite_inline
from db.migrate import upgrade
from db.models import Area, BackupAdult, Child, ChildConsent, Draft, Household, Membership, TipDelivery, User
from db.session import Database
from tests.harness import Harness
from tests.journeys import add_child, create_household, person
from tests.test_onboarding import PLACES

NOW = datetime(2026, 12, 2, 2, 0, tzinfo=UTC)


async def _person(db: Database, telegram_id: int) -> people.Person:
    """The person (created on first call), as a returning person's update finds them."""
    for first in (True, False):
        async with db.transaction() as s:
            found = await people.get_or_create(
                s, telegram_id=telegram_id, chat_id=telegram_id, locale="en", timezone="Asia/Shanghai", now=NOW
            )
            if first:
                await people.accept_notice(s, found.id, NOW)
    return found


async def test_a_change_through_any_session_forgets_the_person(db: Database) -> None:
    cache = Identities(db)
    p = await _person(db, 700)
    cache.remember(p, cache.generation)
    assert cache.person(700, chat_id=700, now=NOW) == p
    async with db.transaction() as s:  # an ORM change: forgotten at the flush and again at the commit
        await people.set_locale(s, p.id, "zh_Hans")
    assert cache.person(700, chat_id=700, now=NOW) is None
    cache.remember(await _person(db, 700), cache.generation)
    async with db.transaction() as s:  # a bulk statement on a watched table: everyone is forgotten
        await s.execute(update(User).where(User.id == p.id).values(role="parent"))
    assert cache.person(700, chat_id=700, now=NOW) is None
    fresh = await _person(db, 700)
    assert (fresh.locale, fresh.role) == ("zh_Hans", "parent")


async def test_what_was_read_while_something_changed_is_not_kept(db: Database) -> None:
    cache = Identities(db)
    generation = cache.generation
    stale = await _person(db, 701)  # read ...
    async with db.transaction() as s:  # ... then changed before it could be kept
        await people.set_role(s, stale.id, "guardian")
    cache.remember(stale, generation)
    assert cache.person(701, chat_id=701, now=NOW) is None


async def test_changes_by_another_process_are_seen_after_the_ttl(db: Database, tmp_path: Path) -> None:
    clock = [0.0]
    cache = Identities(db, ttl=60, clock=lambda: clock[0])
    p = await _person(db, 702)
    cache.remember(p, cache.generation)
    other = Database(db.url, schema=db.schema)  # another process (the admin command): its own sessions
    try:
        async with other.transaction() as s:
            await s.execute(update(User).where(User.id == p.id).values(locale="zh_Hans"))
    finally:
        await other.dispose()
    assert cache.person(702, chat_id=702, now=NOW) == p  # not seen yet: documented in docs/operations.md
    clock[0] = 61
    assert cache.person(702, chat_id=702, now=NOW) is None


async def _grandmother_and_household(db: Database, telegram_id: int) -> tuple[people.Person, int]:
    """A grandmother (notice accepted) and the household she set up in the sample village."""
    async with db.transaction() as s:
        from bot.services import areas

        await areas.ensure_default_areas(s)
        village = await areas.get_area_by_code(s, "451321-02-S1")
        assert village is not None
    gran = await _person(db, telegram_id)
    async with db.transaction() as s:
        hid = await household.create_household(s, user_id=gran.id, village_id=village.id, relation="grandmother")
    return gran, hid


async def test_a_rolled_back_change_does_not_leave_a_household_view_behind(db: Database) -> None:
    views = HouseholdViews(db)
    gran, hid = await _grandmother_and_household(db, 703)
    async with db.transaction() as s:
        assert (await household.view(s, user_id=gran.id, household_id=hid, now=NOW)).children == ()
    assert views.get(hid, NOW) is not None

    class Undo(Exception):
        pass

    with pytest.raises(Undo):
        async with db.transaction() as s:
            await household.add_child(
                s, user_id=gran.id, household_id=hid, nickname="小红", birth_year=2020, birth_month=1, school=None
            )
            shown = await household.view(s, user_id=gran.id, household_id=hid, now=NOW)
            assert [c.nickname for c in shown.children] == ["小红"]  # this transaction sees its own child
            raise Undo
    async with db.transaction() as s:
        assert (await household.view(s, user_id=gran.id, household_id=hid, now=NOW)).children == ()
        await household.add_child(
            s, user_id=gran.id, household_id=hid, nickname="小明", birth_year=2019, birth_month=2, school=None
        )
    async with db.transaction() as s:
        shown = await household.view(s, user_id=gran.id, household_id=hid, now=NOW)
        assert [c.nickname for c in shown.children] == ["小明"]
        # Someone who is not a member is refused, cached view or not.
        stranger = await people.get_or_create(
            s, telegram_id=704, chat_id=704, locale="en", timezone="Asia/Shanghai", now=NOW
        )
    with pytest.raises(Exception):  # noqa: B017 - NotAllowed
        async with db.transaction() as s:
            await household.view(s, user_id=stranger.id, household_id=hid, now=NOW)


async def test_a_household_read_sees_what_its_own_transaction_has_not_flushed_yet(db: Database) -> None:
    """household.view reads with Core statements (db.session.fetch_core), past the ORM's autoflush: it must
    flush first. Also: only a parent's consent counts for a child, read in the same query."""
    gran, hid = await _grandmother_and_household(db, 705)
    async with db.transaction() as s:
        child_id = await household.add_child(
            s, user_id=gran.id, household_id=hid, nickname="小兰", birth_year=2020, birth_month=3, school=None
        )
    async with db.transaction() as s:
        s.add(BackupAdult(household_id=hid, name="王阿姨", relation="neighbour", phone="13800000000"))
        s.add(ChildConsent(child_id=child_id, user_id=gran.id, given_at=NOW))  # a grandmother's: does not count
        shown = await household.view(s, user_id=gran.id, household_id=hid, now=NOW)
        assert [b.name for b in shown.backups] == ["王阿姨"]
        assert [c.consent_given for c in shown.children] == [False]
    dad = await _person(db, 706)
    async with db.transaction() as s:
        s.add(Membership(household_id=hid, user_id=dad.id, relation="father", kind="parent"))
        s.add(ChildConsent(child_id=child_id, user_id=dad.id, given_at=NOW))
        shown = await household.view(s, user_id=dad.id, household_id=hid, now=NOW)
        assert [c.consent_given for c in shown.children] == [True]
        assert [(m.relation, m.kind) for m in shown.members] == [("grandmother", "guardian"), ("father", "parent")]


async def test_drafts_kept_in_memory_follow_every_writer(db: Database) -> None:
    kept = drafts.Kept(db)
    p = await _person(db, 705)
    async with db.transaction() as s:
        await drafts.update(s, p.id, "report", state="category", category="school")
    async with db.transaction() as s:
        found = await drafts.fresh_draft(s, p.id, "report")
    assert found == {"state": "category", "category": "school"}
    assert kept.get(p.id, "report") is not None
    async with db.transaction() as s:  # any other writer: forgotten
        await drafts.set_flag(s, p.id, "report", "reminded", True)
    assert kept.get(p.id, "report") is None
    async with db.transaction() as s:
        assert (await drafts.fresh_draft(s, p.id, "report")) == {
            "state": "category",
            "category": "school",
            "reminded": True,
        }
        await drafts.clear(s, p.id, "report")
        assert not kept.is_absent(p.id, "report")  # not before the commit: it may yet roll back
    assert kept.get(p.id, "report") is None and kept.is_absent(p.id, "report")
    async with db.transaction() as s:
        assert await drafts.fresh_draft(s, p.id, "report") is None
        assert await s.scalar(select(func.count()).select_from(Draft)) == 0
    # Cleared and started again in one transaction (a new report over an old one): kept as started, and a
    # later clear still deletes it (it is not taken for absent).
    async with db.transaction() as s:
        await drafts.update(s, p.id, "report", state="send")
    async with db.transaction() as s:
        await drafts.clear(s, p.id, "report")
        await drafts.update(s, p.id, "report", state="child")
    assert not kept.is_absent(p.id, "report")
    async with db.transaction() as s:
        assert await drafts.get(s, p.id, "report") == {"state": "child"}
        await drafts.clear(s, p.id, "report")
    async with db.transaction() as s:
        assert await s.scalar(select(func.count()).select_from(Draft)) == 0


async def test_browsed_tips_are_written_in_batches_and_a_deleted_household_does_not_stop_them(
    db: Database,
) -> None:
    views = TipViews(db)
    async with db.transaction() as s:
        from bot.services import areas

        await areas.ensure_default_areas(s)
        village = await areas.get_area_by_code(s, "451321-02-S1")
        assert village is not None
    homes = []
    for n in range(2):
        gran = await _person(db, 710 + n)
        async with db.transaction() as s:
            hid = await household.create_household(s, user_id=gran.id, village_id=village.id, relation="grandmother")
        homes.append((gran, hid))
    shown: dict[int, list[str]] = {}
    for gran, hid in homes:
        who = tips.Reader(hid, frozenset({"6-11"}), "guardian", 12)
        async with db.lazy_transaction() as session:
            for _ in range(3):
                tip = await views.next_tip(session, who, topic=None, now=NOW, user_id=gran.id)
                assert tip is not None
                shown.setdefault(hid, []).append(tip.id)
    assert all(len(set(ids)) == 3 for ids in shown.values())  # no repeats, from memory
    async with db.transaction() as s:
        assert await s.scalar(select(func.count()).select_from(TipDelivery)) == 0  # not written yet
        await s.execute(delete(Household).where(Household.id == homes[1][1]))  # its views go by cascade
    assert await views.flush() == 3  # the deleted household's three are dropped, the others written
    async with db.transaction() as s:
        rows = (await s.scalars(select(TipDelivery.tip_id).where(TipDelivery.household_id == homes[0][1]))).all()
    assert sorted(rows) == sorted(shown[homes[0][1]])


@pytest.mark.parametrize("locale", ["zh_Hans", "en"])
async def test_a_tip_just_browsed_is_not_sent_by_message_too(bot: Harness, db: Database, locale: str) -> None:
    """The tips tick writes the browsed views first, so the household's history is whole."""
    gran = person("Gran", 8101, locale)
    township, village = PLACES[locale]
    await create_household(bot, gran, township=township, village=village, relation="Grandmother")
    await add_child(bot, gran, "小明", 2017, 6, None)
    rt: Runtime = bot.app.bot_data[Runtime.KEY]
    await bot.send(gran.who, "/tips")
    await bot.press(gran.who, gran._("💗 Feelings, missing parents"))
    async with db.transaction() as s:
        assert await s.scalar(select(func.count()).select_from(TipDelivery)) == 0
    from types import SimpleNamespace

    from bot.app import tips_tick

    await tips_tick(SimpleNamespace(application=bot.app))  # type: ignore[arg-type]
    async with db.transaction() as s:
        assert await s.scalar(select(func.count()).select_from(TipDelivery).where(TipDelivery.via == "browse")) == 1
    assert rt.tip_views._pending == []


async def test_a_busy_sqlite_lock_is_waited_for_without_stopping_the_loop(tmp_path: Path) -> None:
    db = Database(f"sqlite+inline:///{tmp_path / 'busy.db'}")
    await upgrade(db)
    blocker = sqlite3.connect(tmp_path / "busy.db", isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")  # another process holds the write lock
    ticks = 0

    async def other_work() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    runner = asyncio.create_task(other_work())
    try:

        async def write() -> None:
            async with db.transaction() as s:
                s.add(User(telegram_id=1, chat_id=1, locale="en", timezone="Asia/Shanghai"))

        writing = asyncio.create_task(write())
        await asyncio.sleep(0.3)
        assert not writing.done() and ticks >= 10  # waiting, and the loop kept running
        blocker.execute("COMMIT")
        await asyncio.wait_for(writing, 2)
        async with db.transaction() as s:
            assert await s.scalar(select(func.count()).select_from(User)) == 1

        # Held for longer than the budget: the write fails cleanly, as aiosqlite's busy_timeout would.
        blocker.execute("BEGIN IMMEDIATE")
        budget, sqlite_inline.BUSY_SECONDS = sqlite_inline.BUSY_SECONDS, 0.2
        started = time.monotonic()
        try:
            with pytest.raises(Exception, match="locked"):
                async with db.transaction() as s:
                    s.add(User(telegram_id=2, chat_id=2, locale="en", timezone="Asia/Shanghai"))
        finally:
            sqlite_inline.BUSY_SECONDS = budget
            blocker.execute("ROLLBACK")
        assert time.monotonic() - started < 2
    finally:
        runner.cancel()
        blocker.close()
        await db.dispose()


async def test_children_in_memory_follow_a_new_child(db: Database) -> None:
    """Tips fit the children's ages from memory; a child added is counted at once."""
    identities = Identities(db)
    async with db.transaction() as s:
        from bot.services import areas

        await areas.ensure_default_areas(s)
        village = await areas.get_area_by_code(s, "451321-02-S1")
        assert village is not None
    gran = await _person(db, 720)
    async with db.transaction() as s:
        hid = await household.create_household(s, user_id=gran.id, village_id=village.id, relation="grandmother")
        await household.add_child(
            s, user_id=gran.id, household_id=hid, nickname="小红", birth_year=2024, birth_month=3, school=None
        )

    async def bands() -> frozenset[str]:
        async with db.lazy_transaction() as session:
            who = await tips.browsing_reader(
                session, identities, user_id=gran.id, household_ids=(hid,), timezone="Asia/Shanghai", now=NOW
            )
        return who.bands

    assert await bands() == {"0-2"}
    async with db.transaction() as s:
        await household.add_child(
            s, user_id=gran.id, household_id=hid, nickname="小明", birth_year=2012, birth_month=1, school=None
        )
    assert await bands() == {"0-2", "12-17"}
    async with db.transaction() as s:
        assert await s.scalar(select(func.count()).select_from(Child)) == 2


async def test_a_full_batch_of_browsed_tips_is_written_by_the_press_that_fills_it(
    bot: Harness, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Written after the press's own transaction: inside it, SQLite would wait on its own lock for 5 s."""
    from bot.services import tip_views

    monkeypatch.setattr(tip_views, "BATCH", 3)
    gran = person("Gran", 8201, "en")
    township, village = PLACES["en"]
    await create_household(bot, gran, township=township, village=village, relation="Grandmother")
    await add_child(bot, gran, "小明", 2017, 6, None)
    await bot.send(gran.who, "/tips")
    await bot.press(gran.who, gran._("💗 Feelings, missing parents"))
    started = time.monotonic()
    for _ in range(2):
        await bot.press(gran.who, gran._("🔁 Another"))
    assert time.monotonic() - started < 2 and not bot.errors
    async with db.transaction() as s:
        assert await s.scalar(select(func.count()).select_from(TipDelivery)) == 3


async def test_only_a_transaction_that_says_so_commits_without_waiting_for_the_disk(db: Database) -> None:
    """Draft steps (durable=False) skip the disk flush; every other commit, before and after them on the same
    pooled connection, still waits for it, and both kinds are stored."""
    someone = await _person(db, 9101)
    setting = (
        text("PRAGMA synchronous") if db.dialect == "sqlite" else text("SELECT current_setting('synchronous_commit')")
    )
    seen = []
    for durable in (True, False, False, True, False, True):
        async with db.transaction(durable=durable) as s:
            seen.append(str(await s.scalar(setting)))
            await drafts.put(s, someone.id, "report", {"durable": durable})
    waits, relaxed = ("2", "1") if db.dialect == "sqlite" else ("on", "off")
    assert seen == [waits, relaxed, relaxed, waits, relaxed, waits]
    async with db.transaction() as s:
        assert await drafts.get(s, someone.id, "report") == {"durable": True}
    # Asking for it is not a change: what is kept in memory stays kept.
    kept = drafts.Kept(db)
    kept.keep(someone.id, "report", {"durable": True}, NOW, kept.generation)
    async with db.transaction(durable=False):
        pass
    assert kept.get(someone.id, "report") == ({"durable": True}, NOW)


async def test_areas_in_memory_follow_a_rename(db: Database) -> None:
    """A village renamed (an operator's import, any session) is shown by its new name at the next read."""
    from bot.services import areas

    atlas = areas.Atlas(db)
    async with db.transaction() as s:
        await areas.ensure_default_areas(s)
        village = await areas.get_area_by_code(s, "451321-02-S1")
        assert village is not None
        assert await areas.area_view(s, village.id) is not None
    assert atlas._areas.get(village.id) is None  # read in the transaction that wrote the map: not kept
    async with db.transaction() as s:
        first = await areas.area_view(s, village.id)
    assert first is not None and atlas._areas.get(village.id) == first  # kept
    async with db.transaction() as s:
        again = await areas.area_view(s, village.id)  # from memory: no statement needed
        assert again == first
        row = await s.get(Area, village.id)
        assert row is not None
        row.name_en = "Renamed Village"
    async with db.transaction() as s:
        renamed = await areas.area_view(s, village.id)
    assert renamed is not None and renamed.name_en == "Renamed Village"
