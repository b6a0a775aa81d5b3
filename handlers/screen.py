"""Every message typed anywhere is screened for danger phrases (content/safeguarding/phrases.toml).

A hit shows what to do now and a button to report it, with the category filled in. The bot never files a
report by itself and never promises secrecy; the message then goes on to whatever step it answers.
"""

from __future__ import annotations

from telegram import Update
from telegram.ext import ContextTypes, MessageHandler, filters

from bot.i18n import N_
from bot.services import drafts, screening, triage
from handlers.common import load, show
from handlers.report import NUMBER_LINES

NOTE = N_(
    "If someone is in danger, please do not wait. Nothing has been sent to anyone yet: tap the button to report "
    "it to the child director."
)


async def on_text(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    message = update.effective_message
    text = (message.text or message.caption or "") if message else ""
    hit = screening.screen(text) if text else None
    if hit is None:
        return
    c = await load(update, context)
    async with c.rt.db.transaction() as session:
        reporting = (await drafts.get(session, c.person.id, "report")).get("state")
    if reporting:
        return  # already telling us, in the report itself
    policy = triage.policy()
    guidance = triage.guidance(policy, hit.category, True)
    _ = c._
    lines = [_("🚨 <b>This sounds serious. If the child is in danger now, call:</b>")]
    lines += [_(NUMBER_LINES[n]) for n in guidance.numbers]
    if any(triage.guidance(policy, k, True).keep_evidence for k in hit.categories):
        lines.append(_("Do not wash the child or their clothes, and keep what they wore: it helps the police."))
    lines.append(_(NOTE))
    if context.chat_data is not None:
        context.chat_data[FLAG] = update.update_id
    await show(
        c,
        "\n".join(lines),
        [[(_("🚨 Report this now"), f"report:{hit.category}")]],
        menu=False,
        new_message=True,
    )


FLAG = "screened_update"


def answered(update: Update, context: ContextTypes.DEFAULT_TYPE) -> bool:
    """Did the screen already answer this update (so a generic reply would bury its report button)?"""
    return context.chat_data is not None and context.chat_data.get(FLAG) == update.update_id


def handler() -> MessageHandler:  # type: ignore[type-arg]
    return MessageHandler(filters.ChatType.PRIVATE & (filters.TEXT | filters.CAPTION) & ~filters.COMMAND, on_text)
