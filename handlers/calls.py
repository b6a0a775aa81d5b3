"""Video calls: a parent books, moves, pauses and cancels calls; a carer sees them and proposes another time;
either side says whether a call happened. Every time is shown in the reader's own zone."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from telegram import Update
from telegram.ext import (
    BaseHandler,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    ConversationHandler,
    MessageHandler,
    filters,
)

from bot import labels
from bot.i18n import N_
from bot.services import call_policy, calls, contact, drafts, people, recurrence, silence
from bot.services import household as households
from bot.services import validate as check
from bot.services.errors import Invalid, NotAllowed
from handlers.common import BACK, Ctx, draft_of, esc, expired, load, remember, say, show, stale_guard

FLOW = "calls"
END = ConversationHandler.END
ZONE = "calls.zone"
DAYS = "calls.days"
DATE = "calls.date"
TIME = "calls.time"
CHILDREN = "calls.children"
LENGTH = "calls.length"
CONFIRM = "calls.confirm"
TELL = "calls.tell"
VISIT_FROM = "calls.visit_from"
VISIT_TO = "calls.visit_to"

ZONES = (
    ("Asia/Shanghai", N_("🇨🇳 China (Beijing time)")),
    ("Asia/Tokyo", N_("Japan")),
    ("Asia/Seoul", N_("Korea")),
    ("Asia/Singapore", N_("Singapore, Malaysia")),
    ("Asia/Dubai", N_("United Arab Emirates")),
    ("Europe/London", N_("United Kingdom")),
    ("Europe/Berlin", N_("Germany, France, Italy, Spain")),
    ("America/New_York", N_("USA, east coast")),
    ("America/Los_Angeles", N_("USA, west coast")),
    ("Australia/Sydney", N_("Australia (Sydney)")),
)
TIMES = ("12:00", "18:00", "19:00", "19:30", "20:00", "20:30", "21:00")
OUTCOME_SHORT = {
    "done": N_("the call happened"),
    "missed": N_("the call did not happen"),
    "moved": N_("the call was moved"),
}
OUTCOME_TEXT = {
    "done": N_("✅ Noted: the call happened. Thank you!"),
    "missed": N_("Noted: the call did not happen. Maybe another time this week?"),
    "moved": N_("Noted: the call was moved. You can book the new time as one call."),
}


async def _remember(c: Ctx, state: str, **values: object) -> dict[str, object]:
    return await remember(c, FLOW, state, **values)


async def _draft(c: Ctx) -> dict[str, object]:
    return await draft_of(c, FLOW)


def _arg(c: Ctx) -> str:
    assert c.query is not None and c.query.data is not None
    return c.query.data.rsplit(":", 1)[-1]


async def _parent_starts(c: Ctx, state: str, **values: object) -> bool:
    """Parent-only steps: refuse anyone else; for a parent, a fresh draft at `state`."""
    member = await _member(c)
    if member is None or member.kind != "parent":
        await expired(c)
        return False
    async with c.rt.db.transaction() as session:
        await drafts.clear(session, c.person.id, FLOW)
    await _remember(c, state, **values)
    return True


async def _member(c: Ctx) -> households.MemberView | None:
    if not c.person.has_household:
        return None
    async with c.rt.db.transaction() as session:
        h = await households.view(session, user_id=c.person.id, household_id=c.person.household_ids[0])
    return h.member(c.person.id)


# --- the calls screen ----------------------------------------------------------------------------------


async def on_calls(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int | None:
    c = await load(update, context)
    if await _member(c) is None:
        await expired(c)
        return None
    async with c.rt.db.transaction() as session:
        await drafts.clear(session, c.person.id, FLOW)
    await show_calls(c)
    return END


async def show_calls(c: Ctx, *, new_message: bool = False) -> None:
    _ = c._
    member = await _member(c)
    assert member is not None
    household_id = c.person.household_ids[0]
    now = c.rt.clock()
    async with c.rt.db.transaction() as session:
        views = await calls.schedules(session, user_id=c.person.id, household_id=household_id)
        visits = await calls.home_visits(session, user_id=c.person.id, household_id=household_id, today=c.tr.today(now))
        open_calls = await calls.unconfirmed(session, user_id=c.person.id, household_id=household_id, now=now)
    parent = member.kind == "parent"
    lines = [_("<b>📞 Video calls</b>")]
    if not views:
        lines.append(_("No calls booked yet."))
    rows: list[list[tuple[str, str]]] = []
    for view in views:
        line = "• " + calls.describe(c.tr, view)
        if view.status == "paused":
            line += " · " + _("paused")
        lines.append(line)
        if parent:
            rows.append(
                [(_("⚙️ Change: {when}").format(when=calls.describe(c.tr, view, with_next=False)), f"cl:s:{view.id}")]
            )
        elif view.kind == "weekly":
            rows.append([(_("🔁 Ask for another time"), f"cl:pr:{view.id}")])
    for start, end in visits:
        lines.append(
            _("🏠 Home visit {start} to {end}: no call reminders then.").format(
                start=c.tr.date_only(start), end=c.tr.date_only(end)
            )
        )
    for occurrence in open_calls[-3:]:
        rows.append(
            [(_("Did the call on {when} happen?").format(when=c.tr.when(occurrence.due_at)), f"cl:ask:{occurrence.id}")]
        )
    if parent:
        rows.append([(_("➕ A regular call"), "cl:new:weekly"), (_("➕ One call"), "cl:new:once")])
        rows.append([(_("🏠 I am coming home"), "cl:visit")])
        rows.append([(_("🌐 My time zone"), "cl:zone")])
    async with c.rt.db.transaction() as session:
        hours = await people.quiet_hours(session, c.person.id) or str(call_policy.policy().quiet_hours)
    rows.append([(_("🌙 Quiet hours: {hours}").format(hours=_quiet_label(c, hours)), "cl:quiet")])
    await show(c, "\n".join(lines), rows, new_message=new_message)


QUIET_CHOICES = ("21:30-07:00", "21:00-06:30", "22:00-07:00", "23:00-08:00", "00:00-00:00")


def _quiet_label(c: Ctx, hours: str) -> str:
    return c._("none") if hours == "00:00-00:00" else hours


async def on_quiet(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int | None:
    """Quiet hours: no nudges, questions or tips then (call reminders and concerns still come)."""
    c = await load(update, context)
    if await _member(c) is None:
        await expired(c)
        return None
    assert c.query is not None and c.query.data is not None
    choice = c.query.data.split(":", 2)[2] if c.query.data.startswith("cl:quiet:") else None
    if choice is None:
        rows = [[(_quiet_label(c, h), f"cl:quiet:{h}")] for h in QUIET_CHOICES]
        rows.append([(c._("📞 All calls"), "menu:calls")])
        await show(
            c,
            c._(
                "When should the bot stay quiet? Tips, nudges and questions wait until the quiet hours end. Call "
                "reminders you booked, and anything about a child's safety, still come."
            ),
            rows,
        )
        return END
    if choice not in QUIET_CHOICES:
        await expired(c)
        return None
    async with c.rt.db.transaction() as session:
        await people.set_quiet_hours(session, c.person.id, choice)
    await say(c, c._("Saved. Quiet hours: {hours}").format(hours=_quiet_label(c, choice)))
    await show_calls(c, new_message=True)
    return END


async def on_schedule(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int | None:
    c = await load(update, context)
    schedule_id = int(_arg(c))
    async with c.rt.db.transaction() as session:
        views = (
            {
                v.id: v
                for v in await calls.schedules(session, user_id=c.person.id, household_id=c.person.household_ids[0])
            }
            if c.person.has_household
            else {}
        )
    view = views.get(schedule_id)
    member = await _member(c)
    if view is None or member is None or member.kind != "parent":
        await expired(c)
        return None
    _ = c._
    rows: list[list[tuple[str, str]]] = []
    if view.kind == "weekly":
        rows.append([(_("🕒 Change days or time"), f"cl:mv:{view.id}")])
    if view.status == "active":
        rows.append([(_("⏸ Pause"), f"cl:pause:{view.id}")])
    else:
        rows.append([(_("▶️ Restart"), f"cl:resume:{view.id}")])
    rows.append([(_("✖️ Cancel this call"), f"cl:cancel:{view.id}")])
    rows.append([(_("📞 All calls"), "menu:calls")])
    await show(c, calls.describe(c.tr, view), rows)
    return END


async def on_status(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int | None:
    """Pause, restart, or cancel (cancel asks once more)."""
    c = await load(update, context)
    assert c.query is not None and c.query.data is not None
    _cl, action, raw = c.query.data.split(":")
    if action == "cancel":
        _ = c._
        await show(
            c,
            _("Cancel this call for good? The carers will be told."),
            [[(_("✖️ Yes, cancel it"), f"cl:cancel!:{raw}")], [(_("Keep it"), f"cl:s:{raw}")]],
        )
        return END
    status = {"pause": "paused", "resume": "active", "cancel!": "cancelled"}[action]
    try:
        async with c.rt.db.transaction() as session:
            _view, ids = await calls.set_status(
                session, user_id=c.person.id, schedule_id=int(raw), status=status, now=c.rt.clock()
            )
    except NotAllowed:
        await expired(c)
        return None
    await c.rt.dispatcher.deliver(ids)
    done = {
        "paused": c._("⏸ Paused. No reminders until you restart it."),
        "active": c._("▶️ Restarted."),
        "cancelled": c._("✖️ Cancelled."),
    }[status]
    await say(c, done)
    await show_calls(c, new_message=True)
    return END


# --- booking: zone, days or date, time, children, length, confirm --------------------------------------


async def on_new(update: Update, context: ContextTypes.DEFAULT_TYPE) -> str | int | None:
    c = await load(update, context)
    if not await _parent_starts(c, DAYS, mode=_arg(c), days=[]):
        return None
    if not c.person.timezone_chosen:
        return await ask_zone(c)
    return await _first_step(c)


async def _first_step(c: Ctx) -> str:
    draft = await _draft(c)
    if draft.get("mode") == "once":
        return await ask_date(c)
    return await ask_days(c)


async def on_move(update: Update, context: ContextTypes.DEFAULT_TYPE) -> str | int | None:
    c = await load(update, context)
    schedule_id = int(_arg(c))
    mode = "propose" if c.query and c.query.data and c.query.data.startswith("cl:pr:") else "move"
    member = await _member(c)
    if member is None or (mode == "move") != (member.kind == "parent"):
        await expired(c)
        return None
    async with c.rt.db.transaction() as session:
        views = await calls.schedules(session, user_id=c.person.id, household_id=c.person.household_ids[0])
    if schedule_id not in {v.id for v in views if v.kind == "weekly"}:
        await expired(c)
        return None
    async with c.rt.db.transaction() as session:
        await drafts.clear(session, c.person.id, FLOW)
    await _remember(c, DAYS, mode=mode, schedule_id=schedule_id, days=[])
    return await ask_days(c)


async def on_zone_entry(update: Update, context: ContextTypes.DEFAULT_TYPE) -> str | int | None:
    c = await load(update, context)
    if not await _parent_starts(c, ZONE, mode="zone"):
        return None
    return await ask_zone(c)


async def ask_zone(c: Ctx) -> str:
    await _remember(c, ZONE)
    rows = [[(c._(label), f"cz:{zone}")] for zone, label in ZONES]
    await show(
        c,
        c._("Where are you working? Times are shown in your own time. Or type a time zone, like Europe/Madrid."),
        rows,
    )
    return ZONE


async def _zone_chosen(c: Ctx, zone: str) -> str | int:
    async with c.rt.db.transaction() as session:
        await people.set_timezone(session, c.person.id, zone)
    c = await _reloaded(c)
    draft = await _draft(c)
    if draft.get("mode") == "zone":
        async with c.rt.db.transaction() as session:
            await drafts.clear(session, c.person.id, FLOW)
        await say(c, c._("Saved. Your time now: {time}").format(time=c.tr.when(c.rt.clock())))
        await show_calls(c, new_message=True)
        return END
    return await _first_step(c)


async def _reloaded(c: Ctx) -> Ctx:
    async with c.rt.db.transaction() as session:
        person = await people.find(session, c.person.telegram_id, c.rt.settings.admin_telegram_ids)
    assert person is not None
    return c.with_person(person)


async def on_zone(update: Update, context: ContextTypes.DEFAULT_TYPE) -> str | int | None:
    c = await load(update, context)
    assert c.query is not None and c.query.data is not None
    zone = c.query.data.split(":", 1)[1]
    if zone not in {z for z, _label in ZONES}:
        await expired(c)
        return None
    return await _zone_chosen(c, zone)


async def on_zone_text(update: Update, context: ContextTypes.DEFAULT_TYPE) -> str | int:
    c = await load(update, context)
    text = (c.message.text or "").strip() if c.message else ""
    try:
        recurrence.load_zone(text)
    except ValueError:
        await say(c, c._("I do not know that time zone. Please tap one, or type a name like Europe/Madrid."))
        return await ask_zone(c)
    return await _zone_chosen(c, text)


async def ask_days(c: Ctx) -> str:
    draft = await _remember(c, DAYS)
    chosen = set(draft.get("days") or [])  # type: ignore[call-overload]
    names = calls.weekday_names
    rows = [[((("✅ " if day in chosen else "") + names(c.tr, (day,))), f"cd:{day}")] for day in recurrence.WEEKDAYS]
    rows.append([(c._("➡️ Next"), "cd:next")])
    await show(c, c._("Which days? Tap one or more, then Next."), rows, back=False)
    return DAYS


async def on_day(update: Update, context: ContextTypes.DEFAULT_TYPE) -> str | None:
    c = await load(update, context)
    arg = _arg(c)
    draft = await _draft(c)
    days = [d for d in (draft.get("days") or []) if d in recurrence.WEEKDAYS]  # type: ignore[union-attr]
    if arg == "next":
        if not days:
            await say(c, c._("Please tap at least one day."))
            return await ask_days(c)
        return await ask_time(c)
    if arg not in recurrence.WEEKDAYS:
        await expired(c)
        return None
    days = [d for d in days if d != arg] if arg in days else [*days, arg]
    await _remember(c, DAYS, days=days)
    return await ask_days(c)


async def ask_date(c: Ctx) -> str:
    await _remember(c, DATE)
    today = c.tr.today(c.rt.clock())
    rows = [
        [(c._("Today"), f"ce:{today.isoformat()}"), (c._("Tomorrow"), f"ce:{(today + timedelta(days=1)).isoformat()}")],
        [(c.tr.date_only(today + timedelta(days=2)), f"ce:{(today + timedelta(days=2)).isoformat()}")],
    ]
    await show(c, c._("Which day? Tap one, or type a date like 12-24."), rows)
    return DATE


async def on_date(update: Update, context: ContextTypes.DEFAULT_TYPE) -> str | None:
    c = await load(update, context)
    raw = c.query.data.split(":", 1)[1] if c.query and c.query.data else ""
    today = c.tr.today(c.rt.clock())
    try:
        chosen = check.day(raw, today, past=False)
    except Invalid:
        await expired(c)
        return None
    if not today <= chosen <= today + timedelta(days=2):  # the buttons offer today to the day after tomorrow
        await expired(c)
        return None
    await _remember(c, DATE, date=chosen.isoformat())
    return await ask_time(c)


async def on_date_text(update: Update, context: ContextTypes.DEFAULT_TYPE) -> str:
    c = await load(update, context)
    today = c.tr.today(c.rt.clock())
    try:
        chosen = check.day(c.message.text if c.message else None, today, past=False)
    except Invalid:
        await say(c, c._("I could not read that date. Please type it like 12-24."))
        return await ask_date(c)
    if chosen < today or chosen > today + timedelta(days=365):
        await say(c, c._("Please choose a day from today to a year from now."))
        return await ask_date(c)
    await _remember(c, DATE, date=chosen.isoformat())
    return await ask_time(c)


async def ask_time(c: Ctx) -> str:
    await _remember(c, TIME)
    buttons = [(t, f"ct:{t.replace(':', '')}") for t in TIMES]
    rows = [buttons[i : i + 4] for i in range(0, len(buttons), 4)]
    await show(c, c._("What time, in your time? Tap one, or type it like 20:15."), rows, back=True)
    return TIME


async def _time_chosen(c: Ctx, at: time) -> str | int:
    draft = await _remember(c, TIME, time=at.strftime("%H:%M"))
    if draft.get("mode") == "once":
        start = _once_start(c, draft)
        if start is None or start <= c.rt.clock():
            await say(c, c._("That time has already passed. Please choose a later one."))
            return await ask_time(c)
    if draft.get("mode") in ("move", "propose"):
        return await _save(c)
    return await ask_children(c)


def _once_start(c: Ctx, draft: dict[str, object]) -> datetime | None:
    if not draft.get("date") or not draft.get("time"):
        return None
    day = datetime.fromisoformat(f"{draft['date']}T{draft['time']}")
    return day.replace(tzinfo=ZoneInfo(c.tr.timezone))


async def on_time(update: Update, context: ContextTypes.DEFAULT_TYPE) -> str | int | None:
    c = await load(update, context)
    raw = _arg(c)
    if f"{raw[:2]}:{raw[2:]}" not in TIMES:
        await expired(c)
        return None
    return await _time_chosen(c, time(int(raw[:2]), int(raw[2:])))


async def on_time_text(update: Update, context: ContextTypes.DEFAULT_TYPE) -> str | int:
    c = await load(update, context)
    try:
        at = check.clock(c.message.text if c.message else None)
    except Invalid:
        await say(c, c._("I could not read that time. Please type it like 20:15."))
        return await ask_time(c)
    return await _time_chosen(c, at)


async def ask_children(c: Ctx) -> str | int:
    async with c.rt.db.transaction() as session:
        h = await households.view(session, user_id=c.person.id, household_id=c.person.household_ids[0])
    draft = await _draft(c)
    if "children" not in draft:
        draft = await _remember(c, CHILDREN, children=[child.id for child in h.children])
    if len(h.children) <= 1:
        return await ask_length(c)
    await _remember(c, CHILDREN)
    chosen = set(draft.get("children") or [])  # type: ignore[call-overload]
    rows = [[(("✅ " if ch.id in chosen else "") + ch.nickname, f"cc:{ch.id}")] for ch in h.children]
    rows.append([(c._("➡️ Next"), "cc:next")])
    await show(c, c._("With which children? Tap to change, then Next."), rows, back=True)
    return CHILDREN


async def on_child(update: Update, context: ContextTypes.DEFAULT_TYPE) -> str | int | None:
    c = await load(update, context)
    arg = _arg(c)
    draft = await _draft(c)
    chosen = [int(x) for x in (draft.get("children") or [])]  # type: ignore[union-attr]
    if arg == "next":
        if not chosen:
            await say(c, c._("Please choose at least one child."))
            return await ask_children(c)
        return await ask_length(c)
    if not arg.isdigit():
        await expired(c)
        return None
    child = int(arg)
    chosen = [x for x in chosen if x != child] if child in chosen else [*chosen, child]
    await _remember(c, CHILDREN, children=chosen)
    return await ask_children(c)


async def ask_length(c: Ctx) -> str:
    await _remember(c, LENGTH)
    rows = [[(c._("{n} minutes").format(n=n), f"cn:{n}") for n in calls.MINUTES]]
    await show(c, c._("About how long? A longer call gives time to really talk."), rows, back=True)
    return LENGTH


async def on_length(update: Update, context: ContextTypes.DEFAULT_TYPE) -> str | None:
    c = await load(update, context)
    arg = _arg(c)
    if not arg.isdigit() or int(arg) not in calls.MINUTES:
        await expired(c)
        return None
    await _remember(c, LENGTH, minutes=int(arg))
    return await ask_confirm(c)


async def ask_confirm(c: Ctx) -> str:
    draft = await _remember(c, CONFIRM)
    _ = c._
    at = time.fromisoformat(str(draft["time"]))
    days = tuple(d for d in recurrence.WEEKDAYS if d in (draft.get("days") or []))  # type: ignore[operator]
    if draft.get("mode") == "once":
        once = _once_start(c, draft)
        assert once is not None
        when = c.tr.when(once)
    else:
        when = _("every {days} at {time}").format(days=calls.weekday_names(c.tr, days), time=draft["time"])
    lines = [_("<b>Please check:</b>"), when, _("{n} minutes").format(n=draft["minutes"])]
    start = _once_start(c, draft)
    if start is None:
        rule = recurrence.Weekly(days, at, c.tr.timezone)
        start = recurrence.next_occurrence(rule, c.rt.clock())
    async with c.rt.db.transaction() as session:
        clash = await calls.quiet_clash(
            session,
            user_id=c.person.id,
            household_id=c.person.household_ids[0],
            start=start,
            minutes=int(str(draft["minutes"])),
        )
    if clash:
        who = labels.join(c.tr, [labels.relation(c.tr, r) if r else _("you") for r in clash])
        lines.append(
            _("⚠️ This is in the quiet hours of: {who}. The call reminders will still be sent.").format(who=who)
        )
    await show(c, "\n".join(lines), [[(_("✅ Book it"), "cf:yes")], [(_("✖️ Do not book"), "cf:no")]], back=True)
    return CONFIRM


async def on_confirm(update: Update, context: ContextTypes.DEFAULT_TYPE) -> str | int | None:
    c = await load(update, context)
    if _arg(c) == "no":
        async with c.rt.db.transaction() as session:
            await drafts.clear(session, c.person.id, FLOW)
        await say(c, c._("Nothing was booked."))
        await show_calls(c, new_message=True)
        return END
    if _arg(c) != "yes":
        await expired(c)
        return None
    return await _save(c)


async def _save(c: Ctx) -> str | int:
    draft = await _draft(c)
    mode = draft.get("mode")
    household_id = c.person.household_ids[0]
    now = c.rt.clock()
    days = tuple(d for d in recurrence.WEEKDAYS if d in (draft.get("days") or []))  # type: ignore[operator]
    at = time.fromisoformat(str(draft.get("time")))
    ids: list[int] = []
    first_booking = False
    try:
        async with c.rt.db.transaction() as session:
            if mode == "weekly":
                first_booking = not await contact.is_watched(
                    session, household_id=household_id, parent_user_id=c.person.id
                )
                _view, ids = await calls.book_weekly(
                    session,
                    user_id=c.person.id,
                    household_id=household_id,
                    weekdays=days,
                    at=at,
                    child_ids=[int(x) for x in draft.get("children") or []],  # type: ignore[union-attr]
                    minutes=int(str(draft.get("minutes"))),
                    now=now,
                )
            elif mode == "once":
                first_booking = not await contact.is_watched(
                    session, household_id=household_id, parent_user_id=c.person.id
                )
                start = _once_start(c, draft)
                assert start is not None
                _view, ids = await calls.book_once(
                    session,
                    user_id=c.person.id,
                    household_id=household_id,
                    when=start,
                    child_ids=[int(x) for x in draft.get("children") or []],  # type: ignore[union-attr]
                    minutes=int(str(draft.get("minutes"))),
                    now=now,
                )
            elif mode == "move":
                _view, ids = await calls.change_time(
                    session,
                    user_id=c.person.id,
                    schedule_id=int(str(draft.get("schedule_id"))),
                    weekdays=days,
                    at=at,
                    now=now,
                )
            else:
                ids = await calls.propose(
                    session,
                    user_id=c.person.id,
                    schedule_id=int(str(draft.get("schedule_id"))),
                    weekdays=days,
                    at=at,
                    now=now,
                )
            await drafts.clear(session, c.person.id, FLOW)
    except (NotAllowed, Invalid):
        async with c.rt.db.transaction() as session:
            await drafts.clear(session, c.person.id, FLOW)
        await expired(c)
        return END
    await c.rt.dispatcher.deliver(ids)
    _ = c._
    done = {
        "weekly": _("✅ Booked. You will get a reminder 30 minutes before, with ideas for the call."),
        "once": _("✅ Booked. You will get a reminder 30 minutes before, with ideas for the call."),
        "move": _("✅ Changed. The carers have been told."),
        "propose": _("✅ Sent to the parent. You will hear when they answer."),
    }[str(mode)]
    await say(c, done)
    if first_booking:
        return await ask_tell(c)
    await show_calls(c, new_message=True)
    return END


async def on_tell(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int | None:
    c = await load(update, context)
    answer = _arg(c)
    if answer not in ("yes", "no"):
        await expired(c)
        return None
    async with c.rt.db.transaction() as session:
        await contact.set_tell_guardian(
            session, household_id=c.person.household_ids[0], parent_user_id=c.person.id, allowed=answer == "yes"
        )
        await drafts.clear(session, c.person.id, FLOW)
    await say(c, c._("Saved."))
    await show_calls(c, new_message=True)
    return END


# --- home visits ---------------------------------------------------------------------------------------


async def on_visit(update: Update, context: ContextTypes.DEFAULT_TYPE) -> str | int | None:
    c = await load(update, context)
    if not await _parent_starts(c, VISIT_FROM, mode="visit"):
        return None
    await show(c, c._("🏠 From which day are you home? Type a date like 1-20."))
    return VISIT_FROM


async def on_visit_text(update: Update, context: ContextTypes.DEFAULT_TYPE) -> str | int:
    c = await load(update, context)
    draft = await _draft(c)
    today = c.tr.today(c.rt.clock())
    try:
        chosen = check.day(c.message.text if c.message else None, today, past=False)
    except Invalid:
        await say(c, c._("I could not read that date. Please type it like 12-24."))
        return VISIT_FROM if draft.get("state") == VISIT_FROM else VISIT_TO
    if draft.get("state") == VISIT_FROM:
        await _remember(c, VISIT_TO, starts=chosen.isoformat())
        await show(c, c._("Until which day? Type a date like 2-10."))
        return VISIT_TO
    try:
        async with c.rt.db.transaction() as session:
            await calls.add_home_visit(
                session,
                user_id=c.person.id,
                household_id=c.person.household_ids[0],
                starts_on=datetime.fromisoformat(str(draft["starts"])).date(),
                ends_on=chosen,
                today=today,
            )
            await drafts.clear(session, c.person.id, FLOW)
    except Invalid:
        await say(c, c._("That does not fit: the last day must be after the first, and at most 90 days later."))
        await show(c, c._("Until which day? Type a date like 2-10."))
        return VISIT_TO
    await say(c, c._("🏠 Saved. Safe travels! No call reminders while you are home."))
    await show_calls(c, new_message=True)
    return END


# --- answers outside the flow: did the call happen, proposals, are you well ----------------------------


async def on_outcome(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    c = await load(update, context)
    assert c.query is not None and c.query.data is not None
    _cl, outcome, raw = c.query.data.split(":")
    try:
        async with c.rt.db.transaction() as session:
            result = await calls.confirm(
                session, user_id=c.person.id, occurrence_id=int(raw), outcome=outcome, now=c.rt.clock()
            )
    except NotAllowed:
        await expired(c)
        return
    if result.first:
        rows = [[(c._("➕ One call"), "cl:new:once")]] if outcome == "moved" else []
        await show(c, c._(OUTCOME_TEXT[outcome]), rows)
        return
    who = labels.relation(c.tr, result.by_relation) if result.by_relation else c._("you")
    await show(
        c,
        c._("{who} already answered: {answer}.").format(who=esc(who), answer=c._(OUTCOME_SHORT[result.outcome])),
    )


async def on_ask(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """From the calls screen: the same three answers as the question after a call."""
    c = await load(update, context)
    raw = _arg(c)
    await show(c, c._("Did this call happen?"), calls.confirm_buttons(c.tr, int(raw)))


async def on_proposal(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    c = await load(update, context)
    assert c.query is not None and c.query.data is not None
    _cl, answer, raw = c.query.data.split(":")
    try:
        async with c.rt.db.transaction() as session:
            view, ids = await calls.answer_proposal(
                session, user_id=c.person.id, proposal_id=int(raw), accept=answer == "pa", now=c.rt.clock()
            )
    except NotAllowed:
        await expired(c)
        return
    await c.rt.dispatcher.deliver(ids)
    text = (
        c._("✅ Changed: {when}. The carers have been told.").format(when=calls.describe(c.tr, view))
        if answer == "pa"
        else c._("Kept as it was. The carer has been told.")
    )
    await show(c, text)


async def on_well(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    c = await load(update, context)
    async with c.rt.db.transaction() as session:
        await silence.answered(session, user_id=c.person.id)
    if c.query and c.query.data == silence.HELP:
        from handlers import find_help  # the menu imports both; imported here to keep the order simple

        await say(c, c._("We are here. You can report a worry, or find someone near you who can help."))
        await find_help.ask_need(c)
        return
    await show(c, c._("Thank you. Glad to hear it. 🌱"))


def handlers() -> list[BaseHandler[Update, ContextTypes.DEFAULT_TYPE, object]]:
    return [
        CommandHandler("calls", on_calls),
        CallbackQueryHandler(on_calls, pattern=r"^menu:calls$"),
        CallbackQueryHandler(on_schedule, pattern=r"^cl:s:\d{1,9}$"),
        CallbackQueryHandler(on_status, pattern=r"^cl:(pause|resume|cancel|cancel!):\d{1,9}$"),
        CallbackQueryHandler(on_outcome, pattern=r"^cl:(done|missed|moved):\d{1,9}$"),
        CallbackQueryHandler(on_ask, pattern=r"^cl:ask:\d{1,9}$"),
        CallbackQueryHandler(on_proposal, pattern=r"^cl:(pa|pd):\d{1,9}$"),
        CallbackQueryHandler(on_well, pattern=rf"^({silence.WELL}|{silence.HELP})$"),
        CallbackQueryHandler(on_quiet, pattern=r"^cl:quiet(:\d\d:\d\d-\d\d:\d\d)?$"),
    ]


async def on_back(update: Update, context: ContextTypes.DEFAULT_TYPE) -> str | int:
    c = await load(update, context)
    draft = await _draft(c)
    state = draft.get("state")
    once = draft.get("mode") == "once"
    async with c.rt.db.transaction() as session:
        h = await households.view(session, user_id=c.person.id, household_id=c.person.household_ids[0])
    # With one child there is no children step: Back from the length goes to the time.
    previous = {
        TIME: ask_date if once else ask_days,
        CHILDREN: ask_time,
        LENGTH: ask_children if len(h.children) > 1 else ask_time,
        CONFIRM: ask_length,
    }
    step = previous.get(str(state))
    if step is None:
        await show_calls(c)
        return END
    return await step(c)


async def ask_tell(c: Ctx) -> str:
    await _remember(c, TELL)
    _ = c._
    await show(
        c,
        _(
            "One more question. If there has been no call for two weeks, may we tell the carer, so they can help "
            "the children stay in touch?"
        ),
        [[(_("Yes, tell them"), "cg:yes")], [(_("No"), "cg:no")]],
        new_message=True,
    )
    return TELL


async def ask_visit(c: Ctx) -> str:
    state = str((await _draft(c)).get("state"))
    if state == VISIT_TO:
        await show(c, c._("Until which day? Type a date like 2-10."))
        return VISIT_TO
    await show(c, c._("🏠 From which day are you home? Type a date like 1-20."))
    return VISIT_FROM


STEPS = {
    ZONE: ask_zone,
    DAYS: ask_days,
    DATE: ask_date,
    TIME: ask_time,
    CHILDREN: ask_children,
    LENGTH: ask_length,
    CONFIRM: ask_confirm,
    TELL: ask_tell,
    VISIT_FROM: ask_visit,
    VISIT_TO: ask_visit,
}


async def on_wrong_kind(update: Update, context: ContextTypes.DEFAULT_TYPE) -> str | int:
    """A message where a button was expected: say so, and show the same step again."""
    c = await load(update, context)
    state = str((await _draft(c)).get("state"))
    if state not in STEPS:
        await say(c, c._("Please tap one of the buttons below."))
        return END
    typed = state in (VISIT_FROM, VISIT_TO, DATE, TIME, ZONE)
    await say(c, c._("Please type it as a text message.") if typed else c._("Please tap one of the buttons below."))
    return await STEPS[state](c)


async def _stale(c: Ctx) -> None:
    if await _member(c) is None:
        await expired(c)
        return
    await say(c, c._("That was a while ago, so let us start again."))
    await show_calls(c, new_message=True)


fresh = stale_guard(FLOW, _stale)


def build(
    leaving: list[BaseHandler[Update, ContextTypes.DEFAULT_TYPE, object]],
) -> ConversationHandler[ContextTypes.DEFAULT_TYPE]:
    text = filters.TEXT & ~filters.COMMAND
    other = MessageHandler(~filters.COMMAND, fresh(on_wrong_kind))

    def step(
        *handlers: BaseHandler[Update, ContextTypes.DEFAULT_TYPE, object],
    ) -> list[BaseHandler[Update, ContextTypes.DEFAULT_TYPE, object]]:
        return [*handlers, other]

    return ConversationHandler(
        entry_points=[
            CallbackQueryHandler(on_new, pattern=r"^cl:new:(weekly|once)$"),
            CallbackQueryHandler(on_move, pattern=r"^cl:(mv|pr):\d{1,9}$"),
            CallbackQueryHandler(on_zone_entry, pattern=r"^cl:zone$"),
            CallbackQueryHandler(on_visit, pattern=r"^cl:visit$"),
        ],
        states={
            ZONE: step(
                CallbackQueryHandler(fresh(on_zone), pattern=r"^cz:"), MessageHandler(text, fresh(on_zone_text))
            ),
            DAYS: step(CallbackQueryHandler(fresh(on_day), pattern=r"^cd:")),
            DATE: step(
                CallbackQueryHandler(fresh(on_date), pattern=r"^ce:"), MessageHandler(text, fresh(on_date_text))
            ),
            TIME: step(
                CallbackQueryHandler(fresh(on_time), pattern=r"^ct:\d{4}$"), MessageHandler(text, fresh(on_time_text))
            ),
            CHILDREN: step(CallbackQueryHandler(fresh(on_child), pattern=r"^cc:")),
            LENGTH: step(CallbackQueryHandler(fresh(on_length), pattern=r"^cn:")),
            CONFIRM: step(CallbackQueryHandler(fresh(on_confirm), pattern=r"^cf:")),
            TELL: step(CallbackQueryHandler(fresh(on_tell), pattern=r"^cg:")),
            VISIT_FROM: step(MessageHandler(text, fresh(on_visit_text))),
            VISIT_TO: step(MessageHandler(text, fresh(on_visit_text))),
        },
        fallbacks=[CallbackQueryHandler(fresh(on_back), pattern=rf"^{BACK}$"), *leaving],
        name=FLOW,
        persistent=True,
        allow_reentry=True,
    )
