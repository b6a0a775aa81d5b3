"""Questions: typed or spoken. Typed ones are answered from the library first (the best three, each with
"this helped" / "ask a person"); voice notes and "ask a person" go to the village child director.

Not a ConversationHandler: /ask ends whatever flow the person was in (like the menu does) and marks the draft;
the next message, text or voice, is the question. So a question can never be taken as the answer to another
flow's step, and another flow's step never as a question.
"""

from __future__ import annotations

from telegram import Update
from telegram.ext import BaseHandler, CallbackQueryHandler, CommandHandler, ContextTypes, ConversationHandler

from bot.services import areas, drafts, library, questions, retrieval
from bot.services import household as households
from bot.services.errors import Invalid, NotAllowed
from handlers.common import Ctx, esc, expired, load, say, show, small_int

FLOW = "ask"
END = ConversationHandler.END
TYPING = "ask.typing"


async def on_ask(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
    c = await load(update, context)
    from handlers.menu import end_flows  # the menu imports this module

    await end_flows(c)
    async with c.rt.db.transaction() as session:
        await drafts.update(session, c.person.id, FLOW, state=TYPING)
    await show(c, c._("❓ Type your question in your own words, or send a voice message."))
    return END


async def waiting(c: Ctx) -> bool:
    """Is this person's next message a question? (/ask was the last thing they chose, within a day.)"""
    async with c.rt.db.transaction() as session:
        draft = await drafts.get(session, c.person.id, FLOW)
        age = await drafts.age(session, c.person.id, FLOW)
    return draft.get("state") == TYPING and age is not None and age <= drafts.TTL


async def on_text(c: Ctx) -> None:
    text = " ".join((c.message.text or "").split()) if c.message else ""
    if len(text) > questions.TEXT_MAX:
        await say(c, c._("That is too long. Please use at most {n} characters.").format(n=questions.TEXT_MAX))
        return
    if retrieval.too_vague(text):
        await say(c, c._("Please tell me a little more: what is happening, and how old is the child?"))
        return
    hits = retrieval.search(text)
    async with c.rt.db.transaction() as session:
        # Kept only until they choose: "ask a person" needs the words; "this helped" drops them.
        await drafts.update(session, c.person.id, FLOW, state="answered", text=text)
    _ = c._
    lib = library.library()
    if not hits:
        await show(
            c,
            _("I found nothing about that in the advice I have. Shall I pass your question to the child director?"),
            [[(_("🙋 Ask a person"), "ak:person")]],
        )
        return
    for hit in hits:
        if hit.kind == "faq":
            faq = lib.faq(hit.id)
            assert faq is not None
            body = f"<b>{esc(faq.question(c.tr.locale))}</b>\n{esc(faq.answer(c.tr.locale))}"
        else:
            tip = lib.tip(hit.id)
            assert tip is not None
            body = f"💡 {esc(tip.text(c.tr.locale))}"
        await show(
            c,
            body,
            [[(_("✅ This helped"), "ak:ok"), (_("🙋 Ask a person"), "ak:person")]],
            menu=False,
            new_message=True,
        )


async def _village(c: Ctx) -> int | None:
    if not c.person.has_household:
        return None
    async with c.rt.db.transaction() as session:
        h = await households.view(session, user_id=c.person.id, household_id=c.person.household_ids[0])
    return h.village_id


async def on_helped(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    c = await load(update, context)
    village_id = await _village(c)
    async with c.rt.db.transaction() as session:
        if (await drafts.get(session, c.person.id, FLOW)).get("text"):
            await questions.library_helped(session, user_id=c.person.id, village_id=village_id, now=c.rt.clock())
        await drafts.clear(session, c.person.id, FLOW)
    await say(c, c._("Glad it helped. You can ask again any time with /ask."))


async def on_person(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    c = await load(update, context)
    async with c.rt.db.transaction() as session:
        draft = await drafts.get(session, c.person.id, FLOW)
        age = await drafts.age(session, c.person.id, FLOW)
    if not draft.get("text") or age is None or age > drafts.TTL:
        await expired(c)
        return
    village_id = await _village(c) or (draft.get("village_id") if isinstance(draft.get("village_id"), int) else None)
    if village_id is None:
        await _ask_township(c)
        return
    await _send(c, village_id, text=str(draft["text"]), voice=None, after_library=True)


async def _ask_township(c: Ctx) -> None:
    async with c.rt.db.transaction() as session:
        towns = await areas.townships(session)
    buttons = [(t.name(c.tr.locale), f"ak:t:{t.id}") for t in towns]
    await show(
        c, c._("Where do you live? Which town or township?"), [buttons[i : i + 2] for i in range(0, len(buttons), 2)]
    )


async def on_township(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    c = await load(update, context)
    township_id = small_int(c.query.data.rsplit(":", 1)[-1]) if c.query and c.query.data else None
    async with c.rt.db.transaction() as session:
        area = await areas.get_area(session, township_id or 0)
        villages = await areas.villages(session, area.id) if area and area.level == "township" else []
    if not villages:
        await expired(c)
        return
    await show(c, c._("Which village?"), [[(v.name(c.tr.locale), f"ak:v:{v.id}")] for v in villages])


async def on_village(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    c = await load(update, context)
    village_id = small_int(c.query.data.rsplit(":", 1)[-1]) if c.query and c.query.data else None
    async with c.rt.db.transaction() as session:
        draft = await drafts.get(session, c.person.id, FLOW)
        area = await areas.get_area(session, village_id or 0)
    if area is None or area.level != "village" or not (draft.get("text") or draft.get("voice")):
        await expired(c)
        return
    voice = draft.get("voice")
    await _send(
        c,
        area.id,
        text=str(draft["text"]) if draft.get("text") else None,
        voice=str(voice) if voice else None,
        after_library=bool(draft.get("text")),
    )


async def on_voice(c: Ctx) -> None:
    """A voice question goes to a person: the library cannot listen."""
    assert c.message is not None and c.message.voice is not None
    village_id = await _village(c)
    if village_id is None:
        async with c.rt.db.transaction() as session:
            await drafts.update(session, c.person.id, FLOW, state="answered", voice=c.message.voice.file_id)
        await _ask_township(c)
        return
    await _send(c, village_id, text=None, voice=c.message.voice.file_id, after_library=False)


async def _send(c: Ctx, village_id: int, *, text: str | None, voice: str | None, after_library: bool) -> None:
    try:
        async with c.rt.db.transaction() as session:
            _qid, ids = await questions.ask(
                session,
                user_id=c.person.id,
                village_id=village_id,
                text=text,
                voice_file_id=voice,
                now=c.rt.clock(),
                after_library=after_library,
            )
            await drafts.clear(session, c.person.id, FLOW)
    except (NotAllowed, Invalid):
        await expired(c)
        return
    await c.rt.dispatcher.deliver(ids)
    await show(
        c,
        c._(
            "✅ Your question has gone to the village child director. The answer will come here, usually within "
            "two days. If a child is in danger, do not wait: call 110 or 120."
        ),
    )


async def on_message(update: Update, context: ContextTypes.DEFAULT_TYPE, *, screened: bool = False) -> None:
    """After /ask: the question, typed or spoken (after the danger screen, if it spoke). Anything else gets a
    pointer to the menu, unless the danger screen already answered it (its report button stays last)."""
    c = await load(update, context)
    if not await waiting(c):
        if screened:
            return
        from handlers.menu import say_then_menu

        await say_then_menu(c, c._("Please choose from the menu below."))
        return
    message = c.message
    assert message is not None
    if message.voice is not None:
        await on_voice(c)
    elif message.text:
        await on_text(c)
    else:
        await say(c, c._("Please type your question, or send a voice message."))


def handlers() -> list[BaseHandler[Update, ContextTypes.DEFAULT_TYPE, object]]:
    return [
        CommandHandler("ask", on_ask),
        CallbackQueryHandler(on_ask, pattern=r"^menu:ask$"),
        CallbackQueryHandler(on_helped, pattern=r"^ak:ok$"),
        CallbackQueryHandler(on_person, pattern=r"^ak:person$"),
        CallbackQueryHandler(on_township, pattern=r"^ak:t:\d{1,9}$"),
        CallbackQueryHandler(on_village, pattern=r"^ak:v:\d{1,9}$"),
    ]
