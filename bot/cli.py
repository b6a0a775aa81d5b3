"""`guardian-bot`: run the bot, the offline console, migrations, health checks and administration."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence
from datetime import date
from pathlib import Path

from bot.config import ConfigError, Settings, load_settings


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        settings = load_settings()
    except ConfigError as exc:
        print(f"guardian-bot: {exc}", file=sys.stderr)
        return 2
    _logging(settings)
    try:
        return int(args.func(settings, args) or 0)
    except ConfigError as exc:
        print(f"guardian-bot: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


# Libraries whose DEBUG output carries message text, SQL parameters (names, nicknames) or URLs with the
# bot token: they never log below WARNING, whatever LOG_LEVEL says. Only our own code follows LOG_LEVEL.
QUIET_LIBRARIES = ("httpx", "httpcore", "telegram", "aiosqlite", "asyncpg", "sqlalchemy", "apscheduler", "alembic")


def _logging(settings: Settings) -> None:
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for name in ("bot", "handlers", "db"):
        logging.getLogger(name).setLevel(settings.log_level)
    for name in QUIET_LIBRARIES:
        logging.getLogger(name).setLevel(logging.WARNING)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="guardian-bot", description=__doc__)
    sub = p.add_subparsers(dest="command")

    run = sub.add_parser("run", help="migrate, then poll Telegram (or open the offline console without a token)")
    run.add_argument(
        "--webhook", action="store_true", help="serve Telegram's webhook posts instead of polling (WEBHOOK_* settings)"
    )
    run.set_defaults(func=_run)

    console = sub.add_parser("console", help="the bot in this terminal, on a fake Telegram")
    console.add_argument("--demo", action="store_true", help="load a sample county with caseworkers first")
    console.set_defaults(func=_console)

    db = sub.add_parser("db", help="database").add_subparsers(dest="db_command")
    db.add_parser("upgrade", help="apply migrations").set_defaults(func=_db_upgrade)

    check = sub.add_parser("check", help="health: config, database migrated, content valid, catalogs complete")
    check.set_defaults(func=_check)

    content = sub.add_parser("content", help="the tips and frequent questions").add_subparsers(dest="content_command")
    content.add_parser("check", help="validate content/tips/ (fails on any problem)").set_defaults(func=_content_check)
    stats = content.add_parser("stats", help="counts by topic, age band, audience and language")
    stats.add_argument("--json", action="store_true", help="print JSON")
    stats.set_defaults(func=_content_stats)

    demo = sub.add_parser("demo", help="sample data").add_subparsers(dest="demo_command")
    demo.add_parser("seed", help="load a sample county with caseworkers").set_defaults(func=_demo_seed)

    admin = sub.add_parser("admin", help="administration").add_subparsers(dest="admin_command")
    invite = admin.add_parser("invite", help="a single-use caseworker invite (valid 72 hours)")
    invite.add_argument(
        "--post", required=True, choices=["child-director", "township-supervisor", "county-officer", "admin"]
    )
    invite.add_argument("--area", required=True, help="area code, e.g. 451321-02-S1 for a village")
    invite.add_argument("--phone", help="a work phone shown to families in the directory (optional)")
    invite.set_defaults(func=_admin_invite)

    areas = admin.add_parser("areas", help="county, townships and villages").add_subparsers(dest="areas_command")
    imp = areas.add_parser("import", help="load areas from CSV (all or nothing)")
    imp.add_argument("file", type=Path)
    imp.set_defaults(func=_areas_import)
    exp = areas.add_parser("export", help="write areas as CSV")
    exp.add_argument("file", type=Path, nargs="?", help="default: standard output")
    exp.set_defaults(func=_areas_export)
    contacts = admin.add_parser("contacts", help="the directory of help").add_subparsers(dest="contacts_command")
    cimp = contacts.add_parser("import", help="load contacts from CSV (all or nothing)")
    cimp.add_argument("file", type=Path)
    cimp.add_argument("--replace", action="store_true", help="also remove contacts that are not in the file")
    cimp.set_defaults(func=_contacts_import)
    cexp = contacts.add_parser("export", help="write contacts as CSV")
    cexp.add_argument("file", type=Path, nargs="?", help="default: standard output")
    cexp.set_defaults(func=_contacts_export)
    report = admin.add_parser(
        "report", help="the civil-affairs bureau's figures by township: aggregated, de-identified, small counts <5"
    )
    day = "YYYY-MM-DD"
    report.add_argument("--from", dest="first", required=True, type=_day, metavar=day, help="first local day")
    report.add_argument("--to", dest="last", required=True, type=_day, metavar=day, help="last local day (included)")
    report.add_argument("--format", required=True, choices=["csv", "xlsx"])
    report.add_argument(
        "--out", type=Path, metavar="FILE", help="default: report-<from>-<to>.<format> in the current directory"
    )
    report.add_argument("--county", metavar="CODE", help="county area code, e.g. 451321 (default: the first county)")
    report.set_defaults(func=_admin_report)
    return p


def _day(value: str) -> date:
    """A YYYY-MM-DD date for argparse (a wrong one is a usage error: exit status 2)."""
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {value!r}") from None


def _run(settings: Settings, args: argparse.Namespace) -> int:
    from bot.main import run

    return run(settings, webhook=args.webhook)


def _console(settings: Settings, args: argparse.Namespace) -> int:
    from bot.console import run_console

    if not settings.is_sqlite:
        print("guardian-bot: the offline console runs on the embedded SQLite database only", file=sys.stderr)
        return 2
    return run_console(settings, demo=args.demo)


def _db_upgrade(settings: Settings, _args: argparse.Namespace) -> int:
    from bot.main import prepare_database

    async def go() -> None:
        db = await prepare_database(settings)
        await db.dispose()

    asyncio.run(go())
    print("database is at the latest revision")
    return 0


def _check(settings: Settings, _args: argparse.Namespace) -> int:
    from bot.health import run_checks

    return asyncio.run(run_checks(settings))


def _content_check(_settings: Settings, _args: argparse.Namespace) -> int:
    from bot.services import call_policy, library, prompts

    problems: list[str] = []
    for load in (library.load_library, call_policy.load_policy, prompts.load_prompts):
        try:
            load()
        except ValueError as exc:  # each loader lists every problem in its files
            problems.append(str(exc))
    if problems:
        print("\n".join(problems), file=sys.stderr)
        return 1
    lib = library.load_library()
    print(f"content is valid: {len(lib.tips)} tips, {len(lib.faqs)} frequent questions, both languages")
    return 0


def _content_stats(_settings: Settings, args: argparse.Namespace) -> int:
    import json

    from bot.services import library

    try:
        figures = library.stats(library.load_library())
    except library.LibraryError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(figures, ensure_ascii=False, indent=2))
        return 0
    for key, value in figures.items():
        print(f"{key}: {value}")
    return 0


def _demo_seed(settings: Settings, _args: argparse.Namespace) -> int:
    from bot.demo import DemoRefused, seed_demo
    from bot.main import prepare_database

    async def go() -> int:
        db = await prepare_database(settings)
        try:
            for line in await seed_demo(db):
                print(line)
        except DemoRefused as exc:
            print(f"guardian-bot: {exc}", file=sys.stderr)
            return 1
        finally:
            await db.dispose()
        return 0

    return asyncio.run(go())


def _admin_invite(settings: Settings, args: argparse.Namespace) -> int:
    from bot.main import prepare_database
    from bot.services import caseworker, codes
    from bot.services.errors import Invalid

    async def go() -> int:
        db = await prepare_database(settings)
        try:
            async with db.transaction() as session:
                issued = await caseworker.issue_invite(session, post=args.post, area_code=args.area, phone=args.phone)
        except Invalid as exc:
            print(f"guardian-bot: cannot issue invite: {exc.reason} {exc.details}", file=sys.stderr)
            return 2
        finally:
            await db.dispose()
        username = await _bot_username(settings)
        print(f"code:    {codes.pretty(issued.code)}")
        print(f"post:    {issued.post} for area {issued.area_code}")
        print(f"expires: {issued.expires_at:%Y-%m-%d %H:%M} UTC (single use)")
        print(f"link:    https://t.me/{username or '<bot username>'}?start={issued.code}")
        if username is None:
            print("         (set TELEGRAM_BOT_TOKEN to print the bot's own link; the code works typed in too)")
        return 0

    return asyncio.run(go())


async def _bot_username(settings: Settings) -> str | None:
    """The bot's @username for deep links, asked of Telegram when a token is configured."""
    if not settings.telegram_bot_token:
        return None
    from telegram import Bot
    from telegram.error import TelegramError

    try:
        async with Bot(settings.telegram_bot_token, base_url=settings.telegram_base_url) as bot:
            return bot.username
    except TelegramError:
        return None


def _areas_import(settings: Settings, args: argparse.Namespace) -> int:
    from bot.main import prepare_database
    from bot.services.areas import AreaImportError, import_areas_file

    async def go() -> int:
        db = await prepare_database(settings, seed=False)
        try:
            summary = await import_areas_file(db, args.file)
        except AreaImportError as exc:
            for line in exc.errors:
                print(line, file=sys.stderr)
            print("nothing was imported", file=sys.stderr)
            return 1
        finally:
            await db.dispose()
        print(f"imported: {summary.created} created, {summary.updated} updated, {summary.unchanged} unchanged")
        return 0

    return asyncio.run(go())


def _areas_export(settings: Settings, args: argparse.Namespace) -> int:
    from bot.main import prepare_database
    from bot.services.areas import export_areas_csv

    async def go() -> int:
        db = await prepare_database(settings)
        try:
            async with db.transaction() as session:
                if args.file is None:
                    return 0 if await export_areas_csv(session, sys.stdout) >= 0 else 1
                with args.file.open("w", encoding="utf-8", newline="") as out:
                    count = await export_areas_csv(session, out)
        finally:
            await db.dispose()
        print(f"exported {count} areas to {args.file}", file=sys.stderr)
        return 0

    return asyncio.run(go())


def _contacts_import(settings: Settings, args: argparse.Namespace) -> int:
    from bot.main import prepare_database
    from bot.services.contacts import ContactImportError, import_contacts_file

    async def go() -> int:
        db = await prepare_database(settings)
        try:
            summary = await import_contacts_file(db, args.file, replace=args.replace)
        except ContactImportError as exc:
            for line in exc.errors:
                print(line, file=sys.stderr)
            print("nothing was imported", file=sys.stderr)
            return 1
        finally:
            await db.dispose()
        print(
            f"imported: {summary.created} created, {summary.updated} updated, {summary.unchanged} unchanged, "
            f"{summary.removed} removed"
        )
        return 0

    return asyncio.run(go())


def _contacts_export(settings: Settings, args: argparse.Namespace) -> int:
    from bot.main import prepare_database
    from bot.services.contacts import export_contacts_csv

    async def go() -> int:
        db = await prepare_database(settings)
        try:
            async with db.transaction() as session:
                if args.file is None:
                    await export_contacts_csv(session, sys.stdout)
                    return 0
                with args.file.open("w", encoding="utf-8", newline="") as out:
                    count = await export_contacts_csv(session, out)
        finally:
            await db.dispose()
        print(f"exported {count} contacts to {args.file}", file=sys.stderr)
        return 0

    return asyncio.run(go())


def _admin_report(settings: Settings, args: argparse.Namespace) -> int:
    from bot.main import prepare_database
    from bot.services import report
    from db.types import utcnow

    if args.last < args.first:
        print(f"guardian-bot: --to {args.last} is before --from {args.first}", file=sys.stderr)
        return 2
    out: Path = args.out or Path(report.default_name(args.first, args.last, args.format))

    async def go() -> int:
        db = await prepare_database(settings)
        try:
            async with db.transaction() as session:
                built = await report.build(
                    session,
                    first=args.first,
                    last=args.last,
                    zone=settings.default_timezone,
                    now=utcnow(),
                    county_code=args.county,
                )
        except report.ReportError as exc:
            print(f"guardian-bot: cannot make the report: {exc}", file=sys.stderr)
            return 2
        finally:
            await db.dispose()
        try:
            report.write(built, out, args.format)
        except OSError as exc:
            print(f"guardian-bot: cannot write {out}: {exc.strerror or exc}", file=sys.stderr)
            return 1
        print(out)
        return 0

    return asyncio.run(go())


if __name__ == "__main__":
    raise SystemExit(main())
