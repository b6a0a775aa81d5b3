"""Shared by bench/scheduling.py, fanout.py and escalation.py: fresh migrated databases (a SQLite file or a
PostgreSQL schema), memory readings, a fake Bot API that enforces Telegram's flood limits, the results table,
and merging figures into `bench/results/latest.json` (through `bench.common.merge_results`).

No pytest here: the benchmarks run as plain programs (`.venv/bin/python -m bench.<name>`).
"""

from __future__ import annotations

import argparse
import itertools
import math
import os
import resource
import tempfile
import time
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import text

from bot.config import normalise_database_url
from bot.fake.telegram import _PRODUCING, Call, FakeTelegram, Response
from db.migrate import upgrade
from db.session import Database

ROOT = Path(__file__).resolve().parent
DEFAULT_PG_URL = "postgresql://postgres@127.0.0.1:5432/test"
_schemas = itertools.count(1)


# --- command line ------------------------------------------------------------------------------------------


def arguments(description: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true", help="smaller sizes, for development")
    parser.add_argument(
        "--backends",
        default="sqlite,postgresql",
        help="comma-separated: sqlite, postgresql (default both; PostgreSQL is skipped if unreachable)",
    )
    parser.add_argument(
        "--pg-url",
        default=os.environ.get("BENCH_DATABASE_URL") or os.environ.get("TEST_DATABASE_URL") or DEFAULT_PG_URL,
        help="PostgreSQL server for the postgresql backend (each run gets its own schema, dropped afterwards)",
    )
    parser.add_argument("--no-save", action="store_true", help="do not merge the figures into latest.json")
    return parser


async def available_backends(requested: str, pg_url: str) -> list[str]:
    out: list[str] = []
    for name in [b.strip() for b in requested.split(",") if b.strip()]:
        if name == "sqlite":
            out.append(name)
        elif name == "postgresql":
            db = Database(normalise_database_url(pg_url))
            try:
                async with db.engine.connect() as conn:
                    await conn.execute(text("SELECT 1"))
                out.append(name)
            except Exception as exc:  # a benchmark without a server just skips it
                print(f"PostgreSQL at {pg_url} is not reachable ({type(exc).__name__}); skipped")
            finally:
                await db.dispose()
        else:
            raise SystemExit(f"unknown backend {name!r}")
    return out


# --- databases ---------------------------------------------------------------------------------------------


@dataclass
class Place:
    """Where a benchmark database lives, so a subprocess can open the same one."""

    backend: str
    url: str
    schema: str | None = None
    tmpdir: tempfile.TemporaryDirectory[str] | None = None

    def open(self) -> Database:
        return Database(self.url, schema=self.schema)

    def argv(self) -> list[str]:
        return [self.url, self.schema or "-"]

    @staticmethod
    def from_argv(url: str, schema: str) -> Place:
        return Place("postgresql" if url.startswith("postgresql") else "sqlite", url, None if schema == "-" else schema)


async def fresh_place(backend: str, pg_url: str, tag: str) -> Place:
    """A new, migrated database: a SQLite file in a temporary directory, or a new PostgreSQL schema."""
    if backend == "sqlite":
        tmp = tempfile.TemporaryDirectory(prefix=f"bench-{tag}-")
        place = Place(backend, f"sqlite+inline:///{Path(tmp.name) / 'bench.db'}", tmpdir=tmp)
    else:
        schema = f"bench_{tag}_{os.getpid()}_{next(_schemas)}"
        place = Place(backend, normalise_database_url(pg_url), schema)
        db = place.open()
        async with db.engine.begin() as conn:
            await conn.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
            await conn.execute(text(f"CREATE SCHEMA {schema}"))
        await db.dispose()
    db = place.open()
    await upgrade(db)
    await db.dispose()
    return place


async def drop_place(place: Place) -> None:
    if place.schema:
        db = place.open()
        async with db.engine.begin() as conn:
            await conn.execute(text(f"DROP SCHEMA IF EXISTS {place.schema} CASCADE"))
        await db.dispose()
    if place.tmpdir is not None:
        place.tmpdir.cleanup()


async def seed_places(db: Database) -> None:
    """The shipped areas and directory, as start-up loads them into an empty database."""
    from bot.services.areas import ensure_default_areas
    from bot.services.contacts import ensure_default_contacts

    async with db.transaction() as session:
        await ensure_default_areas(session)
        await ensure_default_contacts(session)


async def reset_sequences(db: Database, tables: Iterable[str]) -> None:
    """PostgreSQL: rows inserted with explicit ids do not move the id sequences; move them past the rows."""
    if db.dialect != "postgresql":
        return
    async with db.engine.begin() as conn:
        for table in tables:
            await conn.execute(
                text(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                    f"COALESCE((SELECT MAX(id) FROM {table}), 0) + 1, false)"
                )
            )


def ensure_catalogs() -> None:
    """Compile the translation catalogs if they are missing or stale (as `make bench` and the tests do)."""
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    from bot.paths import LOCALES_DIR

    for po_path in LOCALES_DIR.glob("*/LC_MESSAGES/messages.po"):
        mo_path = po_path.with_suffix(".mo")
        if mo_path.exists() and mo_path.stat().st_mtime >= po_path.stat().st_mtime:
            continue
        with po_path.open("rb") as f:
            catalog = read_po(f)
        with mo_path.open("wb") as f:
            write_mo(f, catalog)


# --- memory ------------------------------------------------------------------------------------------------


def _status_kb(key: str) -> float | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return float(line.split()[1])
    except OSError:
        return None
    return None


def rss_mb() -> float:
    """Resident set size now (VmRSS), in MB."""
    kb = _status_kb("VmRSS")
    if kb is None:  # not Linux: the peak is the best we have
        return peak_rss_mb()
    return kb / 1024


def peak_rss_mb() -> float:
    kb = _status_kb("VmHWM")
    if kb is None:
        kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # kB on Linux
    return kb / 1024


# --- statistics --------------------------------------------------------------------------------------------


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile (the same rule as bench/retrieval.py)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


# --- a Bot API with Telegram's flood limits ------------------------------------------------------------------


@dataclass
class LimitedTelegram(FakeTelegram):
    """The fake Bot API, answering 429 like Telegram when a bot sends too fast.

    Sliding windows over accepted messages: at most `overall_per_second` in any `window` seconds across all
    chats, and at most `per_chat_per_second` in any `window` seconds to one chat. A refused call is answered
    429 with `retry_after` (whole seconds, as Telegram gives it) and does not count towards the limits.
    Only message-producing methods count (sendMessage, edits, sendPhoto, ...), as with Telegram.
    """

    overall_per_second: int = 30
    per_chat_per_second: int = 1
    window: float = 1.0
    accepted_at: deque[float] = field(default_factory=deque)
    accepted_log: list[float] = field(default_factory=list)  # every acceptance (time.monotonic())
    chat_accepted: dict[int, deque[float]] = field(default_factory=dict)
    refused: int = 0
    enforcing: bool = True  # off while a benchmark sets things up

    def handle(self, method: str, params: dict[str, Any], files: dict[str, bytes] | None = None) -> Response:
        if not self.enforcing or method not in _PRODUCING or params.get("chat_id") is None:
            return super().handle(method, params, files)
        now = time.monotonic()
        while self.accepted_at and self.accepted_at[0] <= now - self.window:
            self.accepted_at.popleft()
        chat = int(params["chat_id"])
        per_chat = self.chat_accepted.setdefault(chat, deque())
        while per_chat and per_chat[0] <= now - self.window:
            per_chat.popleft()
        wait = 0.0
        if len(self.accepted_at) >= self.overall_per_second:
            wait = max(wait, self.accepted_at[0] + self.window - now)
        if len(per_chat) >= self.per_chat_per_second:
            wait = max(wait, per_chat[0] + self.window - now)
        if wait > 0:
            self.refused += 1
            call = Call(method, params, 429)
            self.calls.append(call)
            for listener in self.listeners:
                listener(call)
            retry_after = max(1, math.ceil(wait))
            return 429, {
                "ok": False,
                "error_code": 429,
                "description": f"Too Many Requests: retry after {retry_after}",
                "parameters": {"retry_after": retry_after},
            }
        status, body = super().handle(method, params, files)
        if status == 200:
            self.accepted_at.append(now)
            self.accepted_log.append(now)
            per_chat.append(now)
        return status, body


# --- reporting ---------------------------------------------------------------------------------------------


@dataclass
class Row:
    figure: str
    values: dict[str, Any]  # column -> value
    reference: Any = ""
    target: str = ""
    ok: bool | None = None  # None: no target on this row


def fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        if abs(value) >= 100:
            return f"{value:,.0f}"
        if abs(value) >= 10:
            return f"{value:.1f}"
        return f"{value:.3g}" if abs(value) < 1 else f"{value:.2f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def print_table(title: str, columns: list[str], rows: list[Row]) -> None:
    header = ["figure", *columns, "reference", "target", "ok"]
    body = [
        [
            r.figure,
            *[fmt(r.values.get(c)) for c in columns],
            fmt(r.reference) if r.reference != "" else "",
            r.target,
            "" if r.ok is None else ("PASS" if r.ok else "MISS"),
        ]
        for r in rows
    ]
    widths = [max(len(str(line[i])) for line in [header, *body]) for i in range(len(header))]
    print()
    print(title)
    print("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
    print("  ".join("-" * w for w in widths))
    for line in body:
        print("  ".join(str(cell).ljust(w) for cell, w in zip(line, widths, strict=True)))
    print()


def save(key: str, figures: dict[str, Any]) -> None:
    """Merge this benchmark's figures into bench/results/latest.json under `key`."""
    from bench.common import merge_results

    merge_results(key, figures)
