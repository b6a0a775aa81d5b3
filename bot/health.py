"""`guardian-bot check`: is this installation ready to serve? Exit 0 only when every check passes."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from bot.config import Settings


async def run_checks(settings: Settings) -> int:
    checks: list[tuple[str, Callable[[], Awaitable[list[str]]]]] = [
        ("configuration", lambda: _config(settings)),
        ("database reachable and migrated", lambda: _database(settings)),
        ("content files valid", _content),
        ("catalogs complete", _catalogs),
    ]
    failed: set[str] = set()
    for name, check in checks:
        try:
            problems = await check()
        except Exception as exc:  # a check that cannot even run is a failed check, not a crash
            problems = [f"{type(exc).__name__}: {exc}"]
        if problems:
            failed.add(name)
            print(f"FAIL {name}")
            for line in problems[:20]:
                print(f"     {line}")
            if len(problems) > 20:
                print(f"     ... and {len(problems) - 20} more")
        else:
            print(f"ok   {name}")
    if "database reachable and migrated" not in failed:
        await _stale_contacts(settings)
    return 1 if failed else 0


async def _config(settings: Settings) -> list[str]:
    # load_settings already validated every value; say which mode the bot will start in.
    mode = "Telegram polling" if settings.telegram_bot_token else "offline console (no TELEGRAM_BOT_TOKEN)"
    print(f"     mode: {mode}; database: {settings.database_url.split('://', 1)[0]}")
    return []


async def _database(settings: Settings) -> list[str]:
    from db.migrate import pending_revisions
    from db.session import Database

    db = Database(settings.database_url, schema=settings.database_schema)
    try:
        current, heads = await pending_revisions(db)
    finally:
        await db.dispose()
    if current != heads:
        return [
            f"database is at {sorted(current) or 'no revision'}, code expects {sorted(heads)}; "
            "run 'guardian-bot db upgrade'"
        ]
    return []


async def _content() -> list[str]:
    from bot.services.areas import DEFAULT_AREAS_CSV, AreaImportError, parse_areas_csv
    from bot.services.contacts import DEFAULT_CONTACTS_CSV, ContactImportError, parse_contacts_csv

    problems: list[str] = []
    try:
        parse_areas_csv(DEFAULT_AREAS_CSV)
    except AreaImportError as exc:
        problems += exc.errors
    try:
        parse_contacts_csv(DEFAULT_CONTACTS_CSV)
    except ContactImportError as exc:
        problems += exc.errors
    from bot.services import call_policy, library, prompts, screening, triage

    loaders = (
        triage.load_policy,
        screening.load_phrases,
        call_policy.load_policy,
        prompts.load_prompts,
        library.load_library,
    )
    for load in loaders:
        try:
            load()
        except ValueError as exc:  # each loader's error lists every problem in its file
            problems.append(str(exc))
    return problems


async def _stale_contacts(settings: Settings) -> list[str]:
    """Reported, not failed: an old verification date is work for an administrator, not a broken bot."""
    from zoneinfo import ZoneInfo

    from bot.services.contacts import sample_count, stale_contacts
    from db.session import Database
    from db.types import utcnow

    db = Database(settings.database_url, schema=settings.database_schema)
    try:
        async with db.transaction() as session:
            stale = await stale_contacts(session, today=utcnow().astimezone(ZoneInfo(settings.default_timezone)).date())
            samples = await sample_count(session)
    finally:
        await db.dispose()
    if stale:
        print(f"warn {len(stale)} contact(s) last verified more than 180 days ago:")
        for contact in stale[:20]:
            print(f"     {contact.key}: {contact.name_en} ({contact.phone}), verified {contact.verified_on}")
    else:
        print("ok   contacts verified within 180 days")
    if samples:
        print(f"warn {samples} sample contact(s) with made-up numbers are still shown to families;")
        print("     import the verified county list: guardian-bot admin contacts import FILE.csv --replace")
    return []


async def _catalogs() -> list[str]:
    from bot.catalogs import catalog_problems

    return catalog_problems()
