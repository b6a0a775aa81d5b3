"""Telegram in and out: one module per journey. Parse, authorise, call a service, render."""

from __future__ import annotations

from telegram import Bot, BotCommand, Update
from telegram.constants import ChatType
from telegram.ext import (
    Application,
    ApplicationHandlerStop,
    CallbackQueryHandler,
    ContextTypes,
    MessageHandler,
    TypeHandler,
    filters,
)

from bot.i18n import N_, translations
from handlers import ask, calls, cases, family, menu, report, screen
from handlers.common import expired, load, runtime
from handlers.router import ButtonRouter

COMMANDS = [
    ("start", N_("Start or set up again")),
    ("report", N_("Report a worry about a child")),
    ("menu", N_("All choices")),
    ("help", N_("Find help near you")),
    ("language", N_("中文 / English")),
    ("privacy", N_("What we keep about you")),
    ("deletemydata", N_("Delete your information")),
    ("tips", N_("Tips for looking after children")),
    ("ask", N_("Ask a question")),
    ("calls", N_("Video calls with the children")),
    ("cases", N_("Caseworkers: open concerns in your area")),
    ("stats", N_("Figures for supervisors and county officers")),
]


async def on_unknown_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    c = await load(update, context)
    await menu.say_then_menu(c, c._("I do not know that command."))


async def on_stray_message(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Messages outside any flow: the question after /ask, or else a pointer to the menu, never silence."""
    await ask.on_message(update, context, screened=screen.answered(update, context))


async def on_stale_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    await expired(await load(update, context))


async def gate(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Before any handler: each update once, private chats only, no edits as answers, no floods.

    In a group, /privacy would show a family's data to everyone and the person's chat would be taken for
    the group's; an edited message would be read as a fresh answer to whatever step the person is on. A
    person sending dozens of messages a second is slowed down, told once, without touching the database.
    """
    rt = runtime(context)
    if not rt.gatekeeper.first_time(update.update_id):
        raise ApplicationHandlerStop
    chat = update.effective_chat
    if update.edited_message is not None or update.edited_channel_post is not None:
        raise ApplicationHandlerStop
    if chat is None or chat.type != ChatType.PRIVATE:
        if update.callback_query is not None:
            await update.callback_query.answer()
        raise ApplicationHandlerStop
    user = update.effective_user
    if user is not None:
        admitted, notice = rt.gatekeeper.admit(user.id)
        if not admitted:
            if notice:
                c = await load(update, context)
                await context.bot.send_message(
                    chat.id, c._("You are sending messages very fast. Please wait a moment, then try again.")
                )
            elif update.callback_query is not None:
                await update.callback_query.answer()
            raise ApplicationHandlerStop


async def save_conversations(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """After every update: write conversation states now, not at the next persistence interval.

    The answers of a flow are committed as each step is taken (the draft table); writing the state right
    away keeps the two together, so a crash cannot leave a person's step behind their answers.
    """
    await context.application.update_persistence()


def register(app: Application) -> None:  # type: ignore[type-arg]
    only_private = filters.ChatType.PRIVATE
    app.add_handler(TypeHandler(Update, gate), group=-2)
    # Its own group, so the message still reaches the step it answers afterwards.
    app.add_handler(screen.handler(), group=-1)
    app.add_handler(TypeHandler(Update, save_conversations), group=1)
    # The report flow first: /report must work in the middle of any other flow, and while it runs its
    # steps take the person's answers (the family flow waits, suspended, and offers to resume).
    app.add_handler(report.build(menu.leaving_handlers()))
    app.add_handler(cases.build(menu.leaving_handlers()))
    app.add_handler(calls.build(menu.leaving_handlers()))
    app.add_handler(family.build())
    # Buttons go through one router (handlers/router.py) instead of some fifty patterns tried in turn; commands
    # and messages stay in their places (none of them takes a button press).
    buttons: list[CallbackQueryHandler[ContextTypes.DEFAULT_TYPE, object]] = []
    for handler in menu.global_handlers():
        if isinstance(handler, CallbackQueryHandler):
            buttons.append(handler)
        else:
            app.add_handler(handler)
    app.add_handler(ButtonRouter([*buttons, CallbackQueryHandler(on_stale_button)]))
    app.add_handler(MessageHandler(only_private & filters.COMMAND, on_unknown_command))
    app.add_handler(MessageHandler(only_private & ~filters.COMMAND & ~filters.StatusUpdate.ALL, on_stray_message))


async def set_commands(bot: Bot) -> None:
    """The command menu in each language (Chinese is the default for every other language code)."""
    for language_code, locale in ((None, "zh_Hans"), ("zh", "zh_Hans"), ("en", "en")):
        t = translations(locale)
        commands = [BotCommand(name, t.gettext(description)) for name, description in COMMANDS]
        if language_code is None:
            await bot.set_my_commands(commands)
        else:
            await bot.set_my_commands(commands, language_code=language_code)
