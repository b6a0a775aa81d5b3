"""Find help, end to end in both languages: the right contacts, nearest and open first, in two or three taps."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace

import pytest
from sqlalchemy import select

from bot.app import housekeeping
from bot.services import caseworker
from db.models import Contact, Outbox, User
from db.session import Database
from tests.harness import Harness
from tests.journeys import Speaker, add_child, create_household, onboard, person
from tests.test_onboarding import PLACES

# Wednesday 2 December 2026: 10:00 and 22:00 in Xincheng (UTC+8).
MORNING = datetime(2026, 12, 2, 2, 0, tzinfo=UTC)
NIGHT = datetime(2026, 12, 2, 14, 0, tzinfo=UTC)

EXPECTED = {
    "school": [
        "t02-s1-child-director",
        "t02-central-primary",
        "xc-education-bureau",
        "gx-12345-6-minors",
        "gx-12355-youth",
    ],
    "health": ["t02-s1-clinic", "t02-health-centre", "xc-hospital", "xc-mch-hospital", "cn-120-ambulance"],
    "mental_health": [
        "xc-youth-league",
        "xc-social-work",
        "gx-12345-6-minors",
        "gx-12355-youth",
        "cn-12356-psychological",
    ],
    # Never a made-up number in an emergency: the sample county hospital is left out.
    "emergency": ["cn-110-police", "cn-120-ambulance", "cn-119-fire-rescue"],
}
NEED_BUTTON = {
    "school": "🏫 School",
    "health": "🏥 Health",
    "mental_health": "💬 Feelings and worries",
    "emergency": "🚨 Emergency",
}


async def names(db: Database, keys: list[str], locale: str) -> list[str]:
    async with db.transaction() as s:
        rows = {c.key: c for c in (await s.scalars(select(Contact).where(Contact.key.in_(keys)))).all()}
    return [rows[k].name_zh if locale == "zh_Hans" else rows[k].name_en for k in keys]


def in_order(text: str, expected: list[str]) -> bool:
    positions = [text.find(f"<b>{n}</b>") for n in expected]
    return all(p >= 0 for p in positions) and positions == sorted(positions)


async def guardian(bot: Harness, uid: int, locale: str) -> Speaker:
    gran = person("Gran", uid, locale)
    township, village = PLACES[locale]
    await create_household(bot, gran, township=township, village=village, relation="Grandmother")
    await add_child(bot, gran, "小明", 2016, 5, None)
    await bot.press(gran.who, gran._("✅ That is all"))
    await bot.press(gran.who, gran._("Not now"))
    return gran


def at(bot: Harness, moment: datetime) -> None:
    bot.app.bot_data["runtime"].clock = lambda: moment


@pytest.mark.parametrize("locale", ["zh_Hans", "en"])
async def test_a_guardian_gets_the_nearest_right_contacts(bot: Harness, db: Database, locale: str) -> None:
    at(bot, MORNING)
    gran = await guardian(bot, 1201, locale)
    await bot.send(gran.who, "/menu")
    await bot.press(gran.who, gran._("🆘 Find help"))
    for need, keys in EXPECTED.items():
        await bot.press(gran.who, gran._(NEED_BUTTON[need]))
        screen = bot.screen(gran.who)
        expected = await names(db, keys, locale)
        assert in_order(screen, [n.replace("&", "&amp;") for n in expected]), (need, screen)
        assert screen.count("📞") == len(keys)
        danger = gran._("🚨 <b>If a child is in danger now, call first:</b>")
        assert (danger in screen) == (need != "school")
        # Sample entries are marked, on every screen that shows them, and get no contact card.
        sample_note = gran._("⚠️ Numbers marked (sample) are made up for the demonstration: they do not work.")
        assert (sample_note in screen) == (need != "emergency")
        cards = [label for label in bot.labels(gran.who) if label.startswith("📇")]
        async with db.transaction() as s:
            real = {c.key for c in (await s.scalars(select(Contact).where(Contact.is_sample.is_(False)))).all()}
        assert cards == [f"📇 {i}" for i, key in enumerate(keys, start=1) if key in real]
        # Phone numbers are plain digits, so Telegram makes them tappable.
        assert "📞 110 " in screen or need != "emergency"
        await bot.press(gran.who, gran._("🔎 Another need"))


@pytest.mark.parametrize("locale", ["zh_Hans", "en"])
async def test_out_of_hours_the_open_line_comes_first_and_closed_ones_say_when(
    bot: Harness, db: Database, locale: str
) -> None:
    at(bot, NIGHT)
    gran = await guardian(bot, 1202, locale)
    await bot.send(gran.who, "/help")
    await bot.press(gran.who, gran._("🏫 School"))
    screen = bot.screen(gran.who)
    order = await names(
        db, ["gx-12345-6-minors", "gx-12355-youth", "t02-s1-child-director", "t02-central-primary"], locale
    )
    assert in_order(screen, order)
    closed = gran._("⏸ Not answering now; try from {when}")
    assert closed.format(when=gran._("tomorrow {time}").format(time="8:30")) in screen
    # The 24-hour line and the one whose hours are not confirmed stay open; the three office-hours ones close.
    assert screen.count(closed.split("{")[0]) == 3
    assert gran._("hours not confirmed; you can try calling") in screen


@pytest.mark.parametrize("locale", ["zh_Hans", "en"])
async def test_someone_without_a_household_picks_a_village(bot: Harness, db: Database, locale: str) -> None:
    at(bot, MORNING)
    neighbour = person("Neighbour", 1203, locale)
    await bot.send(neighbour.who, "/help")
    await bot.press(neighbour.who, neighbour._("🏥 Health"))
    assert neighbour._("Which town or township are you in?") in bot.screen(neighbour.who)
    await bot.press(neighbour.who, "古蓬镇" if locale == "zh_Hans" else "Gupeng Town")
    await bot.press(neighbour.who, "古蓬二村（示例）" if locale == "zh_Hans" else "Gupeng Village 2 (sample)")
    screen = bot.screen(neighbour.who)
    assert in_order(screen, await names(db, ["t05-s2-clinic", "t05-health-centre", "xc-hospital"], locale))
    # The village is remembered for the next question today.
    await bot.press(neighbour.who, neighbour._("🔎 Another need"))
    await bot.press(neighbour.who, neighbour._("🏫 School"))
    assert in_order(
        bot.screen(neighbour.who), await names(db, ["t05-s2-child-director", "t05-central-primary"], locale)
    )


@pytest.mark.parametrize("locale", ["zh_Hans", "en"])
async def test_the_contact_card_is_sent_for_real_numbers_only(bot: Harness, db: Database, locale: str) -> None:
    at(bot, MORNING)
    gran = await guardian(bot, 1204, locale)
    await bot.send(gran.who, "/help")
    await bot.press(gran.who, gran._("🏥 Health"))
    # Entries 1-4 are sample numbers; only 120 (entry 5) can be saved to the phone.
    assert [label for label in bot.labels(gran.who) if label.startswith("📇")] == ["📇 5"]
    await bot.press(gran.who, "📇 5")
    card = bot.api.sent(gran.who.id, method="sendContact")[-1]
    [ambulance] = await names(db, ["cn-120-ambulance"], locale)
    assert card["first_name"] == ambulance
    assert card["phone_number"] == "120"
    # A forged card button for a sample entry that was on the screen is refused.
    async with db.transaction() as s:
        clinic = await s.scalar(select(Contact.id).where(Contact.key == "t02-s1-clinic"))
    await bot.press_data(gran.who, f"card:c{clinic}")
    assert bot.api.calls[-1].params.get("text") == gran._(
        "This button has expired. Please use the latest message, or tap /menu."
    )
    assert len(bot.api.sent(gran.who.id, method="sendContact")) == 1


@pytest.mark.parametrize("locale", ["zh_Hans", "en"])
async def test_an_emergency_never_asks_where_first(bot: Harness, db: Database, locale: str) -> None:
    at(bot, NIGHT)
    stranger = person("Stranger", 1210, locale)
    await bot.send(stranger.who, "/help")
    await bot.press(stranger.who, stranger._("🚨 Emergency"))
    screen = bot.screen(stranger.who)
    assert screen.startswith(stranger._("🚨 <b>If a child is in danger now, call first:</b>"))
    assert in_order(screen, await names(db, ["cn-110-police", "cn-120-ambulance", "cn-119-fire-rescue"], locale))
    assert stranger._("Which town or township are you in?") not in screen


async def test_help_in_the_middle_of_setting_up_does_not_swallow_the_next_answer(bot: Harness, db: Database) -> None:
    at(bot, MORNING)
    gran = person("Gran", 1211, "zh_Hans")
    await create_household(bot, gran, township="大塘镇", village="大塘一村（示例）", relation="Grandmother")
    question = bot.last_text(gran.who)  # the child's nickname
    await bot.send(gran.who, "/help")
    await bot.press(gran.who, gran._("🏥 Health"))
    # A thank-you typed now is not taken as the child's name.
    await bot.send(gran.who, "谢谢")
    assert gran._("In which year was {name} born?").format(name="谢谢") not in bot.all_text(gran.who)
    # The results offer the way back; the setup continues where it was.
    await bot.press(gran.who, gran._("↩️ Continue where I was"))
    assert bot.last_text(gran.who) == question
    await bot.send(gran.who, "小明")
    assert gran._("In which year was {name} born?").format(name="小明") in bot.screen(gran.who)


async def test_forged_help_buttons_change_nothing(bot: Harness, db: Database) -> None:
    at(bot, MORNING)
    gran = await guardian(bot, 1205, "en")
    await bot.send(gran.who, "/help")
    await bot.press(gran.who, "🏫 School")
    before = bot.screen(gran.who)
    async with db.transaction() as s:
        hidden = await s.scalar(select(Contact.id).where(Contact.key == "t05-health-centre"))
    for data in (f"card:c{hidden}", "card:c999999", "card:p1", "need:gossip", "hv:vil:1", "hv:tw:999"):
        await bot.press_data(gran.who, data)
        assert bot.api.calls[-1].method == "answerCallbackQuery"
        assert bot.api.calls[-1].params.get("text", "").startswith("This button has expired")
    assert bot.screen(gran.who) == before
    assert bot.api.sent(gran.who.id, method="sendContact") == []


async def test_a_verified_child_director_is_the_villages_contact(bot: Harness, db: Database) -> None:
    at(bot, MORNING)
    async with db.transaction() as s:
        invite = await caseworker.issue_invite(
            s, post="child-director", area_code="451321-02-S1", phone="0772-555 0101"
        )
    director = person("Director", 1206, "en")
    await bot.send(director.who, f"/start {invite.code}")
    await bot.press(director.who, "I agree")
    gran = await guardian(bot, 1207, "en")
    await bot.send(gran.who, "/help")
    await bot.press(gran.who, "🛡️ Child safety")
    screen = bot.screen(gran.who)
    first = screen.split("\n\n")[2]
    assert first.startswith("1. <b>child director, Datang Village 1 (sample), Datang Town  ✅ verified</b>")
    assert "📞 07725550101" in first
    # The sample child director of that village gives way to the verified one.
    [sample] = await names(db, ["t02-s1-child-director"], "en")
    assert sample not in screen
    await bot.press(gran.who, "📇 1")
    assert bot.api.sent(gran.who.id, method="sendContact")[-1]["phone_number"] == "07725550101"


async def test_administrators_hear_monthly_about_contacts_to_recheck(bot: Harness, db: Database) -> None:
    admin = person("Admin", 999, "en")  # ADMIN_TELEGRAM_IDS in the test settings
    await onboard(bot, admin, "🔑 I have an invitation code")
    async with db.transaction() as s:
        old = await s.scalar(select(Contact).where(Contact.key == "cn-12338-womens-rights"))
        assert old is not None
        old.verified_on = old.verified_on.replace(year=2025, month=1)
    at(bot, MORNING)
    context = SimpleNamespace(application=bot.app)
    await housekeeping(context)  # type: ignore[arg-type]
    await housekeeping(context)  # type: ignore[arg-type]  # again the same month: no second message
    review = [t for t in bot.api.texts(999) if "directory entr" in t]
    assert len(review) == 1
    assert "sample contacts with made-up numbers are still shown to families" in review[0]
    assert "1 directory entry was last checked more than 180 days ago" in review[0]
    assert "12338 Women's Rights Hotline (12338)" in review[0]
    async with db.transaction() as s:
        user = await s.scalar(select(User).where(User.telegram_id == 999))
        kinds = (await s.scalars(select(Outbox.kind).where(Outbox.user_id == user.id))).all()  # type: ignore[union-attr]
    assert kinds == ["contacts.review"]
