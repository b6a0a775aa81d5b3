"""Tips end to end: browsing by topic for the household's children's ages, feedback, no repeats, and tips by
message (once per slot, in season, quiet hours, pause, resume, stop)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
from sqlalchemy import select

from bot.app import tips_tick
from bot.services import library, people
from db.models import Outbox, TipDelivery, TipFeedback, User
from db.session import Database
from tests.harness import Harness
from tests.journeys import Speaker, add_child, create_household, person
from tests.test_concerns import at
from tests.test_onboarding import PLACES

T0 = datetime(2026, 12, 2, 2, 0, tzinfo=UTC)  # Wednesday 10:00 in Xincheng, December


async def tick(bot: Harness, moment: datetime) -> None:
    at(bot, moment)
    await tips_tick(SimpleNamespace(application=bot.app))  # type: ignore[arg-type]


async def grandmother(bot: Harness, locale: str) -> Speaker:
    """A grandmother raising a 2-year-old (born 2024-03) and a 9-year-old (born 2017-06)."""
    gran = person("Gran", 8001, locale)
    township, village = PLACES[locale]
    await create_household(bot, gran, township=township, village=village, relation="Grandmother")
    await add_child(bot, gran, "小红", 2024, 3, None)
    await bot.press(gran.who, gran._("➕ Add another child"))
    await add_child(bot, gran, "小明", 2017, 6, None)
    await bot.press(gran.who, gran._("✅ That is all"))
    await bot.press(gran.who, gran._("Not now"))
    return gran


def tip_of(text: str, locale: str) -> library.Tip:
    lib = library.library()
    found = [t for t in lib.tips if t.text(locale) in text]
    assert len(found) == 1, text
    return found[0]


@pytest.mark.parametrize("locale", ["zh_Hans", "en"])
async def test_browsing_a_topic_fits_the_ages_never_repeats_and_keeps_feedback(
    bot: Harness, db: Database, locale: str
) -> None:
    at(bot, T0)
    gran = await grandmother(bot, locale)
    await bot.send(gran.who, "/tips")
    await bot.press(gran.who, gran._("🛏 Routines and sleep"))
    seen: list[str] = []
    fitting = [
        t
        for t in library.library().tips
        if "routines" in t.topics and t.ages & {"0-2", "6-11"} and t.for_audience("guardian")
    ]
    for _ in range(len(fitting)):
        tip = tip_of(bot.screen(gran.who), locale)
        assert tip.ages & {"0-2", "6-11"} and tip.audience in ("guardian", "both") and "routines" in tip.topics
        seen.append(tip.id)
        await bot.press(gran.who, gran._("🔁 Another"))
    # Every fitting tip once before any comes again; then they start over.
    assert sorted(seen) == sorted(t.id for t in fitting)
    assert tip_of(bot.screen(gran.who), locale).id == seen[0]
    # The source is named under the tip.
    assert gran._("Source: {name}").split("{")[0] in bot.screen(gran.who)
    await bot.press(gran.who, gran._("👍 Helpful"))
    await bot.press(gran.who, gran._("👎 Not for me"))
    async with db.transaction() as s:
        feedback = (await s.scalars(select(TipFeedback))).all()
    assert [(f.tip_id, f.helpful) for f in feedback] == [(seen[0], False)]  # the latest answer counts


async def test_a_person_without_a_family_sees_every_audience_and_age(bot: Harness) -> None:
    at(bot, T0)
    stranger = person("Neighbour", 8100, "en")
    await bot.send(stranger.who, "/tips")
    await bot.press(stranger.who, "Video calls that matter")
    tip = tip_of(bot.screen(stranger.who), "en")
    assert "video_calls" in tip.topics


@pytest.mark.parametrize("locale", ["zh_Hans", "en"])
async def test_tips_by_message_once_per_slot_in_season_and_not_repeated(
    bot: Harness, db: Database, locale: str
) -> None:
    at(bot, T0)
    gran = await grandmother(bot, locale)
    await bot.send(gran.who, "/tips")
    await bot.press(gran.who, gran._("🔔 Tips by message"))
    await bot.press(gran.who, gran._("Every day"))
    await bot.press(gran.who, "19:30")
    assert gran._("✅ Saved. Tips never come in your quiet hours.") in bot.all_text(gran.who)
    before = len(bot.api.calls)
    sent: list[str] = []
    for day in range(12):
        slot = datetime(2026, 12, 2, 11, 30, tzinfo=UTC) + timedelta(days=day)  # 19:30 in Xincheng
        await tick(bot, slot - timedelta(minutes=1))
        await tick(bot, slot)
        await tick(bot, slot + timedelta(minutes=1))  # a second tick in the same slot sends nothing
        texts = [c.params["text"] for c in bot.api.calls[before:] if c.method == "sendMessage"]
        assert len(texts) == day + 1
        sent.append(tip_of(texts[-1], locale).id)
    lib = library.library()
    tips = [lib.tip(i) for i in sent]
    assert len(set(sent)) == len(sent)  # no repeats
    assert all(t is not None and lib.in_season(t, 12) for t in tips)  # December: no drowning-season tips
    assert all(t is not None and t.ages & {"0-2", "6-11"} for t in tips)
    async with db.transaction() as s:
        deliveries = (await s.scalars(select(TipDelivery).where(TipDelivery.via == "subscription"))).all()
    assert len(deliveries) == 12  # one per slot for the household, not one per child


async def test_quiet_hours_hold_a_tip_until_they_end_and_pause_resume_stop(bot: Harness, db: Database) -> None:
    at(bot, T0)
    gran = await grandmother(bot, "en")
    await bot.send(gran.who, "/tips")
    await bot.press(gran.who, "Tips by message")
    await bot.press(gran.who, "Once a week")
    await bot.press(gran.who, "Thursday")
    await bot.press(gran.who, "07:30")
    async with db.transaction() as s:
        user = await s.scalar(select(User).where(User.telegram_id == gran.who.id))
        assert user is not None
        await people.set_quiet_hours(s, user.id, "22:00-08:00")
    await tick(bot, datetime(2026, 12, 2, 23, 30, tzinfo=UTC))  # Thursday 07:30 in Xincheng: still quiet
    async with db.transaction() as s:
        row = await s.scalar(select(Outbox).where(Outbox.kind == "tip.subscription"))
        assert row is not None and row.status == "pending"
        assert timedelta(minutes=29) <= row.due_at - row.created_at <= timedelta(minutes=31)  # at 08:00
    await bot.send(gran.who, "/tips")
    await bot.press(gran.who, "Tips by message")
    await bot.press(gran.who, "Pause")
    await tick(bot, datetime(2026, 12, 9, 23, 30, tzinfo=UTC))
    await bot.send(gran.who, "/tips")
    await bot.press(gran.who, "Tips by message")
    await bot.press(gran.who, "Resume")
    await bot.press(gran.who, "Stop")
    await tick(bot, datetime(2026, 12, 16, 23, 30, tzinfo=UTC))
    async with db.transaction() as s:
        assert len((await s.scalars(select(Outbox).where(Outbox.kind == "tip.subscription"))).all()) == 1
