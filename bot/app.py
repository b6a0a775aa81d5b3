"""The application factory: production, the offline console and the tests build the bot the same way."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from zoneinfo import ZoneInfo

from telegram.constants import ParseMode
from telegram.ext import Application, ContextTypes, Defaults
from telegram.request import BaseRequest

import handlers
from bot.config import Settings
from bot.dispatcher import Dispatcher
from bot.i18n import Tr
from bot.persistence import SqlConversationPersistence
from bot.ratelimit import RateLimiter
from bot.runtime import Runtime
from bot.services import calls, charts, concerns, contact, digest, notify, questions, silence, stats, tip_views, tips
from bot.services.housekeeping import purge
from bot.throttle import Gatekeeper
from bot.updates import InOrderPerChat
from db.session import Database

log = logging.getLogger(__name__)


def build_application(
    settings: Settings,
    db: Database,
    *,
    token: str | None = None,
    request: BaseRequest | None = None,
    max_retries: int = 3,
) -> Application:  # type: ignore[type-arg]
    token = token or settings.telegram_bot_token
    if not token:
        raise ValueError("a bot token is needed to build the application")
    builder = (
        Application.builder()
        .token(token)
        .base_url(settings.telegram_base_url)
        .base_file_url(_file_url(settings.telegram_base_url))
        .defaults(Defaults(parse_mode=ParseMode.HTML))
        .persistence(SqlConversationPersistence(db, update_interval=settings.persistence_seconds))
        .rate_limiter(RateLimiter(max_retries=max_retries))
        .concurrent_updates(InOrderPerChat())
    )
    if request is not None:
        builder = builder.request(request).get_updates_request(request)
    app = builder.build()

    async def failover(user_id: int) -> None:
        # A caseworker blocked the bot: concerns waiting only on them move up at once.
        async with db.transaction() as session:
            ids = await concerns.person_unreachable(
                session, user_id, admin_ids=settings.admin_telegram_ids, now=app.bot_data[Runtime.KEY].clock()
            )
        await dispatcher.deliver(ids)

    dispatcher = Dispatcher(db, app.bot, on_unreachable=failover, lease_seconds=settings.outbox_lease_seconds)
    app.bot_data[Runtime.KEY] = Runtime(
        settings=settings,
        db=db,
        dispatcher=dispatcher,
        gatekeeper=Gatekeeper(burst=settings.flood_burst, rate=settings.flood_rate),
    )
    handlers.register(app)
    app.add_error_handler(_log_error)

    async def post_stop(application: Application) -> None:  # type: ignore[type-arg]
        await write_waiting(application.bot_data[Runtime.KEY])

    app.post_stop = post_stop
    return app


HOUSEKEEPING_SECONDS = 600
DIGEST_SECONDS = 300  # the Monday digest goes out within five minutes of 09:00


def start_background_jobs(app: Application) -> None:  # type: ignore[type-arg]
    """The outbox tick and the periodic jobs; they need a running JobQueue (after `app.start()` or polling)."""
    rt: Runtime = app.bot_data[Runtime.KEY]
    assert app.job_queue is not None
    rt.dispatcher.schedule(app.job_queue, rt.settings.tick_seconds)
    app.job_queue.run_once(warm_retrieval, when=1, name="warm-retrieval")
    tick = rt.settings.tick_seconds
    for job, name, every, grace in (
        (concerns_tick, "concern-ladder", tick, 60),
        (calls_tick, "calls", tick, 60),
        (tips_tick, "tips", tick, 60),
        (flush_memory, "write-waiting", tip_views.FLUSH_SECONDS, 60),
        (digest_tick, "digest", DIGEST_SECONDS, 300),
        (housekeeping, "housekeeping", HOUSEKEEPING_SECONDS, 300),
    ):
        # One run at a time, a late run not repeated; the default 1 s grace would silently skip ticks.
        app.job_queue.run_repeating(
            job,
            interval=every,
            first=every,
            name=name,
            job_kwargs={"max_instances": 1, "coalesce": True, "misfire_grace_time": grace},
        )


async def concerns_tick(context: ContextTypes.DEFAULT_TYPE) -> None:
    """Concerns whose acknowledgement deadline passed climb one rung, concerns whose holder is gone open again,
    and holders of taken-up concerns due a follow-up are reminded; the messages go out at once."""
    rt: Runtime = context.application.bot_data[Runtime.KEY]
    async with rt.db.transaction() as session:
        ids = await concerns.escalate_due(session, admin_ids=rt.settings.admin_telegram_ids, now=rt.clock())
        ids += await concerns.reconcile_unreachable(session, admin_ids=rt.settings.admin_telegram_ids, now=rt.clock())
        ids += await concerns.follow_up_due(session, now=rt.clock())
    await rt.dispatcher.deliver(ids)


async def calls_tick(context: ContextTypes.DEFAULT_TYPE) -> None:
    """Call reminders and questions, the contact watch (nudges, weekly summaries) and the carer-silence watch."""
    rt: Runtime = context.application.bot_data[Runtime.KEY]
    await rt.identities.flush_seen(rt.db)  # the silence watch reads signs of life
    async with rt.db.transaction() as session:
        ids = await calls.tick(session, now=rt.clock())
        ids += await contact.tick(session, now=rt.clock())
        ids += await silence.tick(session, now=rt.clock())
    await rt.dispatcher.deliver(ids)


async def warm_retrieval(context: ContextTypes.DEFAULT_TYPE) -> None:
    """Build the question indexes in a worker thread soon after start, so the first /ask does not wait."""
    from bot.services import retrieval

    loop = asyncio.get_running_loop()
    for locale in ("zh_Hans", "en"):
        await loop.run_in_executor(None, retrieval.index, locale)


async def write_waiting(rt: Runtime) -> None:
    """What handlers batch in memory reaches the database: browsed tips, signs of life."""
    await rt.tip_views.flush()
    await rt.identities.flush_seen(rt.db)


async def flush_memory(context: ContextTypes.DEFAULT_TYPE) -> None:
    await write_waiting(context.application.bot_data[Runtime.KEY])


async def tips_tick(context: ContextTypes.DEFAULT_TYPE) -> None:
    """Tips by message that are due, and questions unanswered for 48 hours moving to the township."""
    rt: Runtime = context.application.bot_data[Runtime.KEY]
    await rt.tip_views.flush()  # so a tip just browsed is not sent by message too
    async with rt.db.transaction() as session:
        ids = await tips.tick(session, now=rt.clock())
        ids += await questions.escalate_due(session, now=rt.clock())
    await rt.dispatcher.deliver(ids)


async def digest_tick(context: ContextTypes.DEFAULT_TYPE) -> None:
    """Monday from 09:00 (county time): last week's figures and charts to each county officer, once."""
    rt: Runtime = context.application.bot_data[Runtime.KEY]
    await send_digests(rt)


async def send_digests(rt: Runtime) -> list[int]:
    zone = rt.settings.default_timezone
    monday = digest.monday_due(rt.clock(), zone)
    async with rt.db.transaction() as session:
        officers = await digest.waiting(session, monday)
    ids: list[int] = []
    for area_id in sorted({o.area_id for o in officers}):
        week, before = digest.last_week(monday, zone), digest.last_week(monday - timedelta(days=7), zone)
        async with rt.db.transaction() as session:
            scope = await stats.scope_of(session, area_id)
            now_ = await stats.figures(session, scope, week, now=rt.clock())
            then = await stats.figures(session, scope, before, now=before.end)
        group = [o for o in officers if o.area_id == area_id]
        for locale in sorted({o.locale for o in group}):
            tr = Tr(locale, zone)
            drawn = await asyncio.to_thread(charts.all_charts, tr, now_)  # a second of drawing, off the loop
            text = "\n\n".join(
                [tr.gettext("🗓 <b>Last week</b>"), charts.summary(tr, now_), "\n".join(digest.changes(tr, now_, then))]
            )
            async with rt.db.transaction() as session:
                for officer in (o for o in group if o.locale == locale):
                    ids += await digest.queue(
                        session, officer, monday, text=text, album=[(c.png, c.title) for c in drawn]
                    )
    await rt.dispatcher.deliver(ids)
    return ids


async def housekeeping(context: ContextTypes.DEFAULT_TYPE) -> None:
    rt: Runtime = context.application.bot_data[Runtime.KEY]
    async with rt.db.transaction() as session:
        now = rt.clock()
        purged = await purge(session, now, retention_days=rt.settings.retention_days)
        today = now.astimezone(ZoneInfo(rt.settings.default_timezone)).date()
        reviews = await notify.contacts_review(session, admin_telegram_ids=rt.settings.admin_telegram_ids, today=today)
        reviews += await notify.unfinished_reports(session, now=now)
    log.info(
        "housekeeping: %d stale drafts, %d old code attempts removed; %d resolved concerns purged of free text",
        purged.drafts,
        purged.code_attempts,
        purged.concerns,
    )
    await rt.dispatcher.deliver(reviews)


def _file_url(base_url: str) -> str:
    # https://api.telegram.org/bot -> https://api.telegram.org/file/bot (the same for a self-hosted server).
    head, _, tail = base_url.rpartition("/")
    return f"{head}/file/{tail}"


async def _log_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    # Only the kind of error and the update id: never message text or names.
    update_id = getattr(update, "update_id", None)
    log.error("handler failed on update %s: %s", update_id, type(context.error).__name__, exc_info=context.error)
