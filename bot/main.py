"""Start-up: migrate and seed the database, then poll Telegram, or open the console without a token."""

from __future__ import annotations

import asyncio
import logging
import sys

from telegram import Update

from bot.config import Settings
from db.migrate import upgrade
from db.session import Database

log = logging.getLogger(__name__)


async def prepare_database(settings: Settings, *, seed: bool = True) -> Database:
    """Open the database, apply migrations, and load the shipped areas into an empty table."""
    from bot.services.areas import ensure_default_areas
    from bot.services.contacts import ensure_default_contacts

    db = Database(settings.database_url, schema=settings.database_schema)
    await upgrade(db)
    if seed:
        async with db.transaction() as session:
            await ensure_default_areas(session)
            await ensure_default_contacts(session)
    return db


def run(settings: Settings, *, webhook: bool = False) -> int:
    if webhook:
        return run_webhook(settings)
    if not settings.telegram_bot_token:
        from bot.console import run_console

        if not settings.is_sqlite:
            # Never open the console (and its made-up people) on what is probably a production database.
            print(
                "guardian-bot: TELEGRAM_BOT_TOKEN is not set. The offline console runs on the embedded SQLite "
                "database only; set the token, or unset DATABASE_URL to try the console.",
                file=sys.stderr,
            )
            return 2

        print(
            "No TELEGRAM_BOT_TOKEN is set, so the bot starts in the offline console.\n"
            "To connect a real bot: create one with @BotFather, then run\n"
            "    TELEGRAM_BOT_TOKEN=123456:ABC... make run\n"
        )
        return run_console(settings, demo=True)
    return run_polling(settings)


def run_polling(settings: Settings) -> int:
    from bot.app import build_application, start_background_jobs
    from handlers import set_commands

    async def migrate() -> None:
        await (await prepare_database(settings)).dispose()

    # Migrate on a throwaway loop; the application's engine must be created on the loop that polls.
    asyncio.run(migrate())
    db = Database(settings.database_url, schema=settings.database_schema)
    app = build_application(settings, db)

    async def post_init(application) -> None:  # type: ignore[no-untyped-def]
        await set_commands(application.bot)
        start_background_jobs(application)
        log.info("bot @%s is polling", application.bot.username)

    async def post_shutdown(_application) -> None:  # type: ignore[no-untyped-def]
        await db.dispose()

    app.post_init = post_init
    app.post_shutdown = post_shutdown
    app.run_polling(allowed_updates=Update.ALL_TYPES)
    return 0


def run_webhook(settings: Settings) -> int:
    """Serve Telegram's webhook posts (one process per bot token); needs the token and WEBHOOK_SECRET."""
    from bot.app import build_application, start_background_jobs
    from bot.webhook import serve
    from handlers import set_commands

    if not settings.telegram_bot_token or not settings.webhook_secret:
        print("guardian-bot: webhook mode needs TELEGRAM_BOT_TOKEN and WEBHOOK_SECRET", file=sys.stderr)
        return 2

    async def go() -> None:
        await (await prepare_database(settings)).dispose()
        db = Database(settings.database_url, schema=settings.database_schema)
        app = build_application(settings, db)

        async def started(application) -> None:  # type: ignore[no-untyped-def]
            await set_commands(application.bot)
            start_background_jobs(application)

        try:
            await serve(
                app,
                db,
                secret=settings.webhook_secret or "",
                public_url=settings.webhook_url,
                host=settings.webhook_listen,
                port=settings.webhook_port,
                on_started=started,
            )
        finally:
            await db.dispose()

    asyncio.run(go())
    return 0
