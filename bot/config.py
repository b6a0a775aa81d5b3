"""Settings from the environment (and an optional `.env`), validated once at start-up.

A wrong value raises `ConfigError` naming the variable; the CLI turns it into one line and exit status 2.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dotenv import dotenv_values

from bot.paths import ROOT, VAR_DIR

SUPPORTED_LOCALES = ("zh_Hans", "en")
DEFAULT_BASE_URL = "https://api.telegram.org/bot"


class ConfigError(Exception):
    """A setting is missing or wrong; the message names it."""


@dataclass(frozen=True)
class Settings:
    telegram_bot_token: str | None = None
    telegram_base_url: str = DEFAULT_BASE_URL
    database_url: str = field(default_factory=lambda: default_database_url())
    # PostgreSQL: the schema this bot's tables live in (one schema per bot on a shared database); None: public.
    database_schema: str | None = None
    default_locale: str = "zh_Hans"
    default_timezone: str = "Asia/Shanghai"
    admin_telegram_ids: frozenset[int] = frozenset()
    log_level: str = "INFO"
    # How often the dispatcher tick runs and how often conversation states are flushed (seconds).
    tick_seconds: float = 5.0
    persistence_seconds: float = 1.0
    # Days after a concern is resolved before its free text and voice/photo references are purged (the
    # anonymised timeline stays). PIPL Art. 19: no longer than needed.
    retention_days: int = 365
    # Per person: messages at once, then messages a second (bot/throttle.py). Tests raise the burst.
    flood_burst: int = 12
    flood_rate: float = 1.0
    # How long a process may hold outbox rows it claimed; after a crash, other processes (or the restarted
    # one) send them once it has run out.
    outbox_lease_seconds: float = 60.0
    # Webhook mode (`guardian-bot run --webhook`): the secret Telegram sends back with every update, the
    # public https URL Telegram posts to (ports 443, 80, 88 or 8443), and where our server listens.
    webhook_secret: str | None = None
    webhook_url: str | None = None
    webhook_listen: str = "127.0.0.1"
    webhook_port: int = 8080

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


def default_database_url() -> str:
    return f"sqlite+inline:///{VAR_DIR / 'guardian.db'}"


def _env(environ: dict[str, str], name: str) -> str | None:
    value = environ.get(name)
    if value is None:
        return None
    value = value.strip()
    return value or None


def load_settings(environ: dict[str, str] | None = None, env_file: Path | None = None) -> Settings:
    """Read settings; the process environment wins over `.env`."""
    if environ is None:
        merged: dict[str, str] = {}
        path = env_file or ROOT / ".env"
        if path.exists():
            merged.update({k: v for k, v in dotenv_values(path).items() if v is not None})
        merged.update(os.environ)
        environ = merged

    token = _env(environ, "TELEGRAM_BOT_TOKEN")
    if token is not None and (":" not in token or not token.split(":", 1)[0].isdigit()):
        raise ConfigError("TELEGRAM_BOT_TOKEN is not a bot token (expected '123456:ABC...' from @BotFather)")

    base_url = _env(environ, "TELEGRAM_BASE_URL") or DEFAULT_BASE_URL
    if not base_url.startswith(("http://", "https://")):
        raise ConfigError("TELEGRAM_BASE_URL must start with http:// or https://")

    database_url = _env(environ, "DATABASE_URL") or default_database_url()
    database_url = normalise_database_url(database_url)

    locale = _env(environ, "DEFAULT_LOCALE") or "zh_Hans"
    if locale not in SUPPORTED_LOCALES:
        raise ConfigError(f"DEFAULT_LOCALE must be one of {', '.join(SUPPORTED_LOCALES)}, not {locale!r}")

    tz = _env(environ, "DEFAULT_TIMEZONE") or "Asia/Shanghai"
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"DEFAULT_TIMEZONE is not a known IANA time zone: {tz!r}") from None

    admins: set[int] = set()
    for part in (_env(environ, "ADMIN_TELEGRAM_IDS") or "").replace(";", ",").split(","):
        part = part.strip()
        if not part:
            continue
        if not part.lstrip("-").isdigit():
            raise ConfigError(f"ADMIN_TELEGRAM_IDS must be numeric Telegram ids separated by commas, not {part!r}")
        admins.add(int(part))

    level = (_env(environ, "LOG_LEVEL") or "INFO").upper()
    if level not in logging.getLevelNamesMapping():
        raise ConfigError(f"LOG_LEVEL must be DEBUG, INFO, WARNING or ERROR, not {level!r}")

    schema = _env(environ, "DATABASE_SCHEMA")
    if schema is not None and not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", schema):
        raise ConfigError(f"DATABASE_SCHEMA must be a lower-case name of letters, digits and _, not {schema!r}")

    raw_tick = _env(environ, "TICK_SECONDS") or "5"
    try:
        tick = float(raw_tick)
    except ValueError:
        tick = -1.0
    if not 0.1 <= tick <= 60:
        raise ConfigError(f"TICK_SECONDS must be a number of seconds from 0.1 to 60, not {raw_tick!r}")

    raw_lease = _env(environ, "OUTBOX_LEASE_SECONDS") or "60"
    try:
        lease = float(raw_lease)
    except ValueError:
        lease = -1.0
    if not 2 <= lease <= 600:
        raise ConfigError(f"OUTBOX_LEASE_SECONDS must be a number of seconds from 2 to 600, not {raw_lease!r}")

    secret = _env(environ, "WEBHOOK_SECRET")
    if secret is not None and not re.fullmatch(r"[A-Za-z0-9_-]{16,256}", secret):
        raise ConfigError("WEBHOOK_SECRET must be 16 to 256 characters of A-Z, a-z, 0-9, _ and -")
    webhook_url = _env(environ, "WEBHOOK_URL")
    if webhook_url is not None and not webhook_url.startswith("https://"):
        raise ConfigError("WEBHOOK_URL must start with https:// (Telegram posts only to https)")
    raw_port = _env(environ, "WEBHOOK_PORT") or "8080"
    if not raw_port.isdigit() or not 1 <= int(raw_port) <= 65535:
        raise ConfigError(f"WEBHOOK_PORT must be a port number, not {raw_port!r}")

    raw_days = _env(environ, "RETENTION_DAYS") or "365"
    if not raw_days.isdigit() or not 30 <= int(raw_days) <= 3650:
        raise ConfigError(f"RETENTION_DAYS must be a whole number of days from 30 to 3650, not {raw_days!r}")

    return Settings(
        telegram_bot_token=token,
        telegram_base_url=base_url.rstrip("/"),
        database_url=database_url,
        default_locale=locale,
        default_timezone=tz,
        admin_telegram_ids=frozenset(admins),
        log_level=level,
        retention_days=int(raw_days),
        tick_seconds=tick,
        outbox_lease_seconds=lease,
        database_schema=schema,
        webhook_secret=secret,
        webhook_url=webhook_url,
        webhook_listen=_env(environ, "WEBHOOK_LISTEN") or "127.0.0.1",
        webhook_port=int(raw_port),
    )


def normalise_database_url(url: str) -> str:
    """Accept the usual spellings and pick the async driver the project ships.

    SQLite runs on the loop's thread (`sqlite+inline`, db/sqlite_inline.py); `sqlite+aiosqlite://` given in
    full keeps aiosqlite's worker thread (for a database on a slow or network disk, where a commit may block)."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        return "postgresql+asyncpg://" + url[len("postgresql://") :]
    if url.startswith("sqlite:///"):
        return "sqlite+inline:///" + url[len("sqlite:///") :]
    if url.startswith(("postgresql+asyncpg://", "sqlite+inline://", "sqlite+aiosqlite://")):
        return url
    raise ConfigError("DATABASE_URL must be a sqlite:/// or postgresql:// URL")
