"""Concerns end to end: report, danger-first guidance, the ladder with a controllable clock, acknowledgement."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
from sqlalchemy import func, select

from bot.app import concerns_tick
from bot.fake import FakeRequest
from bot.services import caseworker, codes, concerns, people
from bot.services.errors import NotAllowed
from db.models import (
    AuditEvent,
    CaseEvent,
    Child,
    Concern,
    ConcernAttachment,
    ConversationState,
    Draft,
    Household,
    User,
)
from db.session import Database
from tests.harness import Harness, start_harness, stop_harness
from tests.journeys import Speaker, add_child, create_household, person
from tests.test_onboarding import PLACES

T0 = datetime(2026, 12, 2, 2, 0, tzinfo=UTC)  # Wednesday 10:00 in Xincheng
VILLAGE, TOWNSHIP, COUNTY = "451321-02-S1", "451321-02", "451321"


async def caseworker_on(db: Database, telegram_id: int, post: str, area: str, locale: str = "en") -> Speaker:
    """A verified caseworker, set up directly through the services (the onboarding tests cover the screens)."""
    async with db.transaction() as s:
        p = await people.get_or_create(
            s, telegram_id=telegram_id, chat_id=telegram_id, locale=locale, timezone="Asia/Shanghai"
        )
        await people.accept_notice(s, p.id)
        issued = await caseworker.issue_invite(s, post=post, area_code=area)
        invite = await codes.find_by_code(s, issued.code)
        assert invite is not None
        await caseworker.redeem(s, user_id=p.id, invite_id=invite.id)
    return person(f"cw{telegram_id}", telegram_id, locale)


async def full_ladder(db: Database) -> tuple[Speaker, Speaker, Speaker]:
    return (
        await caseworker_on(db, 5001, "child-director", VILLAGE),
        await caseworker_on(db, 5002, "township-supervisor", TOWNSHIP, "zh_Hans"),
        await caseworker_on(db, 5003, "county-officer", COUNTY),
    )


def at(bot: Harness, moment: datetime) -> None:
    bot.app.bot_data["runtime"].clock = lambda: moment


async def tick(bot: Harness, moment: datetime) -> None:
    at(bot, moment)
    await concerns_tick(SimpleNamespace(application=bot.app))  # type: ignore[arg-type]


def concern_texts(bot: Harness, who: Speaker) -> list[str]:
    return [t for t in bot.api.texts(who.who.id) if "XC-2026-" in t]


async def family(bot: Harness, locale: str, uid: int = 6001) -> Speaker:
    gran = person("Gran", uid, locale)
    township, village = PLACES[locale]
    await create_household(bot, gran, township=township, village=village, relation="Grandmother")
    await add_child(bot, gran, "小明", 2016, 5, None)
    await bot.press(gran.who, gran._("✅ That is all"))
    await bot.press(gran.who, gran._("Not now"))
    return gran


@pytest.mark.parametrize("locale", ["zh_Hans", "en"])
async def test_danger_first_then_every_rung_at_once(bot: Harness, db: Database, locale: str) -> None:
    at(bot, T0)
    director, supervisor, officer = await full_ladder(db)
    gran = await family(bot, locale)
    await bot.send(gran.who, "/report")
    await bot.press(gran.who, "小明")
    await bot.press(gran.who, gran._("Hurt by someone, violence"))
    await bot.press(gran.who, gran._("⚠️ Yes, in danger now"))
    # What to do now comes before the next question.
    guidance, question = bot.messages(gran.who)[-2:]
    assert guidance["text"].startswith(gran._("🚨 <b>First, keep the child safe. Call now:</b>"))
    assert gran._("📞 110 police: someone is hurting the child, or the child is missing.") in guidance["text"]
    assert question["text"] == gran._(
        "Tell us what happened, in your own words: type it, send a voice note, or a photo. Or skip. "
        "Please do not put the child's full name or ID number."
    )
    await bot.send(gran.who, "他叔叔打他 <很重>")
    await bot.press(gran.who, gran._("Yes, they may contact me"))
    await bot.press(gran.who, gran._("📨 Send now"))
    saved = bot.screen(gran.who) if "<code>" in bot.screen(gran.who) else bot.last_text(gran.who)
    assert "XC-2026-00001" in saved
    assert gran._("If things get worse, call 110 (police) or 120 (ambulance) straight away.") in saved
    # An emergency: every rung is told at once, each in their own language.
    for worker in (director, supervisor, officer):
        [text] = concern_texts(bot, worker)
        assert (
            worker._("🆘 <b>Concern {ref}</b> · {urgency}").format(ref="XC-2026-00001", urgency=worker._("EMERGENCY"))
            in text
        )
        assert "小明" in text and "&lt;很重&gt;" in text
    async with db.transaction() as s:
        concern = await s.scalar(select(Concern))
        assert concern is not None and concern.urgency == "emergency" and concern.reporter_shares_contact
        assert concern.ack_due_at == T0 + timedelta(minutes=15)


@pytest.mark.parametrize("locale", ["zh_Hans", "en"])
async def test_a_neighbour_reports_a_child_outside_the_family_and_it_climbs_the_ladder(
    bot: Harness, db: Database, locale: str
) -> None:
    at(bot, T0)
    director, supervisor, officer = await full_ladder(db)
    neighbour = person("Neighbour", 6002, locale)
    township, village = PLACES[locale]
    await bot.send(neighbour.who, "/report")
    await bot.press(neighbour.who, township)
    await bot.press(neighbour.who, village)
    # Someone outside the family says how they know the child; the caseworker sees it.
    await bot.press(neighbour.who, neighbour._("Neighbour"))
    await bot.press(neighbour.who, neighbour._("Not going to school"))
    await bot.press(neighbour.who, neighbour._("No, not right now"))
    await bot.press(neighbour.who, neighbour._("Skip"))
    await bot.press(neighbour.who, neighbour._("No, keep me out of it"))
    await bot.press(neighbour.who, neighbour._("📨 Send now"))
    assert neighbour._("It has gone to: {who}").split("{")[0] in bot.all_text(neighbour.who)
    # Normal urgency: the village first, and only the village.
    [notice] = concern_texts(bot, director)
    assert director._("Reported by: {who}").format(who=director._("Neighbour")) in notice
    assert director._("Child: not in a registered family") in notice
    assert concern_texts(bot, supervisor) == concern_texts(bot, officer) == []

    await tick(bot, T0 + timedelta(hours=23))
    assert concern_texts(bot, supervisor) == []
    await tick(bot, T0 + timedelta(hours=24, minutes=1))
    [up] = concern_texts(bot, supervisor)
    assert up.startswith(supervisor._("⬆️ Not acknowledged in time below; now with you."))
    assert any("has gone up to the next level" in t for t in concern_texts(bot, director))
    await tick(bot, T0 + timedelta(hours=48, minutes=2))
    assert len(concern_texts(bot, officer)) == 1
    # Above the county, the administrators are reminded at every deadline until someone acts.
    admin = await caseworker_on(db, 999, "admin", COUNTY)
    await tick(bot, T0 + timedelta(hours=72, minutes=3))
    await tick(bot, T0 + timedelta(hours=96, minutes=4))
    reminders = [t for t in concern_texts(bot, admin) if "nobody acknowledging it" in t]
    assert len(reminders) == 2
    # Acknowledged at last: the climbing stops and the reporter hears who has it.
    await bot.press(officer.who, "acknowledge")
    taken_up = neighbour._("👀 Your report {ref} is being looked at by: {who}").split("{")[0]
    assert any(t.startswith(taken_up) for t in bot.api.texts(neighbour.who.id))
    before = len(bot.api.calls)
    await tick(bot, T0 + timedelta(days=30))
    # No more climbing; only the holder is reminded to record what was done or resolve it.
    sent = [c for c in bot.api.calls[before:] if c.method == "sendMessage"]
    assert [c.params["chat_id"] for c in sent] == [officer.who.id]
    assert sent[0].params["text"].startswith("⏰ Concern XC-2026-00001")


async def test_an_empty_rung_is_skipped(bot: Harness, db: Database) -> None:
    at(bot, T0)
    supervisor = await caseworker_on(db, 5002, "township-supervisor", TOWNSHIP)
    gran = await family(bot, "en")
    await bot.send(gran.who, "/report")
    await bot.press(gran.who, "小明")
    await bot.press(gran.who, "Bullying")
    await bot.press(gran.who, "No, not right now")
    await bot.press(gran.who, "Skip")
    await bot.press(gran.who, "No, keep me out of it")
    await bot.press(gran.who, "Send now")
    assert len(concern_texts(bot, supervisor)) == 1
    assert "child welfare supervisor, Datang Town" in bot.all_text(gran.who)


async def test_a_county_with_nobody_tells_the_reporter_to_call_the_hotline(bot: Harness, db: Database) -> None:
    at(bot, T0)
    admin = await caseworker_on(db, 999, "admin", COUNTY)
    gran = await family(bot, "zh_Hans")
    await bot.send(gran.who, "/report")
    await bot.press(gran.who, "小明")
    await bot.press(gran.who, gran._("Missing"))
    await bot.press(gran.who, gran._("⚠️ Yes, in danger now"))
    await bot.press(gran.who, gran._("Skip"))
    await bot.press(gran.who, gran._("No, keep me out of it"))
    await bot.press(gran.who, gran._("📨 Send now"))
    assert "请打12345，然后按6" in bot.all_text(gran.who)
    assert any("各级都没有人确认" in t or "nobody acknowledging" in t for t in concern_texts(bot, admin))


async def test_a_caseworker_who_blocked_the_bot_is_skipped_at_once(bot: Harness, db: Database) -> None:
    at(bot, T0)
    director = await caseworker_on(db, 5001, "child-director", VILLAGE)
    supervisor = await caseworker_on(db, 5002, "township-supervisor", TOWNSHIP)
    bot.api.block(director.who.id)
    gran = await family(bot, "en")
    await bot.send(gran.who, "/report")
    await bot.press(gran.who, "小明")
    await bot.press(gran.who, "Not going to school")
    await bot.press(gran.who, "No, not right now")
    await bot.press(gran.who, "Skip")
    await bot.press(gran.who, "No, keep me out of it")
    await bot.press(gran.who, "Send now")
    # Telegram answered 403 for the director: the supervisor has it now, without waiting a day.
    [text] = concern_texts(bot, supervisor)
    assert text.startswith("⬆️ The person below cannot be reached; now with you.")
    async with db.transaction() as s:
        kinds = (await s.scalars(select(CaseEvent.kind).order_by(CaseEvent.id))).all()
    assert "unreachable" in kinds and "escalated" in kinds


async def test_only_a_caseworker_in_scope_can_take_a_concern_up(bot: Harness, db: Database) -> None:
    at(bot, T0)
    director = await caseworker_on(db, 5001, "child-director", VILLAGE)
    elsewhere = await caseworker_on(db, 5009, "child-director", "451321-05-S1")
    gran = await family(bot, "en")
    await bot.send(gran.who, "/report")
    await bot.press(gran.who, "小明")
    await bot.press(gran.who, "Injury or illness")
    await bot.press(gran.who, "No, not right now")
    await bot.press(gran.who, "Skip")
    await bot.press(gran.who, "No, keep me out of it")
    await bot.press(gran.who, "Send now")
    async with db.transaction() as s:
        concern_id = await s.scalar(select(Concern.id))
    await bot.send(elsewhere.who, "/menu")
    await bot.press_data(elsewhere.who, f"cs:ack:{concern_id}")
    assert bot.api.calls[-1].params.get("text", "").startswith("This button has expired")
    async with db.transaction() as s:
        concern = await s.get(Concern, concern_id)
        assert concern is not None and concern.status == "open"
        refused = (await s.scalars(select(AuditEvent.subject).where(AuditEvent.action == "concern.refused"))).all()
        assert refused == [f"concern:{concern_id}"]
    await bot.press(director.who, "acknowledge")
    await bot.press_data(director.who, f"cs:ack:{concern_id}", bot.last_with_buttons(director.who))
    assert "was already taken up by" in bot.all_text(director.who)


async def test_sexual_abuse_guidance_and_a_voice_note(bot: Harness, db: Database) -> None:
    at(bot, T0)
    director = await caseworker_on(db, 5001, "child-director", VILLAGE)
    gran = await family(bot, "zh_Hans")
    await bot.send(gran.who, "/report")
    await bot.press(gran.who, "小明")
    await bot.press(gran.who, gran._("Sexual abuse"))
    await bot.press(gran.who, gran._("No, not right now"))
    assert "不要给孩子洗澡" in bot.all_text(gran.who)
    voice = {"file_id": "AwACAgIAAxkBAAEvoice", "file_unique_id": "AgADvoice", "duration": 12}
    await bot.feed({"message": bot.message_json(gran.who, None, voice=voice)})
    await bot.press(gran.who, gran._("No, keep me out of it"))
    await bot.press(gran.who, gran._("📨 Send now"))
    async with db.transaction() as s:
        attachment = await s.scalar(select(ConcernAttachment))
        concern = await s.scalar(select(Concern))
    assert attachment is not None and attachment.kind == "voice" and attachment.file_id == voice["file_id"]
    assert concern is not None and concern.urgency == "emergency"
    assert "Attached: 1 voice note(s) or photo(s)" in concern_texts(bot, director)[0]
    # The voice note itself goes with the notification, by Telegram file id.
    [forwarded] = bot.api.sent(director.who.id, method="sendVoice")
    assert forwarded["voice"] == voice["file_id"] and "XC-2026-00001" in forwarded["caption"]


async def test_a_restart_between_report_and_acknowledgement_loses_nothing(bot: Harness, db: Database) -> None:
    at(bot, T0)
    _director, supervisor, _officer = await full_ladder(db)
    gran = await family(bot, "en")
    await bot.send(gran.who, "/report")
    await bot.press(gran.who, "小明")
    await bot.press(gran.who, "Left alone, nobody caring")
    await bot.press(gran.who, "No, not right now")
    await bot.press(gran.who, "Skip")
    await bot.press(gran.who, "No, keep me out of it")
    await bot.press(gran.who, "Send now")
    settings = bot.app.bot_data["runtime"].settings
    second = await start_harness(settings, db, bot.api)
    try:
        second.app.bot_data["runtime"].clock = lambda: T0 + timedelta(hours=2, minutes=1)
        await concerns_tick(SimpleNamespace(application=second.app))  # type: ignore[arg-type]
        assert len(concern_texts(second, supervisor)) == 1  # high urgency: two hours, then up
        await concerns_tick(SimpleNamespace(application=second.app))  # type: ignore[arg-type]
        assert len(concern_texts(second, supervisor)) == 1  # and only once
        await second.press(supervisor.who, "确认收到")
        assert any("is being looked at by" in t for t in second.api.texts(gran.who.id))
        assert not second.errors
    finally:
        await stop_harness(second)


@pytest.mark.parametrize(
    ("locale", "words"), [("zh_Hans", "昨天他爸爸喝醉了打孩子"), ("en", "her uncle beat the child again")]
)
async def test_danger_words_anywhere_offer_a_report_with_the_category_filled_in(
    bot: Harness, db: Database, locale: str, words: str
) -> None:
    at(bot, T0)
    director = await caseworker_on(db, 5001, "child-director", VILLAGE)
    gran = await family(bot, locale)
    await bot.send(gran.who, words)
    warning = bot.screen(gran.who)
    assert warning.startswith(gran._("🚨 <b>This sounds serious. If the child is in danger now, call:</b>"))
    assert gran._("📞 110 police: someone is hurting the child, or the child is missing.") in warning
    # Nothing is filed by the bot itself.
    async with db.transaction() as s:
        assert await s.scalar(select(Concern.id)) is None
    await bot.press(gran.who, gran._("🚨 Report this now"))
    await bot.press(gran.who, "小明")
    # The category came with the button: the next question is about danger.
    assert bot.screen(gran.who).startswith(gran._("Is the child in danger right now?"))
    await bot.press(gran.who, gran._("No, not right now"))
    await bot.press(gran.who, gran._("Skip"))
    await bot.press(gran.who, gran._("No, keep me out of it"))
    await bot.press(gran.who, gran._("📨 Send now"))
    async with db.transaction() as s:
        concern = await s.scalar(select(Concern))
    assert concern is not None and concern.category == "violence" and concern.urgency == "high"
    assert len(concern_texts(bot, director)) == 1


async def test_everyday_words_raise_no_alarm(bot: Harness) -> None:
    gran = await family(bot, "zh_Hans")
    for text in ("给孩子打电话", "带孩子去打疫苗", "孩子在打游戏"):
        await bot.send(gran.who, text)
    assert "这听起来很严重" not in bot.all_text(gran.who)


async def test_a_report_in_the_middle_of_setting_up_suspends_the_setup(bot: Harness, db: Database) -> None:
    at(bot, T0)
    await caseworker_on(db, 5001, "child-director", VILLAGE)
    gran = person("Gran", 6010, "en")
    await create_household(
        bot, gran, township="Datang Town", village="Datang Village 1 (sample)", relation="Grandmother"
    )
    await bot.send(gran.who, "/report")
    await bot.press(gran.who, "🧒 A child not in my family")
    await bot.press(gran.who, "Datang Town")
    await bot.press(gran.who, "Datang Village 2 (sample)")
    await bot.press(gran.who, "Relative")
    await bot.press(gran.who, "Bullying")
    await bot.press(gran.who, "No, not right now")
    await bot.press(gran.who, "Skip")
    await bot.press(gran.who, "No, keep me out of it")
    await bot.press(gran.who, "Send now")
    # The next thing typed is not taken as the nickname the setup was waiting for.
    await bot.send(gran.who, "thank you")
    assert "Continue there?" in bot.screen(gran.who)
    await bot.press(gran.who, "Continue where I was")
    assert bot.last_text(gran.who).startswith("What do you call the child?")
    await bot.send(gran.who, "Ming")
    assert "In which year was Ming born?" in bot.screen(gran.who)


@pytest.mark.parametrize("locale", ["zh_Hans", "en"])
async def test_the_same_worry_twice_in_ten_minutes_is_offered_as_an_addition(
    bot: Harness, db: Database, locale: str
) -> None:
    at(bot, T0)
    director = await caseworker_on(db, 5001, "child-director", VILLAGE)
    gran = await family(bot, locale)

    async def report(description: str) -> None:
        await bot.send(gran.who, "/report")
        await bot.press(gran.who, "小明")
        await bot.press(gran.who, gran._("Bullying"))
        await bot.press(gran.who, gran._("No, not right now"))
        await bot.send(gran.who, description)
        await bot.press(gran.who, gran._("No, keep me out of it"))
        await bot.press(gran.who, gran._("📨 Send now"))

    await report("同学抢他的钱")
    at(bot, T0 + timedelta(minutes=4))
    await report("今天又被打了")
    assert gran._("You reported this {n} minutes ago ({ref}). Add this to that report?").format(
        n=4, ref="XC-2026-00001"
    ) in bot.screen(gran.who)
    await bot.press(gran.who, gran._("➕ Add to that report"))
    async with db.transaction() as s:
        assert len((await s.scalars(select(Concern))).all()) == 1
        more = (await s.scalars(select(CaseEvent.detail).where(CaseEvent.kind == "more_info"))).all()
    assert more == [{"text": "今天又被打了", "in_danger": False}]
    assert any("今天又被打了" in t for t in bot.api.texts(director.who.id))
    # After ten minutes it is a new report.
    at(bot, T0 + timedelta(minutes=15))
    await report("又一次")
    assert "XC-2026-00002" in bot.all_text(gran.who)


async def test_deleting_ones_data_keeps_the_report_without_the_name(bot: Harness, db: Database) -> None:
    at(bot, T0)
    await caseworker_on(db, 5001, "child-director", VILLAGE)
    gran = await family(bot, "en")
    await bot.send(gran.who, "/report")
    await bot.press(gran.who, "小明")
    await bot.press(gran.who, "Left alone, nobody caring")
    await bot.press(gran.who, "No, not right now")
    await bot.press(gran.who, "Skip")
    await bot.press(gran.who, "No, keep me out of it")
    await bot.press(gran.who, "Send now")
    await bot.send(gran.who, "/deletemydata")
    await bot.press(gran.who, "Yes, delete everything")
    assert "kept without your name" in bot.last_text(gran.who)
    async with db.transaction() as s:
        concern = await s.scalar(select(Concern))
    assert concern is not None
    assert (concern.reporter_user_id, concern.household_id, concern.child_id) == (None, None, None)
    assert concern.category == "left_alone" and concern.status == "open"


@pytest.mark.parametrize(
    ("category", "danger", "urgency"),
    [
        ("In danger right now", False, "emergency"),
        ("Hurt by someone, violence", False, "high"),
        ("Sexual abuse", False, "emergency"),
        ("Left alone, nobody caring", False, "high"),
        ("Missing", False, "emergency"),
        ("Injury or illness", False, "normal"),
        ("Very sad, withdrawn, or talking about hurting themselves", False, "high"),
        ("Very sad, withdrawn, or talking about hurting themselves", True, "emergency"),
        ("Not going to school", False, "normal"),
        ("Bullying", False, "normal"),
        ("Something else", False, "normal"),
        ("Something else", True, "emergency"),
    ],
)
@pytest.mark.parametrize("locale", ["zh_Hans", "en"])
async def test_every_category_gets_its_urgency(
    bot: Harness, db: Database, category: str, danger: bool, urgency: str, locale: str
) -> None:
    at(bot, T0)
    gran = await family(bot, locale)
    await bot.send(gran.who, "/report")
    await bot.press(gran.who, "小明")
    await bot.press(gran.who, gran._(category))
    await bot.press(gran.who, gran._("⚠️ Yes, in danger now") if danger else gran._("No, not right now"))
    await bot.press(gran.who, gran._("Skip"))
    await bot.press(gran.who, gran._("No, keep me out of it"))
    await bot.press(gran.who, gran._("📨 Send now"))
    async with db.transaction() as s:
        concern = await s.scalar(select(Concern))
    assert concern is not None and concern.urgency == urgency


async def test_an_abandoned_report_gets_one_gentle_reminder_and_is_gone_after_a_day(bot: Harness, db: Database) -> None:
    from bot.app import housekeeping
    from db.models import Draft

    at(bot, T0)
    gran = await family(bot, "zh_Hans")
    await bot.send(gran.who, "/report")
    await bot.press(gran.who, "小明")
    await bot.press(gran.who, gran._("Bullying"))
    await bot.press(gran.who, gran._("No, not right now"))
    # She stops at the description. An hour later, one reminder; never a second.
    async with db.transaction() as s:
        draft = await s.scalar(select(Draft).where(Draft.flow == "report"))
        assert draft is not None
        draft.updated_at = T0 - timedelta(minutes=1)
    context = SimpleNamespace(application=bot.app)
    await tick_housekeeping(bot, context, T0 + timedelta(hours=2), housekeeping)
    await tick_housekeeping(bot, context, T0 + timedelta(hours=3), housekeeping)
    reminders = [t for t in bot.api.texts(gran.who.id) if "还没有发送" in t]
    assert len(reminders) == 1
    await bot.press(gran.who, gran._("↩️ Finish the report"))
    assert bot.screen(gran.who).startswith("用您自己的话")
    # A day after the last step the draft is deleted, and the old button no longer works.
    await tick_housekeeping(bot, context, T0 + timedelta(hours=25), housekeeping)
    async with db.transaction() as s:
        assert await s.scalar(select(Draft).where(Draft.flow == "report")) is None
    await bot.press_data(gran.who, "report:resume")
    assert bot.api.calls[-1].params.get("text", "").startswith("这个按钮已经过期了")


async def tick_housekeeping(bot: Harness, context: object, moment: datetime, job: object) -> None:
    at(bot, moment)
    await job(context)  # type: ignore[operator]


async def test_words_of_danger_in_the_description_raise_the_urgency(bot: Harness, db: Database) -> None:
    at(bot, T0)
    await full_ladder(db)
    gran = await family(bot, "zh_Hans")
    await bot.send(gran.who, "/report")
    await bot.press(gran.who, "小明")
    await bot.press(gran.who, gran._("Not going to school"))
    await bot.press(gran.who, gran._("No, not right now"))
    await bot.send(gran.who, "他说不想活了，要喝农药")
    await bot.press(gran.who, gran._("No, keep me out of it"))
    await bot.press(gran.who, gran._("📨 Send now"))
    async with db.transaction() as s:
        concern = await s.scalar(select(Concern))
    assert concern is not None and concern.category == "not_in_school"
    assert concern.urgency in ("emergency", "high")
    assert concern.ack_due_at is not None and concern.ack_due_at <= T0 + timedelta(hours=2)


async def test_a_failover_missed_at_the_time_happens_at_the_next_tick(bot: Harness, db: Database) -> None:
    from db.models import User

    at(bot, T0)
    director = await caseworker_on(db, 5001, "child-director", VILLAGE)
    supervisor = await caseworker_on(db, 5002, "township-supervisor", TOWNSHIP)
    gran = await family(bot, "en")
    await bot.send(gran.who, "/report")
    await bot.press(gran.who, "小明")
    await bot.press(gran.who, "Bullying")
    await bot.press(gran.who, "No, not right now")
    await bot.press(gran.who, "Skip")
    await bot.press(gran.who, "No, keep me out of it")
    await bot.press(gran.who, "Send now")
    assert concern_texts(bot, supervisor) == []
    # The director was found unreachable, but the process died before failing over.
    async with db.transaction() as s:
        user = await s.scalar(select(User).where(User.telegram_id == director.who.id))
        assert user is not None
        user.unreachable = True
    await tick(bot, T0 + timedelta(seconds=30))
    assert len(concern_texts(bot, supervisor)) == 1
    await tick(bot, T0 + timedelta(seconds=60))
    assert len(concern_texts(bot, supervisor)) == 1  # once


async def test_an_administrator_acts_through_an_admin_post(bot: Harness, db: Database) -> None:
    at(bot, T0)
    admin = await caseworker_on(db, 999, "admin", COUNTY)
    gran = await family(bot, "en")
    await bot.send(gran.who, "/report")
    await bot.press(gran.who, "小明")
    await bot.press(gran.who, "Bullying")
    await bot.press(gran.who, "No, not right now")
    await bot.press(gran.who, "Skip")
    await bot.press(gran.who, "No, keep me out of it")
    await bot.press(gran.who, "Send now")
    await bot.press(admin.who, "acknowledge")
    assert "You have taken up concern XC-2026-00001" in bot.all_text(admin.who)
    await bot.press(admin.who, "🏁 Resolve")
    await bot.send(admin.who, "Village post filled; the family is supported.")
    async with db.transaction() as s:
        concern = await s.scalar(select(Concern))
    assert concern is not None and concern.status == "resolved"


async def test_a_photo_added_to_an_earlier_report_reaches_its_caseworker(bot: Harness, db: Database) -> None:
    at(bot, T0)
    director = await caseworker_on(db, 5001, "child-director", VILLAGE)
    gran = await family(bot, "en")
    photo = [{"file_id": "AgACAgIAAxkBAAEphoto", "file_unique_id": "AQADphoto", "width": 90, "height": 90}]
    for attach in (False, True):
        await bot.send(gran.who, "/report")
        await bot.press(gran.who, "小明")
        await bot.press(gran.who, "Bullying")
        await bot.press(gran.who, "No, not right now")
        if attach:
            await bot.feed({"message": bot.message_json(gran.who, None, photo=photo, caption="his bruise")})
        else:
            await bot.press(gran.who, "Skip")
        await bot.press(gran.who, "No, keep me out of it")
        await bot.press(gran.who, "Send now")
    await bot.press(gran.who, "Add to that report")
    [sent] = bot.api.sent(director.who.id, method="sendPhoto")
    assert sent["photo"] == photo[0]["file_id"] and "XC-2026-00001" in sent["caption"]


@pytest.mark.parametrize("locale", ["zh_Hans", "en"])
async def test_reports_arriving_together_reach_the_director_together(bot: Harness, db: Database, locale: str) -> None:
    """Neighbours pressing "Send" at the same moment: the director gets the notices joined in as few messages
    as Telegram's pace allows, each report once, and acknowledges one of them from the joined message."""
    at(bot, T0)
    director = await caseworker_on(db, 5001, "child-director", VILLAGE, locale)
    request = bot.app.bot.request
    assert isinstance(request, FakeRequest)
    request.slow_chats[director.who.id] = 0.3  # so the reports after the first meet while it is on its way
    neighbours = [person(f"Neighbour{i}", 6100 + i, "en") for i in range(4)]
    township, village = PLACES["en"]
    for n in neighbours:
        await bot.send(n.who, "/report")
        for label in (township, village, "Neighbour", "Not going to school", "No, not right now", "Skip"):
            await bot.press(n.who, n._(label))
        await bot.press(n.who, n._("No, keep me out of it"))
    await asyncio.gather(*(bot.press(n.who, n._("📨 Send now")) for n in neighbours))

    refs = [f"XC-2026-0000{i}" for i in range(1, 5)]
    sent = [str(m.get("text", "")) for m in bot.messages(director.who) if "XC-2026-" in str(m.get("text", ""))]
    assert [sum(text.count(ref) for text in sent) for ref in refs] == [1, 1, 1, 1]  # each report once
    assert len(sent) < len(refs)
    joined = next(m for m in bot.messages(director.who) if sum(ref in str(m.get("text", "")) for ref in refs) > 1)
    inside = sorted((ref for ref in refs if ref in joined["text"]), key=joined["text"].index)  # as shown
    heading = director._(
        "🆘 <b>{count} concerns</b> have reached you at once; each is below. Press ✅ and its reference to "
        "acknowledge one, 📂 to open it."
    ).format(count=len(inside))
    assert len(inside) >= 2 and joined["text"].startswith(heading)
    assert [label for label, _ in bot.buttons(joined)] == [f"{mark} {ref}" for ref in inside for mark in "✅📂"]
    chosen = inside[1]
    await bot.press_data(director.who, bot.find_button(joined, f"✅ {chosen}"), joined)
    async with db.transaction() as s:
        status = {c.ref: c.status for c in (await s.scalars(select(Concern))).all()}
    assert [ref for ref in refs if status[ref] != "open"] == [chosen]


async def test_a_sent_report_leaves_no_step_behind(bot: Harness, db: Database) -> None:
    """Filing the report ends the flow in the same transaction: its answers and its stored step are gone
    with it (a restart does not put the reporter back on the last screen of a report already sent)."""
    at(bot, T0)
    await caseworker_on(db, 5001, "child-director", VILLAGE, "en")
    gran = await family(bot, "en")
    await bot.send(gran.who, "/report")
    for answer in ("小明", "Bullying", "No, not right now", "Skip", "No, keep me out of it"):
        await bot.press(gran.who, answer)
    async with db.transaction() as s:  # on the last screen: the step is stored
        assert await s.scalar(select(func.count()).select_from(ConversationState)) == 1
    await bot.press(gran.who, "Send now")
    async with db.transaction() as s:
        assert await s.scalar(select(func.count()).select_from(Concern)) == 1
        assert await s.scalar(select(func.count()).select_from(ConversationState)) == 0
        assert await s.scalar(select(func.count()).select_from(Draft).where(Draft.flow == "report")) == 0
    await bot.send(gran.who, "/report")  # a new report starts at its first question
    assert gran._("Which child are you worried about?") in bot.screen(gran.who)


async def test_a_child_of_another_family_cannot_be_named_in_a_report(bot: Harness, db: Database) -> None:
    """Forged past the buttons: the service itself refuses a child of a household the reporter is not in."""
    at(bot, T0)
    mine, theirs = await family(bot, "en", 6001), await family(bot, "en", 6002)
    async with db.transaction() as s:
        users = {u.telegram_id: u.id for u in await s.scalars(select(User))}
        children = (await s.scalars(select(Child).order_by(Child.id))).all()
        village_id = (await s.scalars(select(Household.village_id))).first()
    assert len(children) == 2 and village_id is not None
    my_child, their_child = children

    def about(child: Child) -> concerns.NewConcern:
        return concerns.NewConcern(
            village_id=village_id,
            category="bullying",
            in_danger=False,
            reporter_user_id=users[mine.who.id],
            child_id=child.id,
        )

    with pytest.raises(NotAllowed):
        async with db.transaction() as s:
            await concerns.file_concern(s, about(their_child), now=T0)
    async with db.transaction() as s:
        assert await s.scalar(select(func.count()).select_from(Concern)) == 0
        await concerns.file_concern(s, about(my_child), now=T0)  # the same report about their own child is taken
    async with db.transaction() as s:
        assert await s.scalar(select(func.count()).select_from(Concern)) == 1
    assert theirs.who.id in users
