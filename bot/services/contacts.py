"""The help directory: hotlines and local services, loaded from a CSV and read by `bot.services.directory`.

The CSV (see `COLUMNS`) is the one format for the shipped seed, for imports by an operator and for exports;
importing an export changes nothing. `area` is `CN` (national), `GX` (Guangxi-wide) or an area code from the
areas table, which must be imported first. No Telegram imports here.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, replace
from datetime import date, timedelta
from pathlib import Path
from typing import Any, TextIO

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.paths import CONTENT_DIR
from bot.services import hours
from db.models import Area, Contact
from db.session import Database

COLUMNS = (
    "key",
    "name_zh",
    "name_en",
    "kind",
    "categories",
    "area",
    "phone",
    "hours",
    "address_zh",
    "address_en",
    "helps_zh",
    "helps_en",
    "source",
    "verified_on",
    "sample",
)
# The needs a person can ask about, in menu order.
CATEGORIES = (
    "emergency",
    "protection",
    "health",
    "mental_health",
    "school",
    "legal",
    "women_family",
    "assistance",
    "volunteers",
)
KINDS = (
    "police",
    "ambulance",
    "fire",
    "hotline",
    "child_director",
    "township_station",
    "civil_affairs",
    "school",
    "clinic",
    "hospital",
    "women_federation",
    "youth_league",
    "social_work",
    "legal_aid",
    "volunteers",
)
SCOPES = ("CN", "GX")
AREA_SCOPE = "area"  # `Contact.scope` of a contact tied to one county, township or village
DEFAULT_CONTACTS_CSV = CONTENT_DIR / "contacts" / "xincheng.csv"

CATEGORY_SEP = "|"
OPTIONAL = frozenset({"address_zh", "address_en"})
_KEY_RE = re.compile(r"[a-z0-9-]+")
# Chinese numbers as dialled: a service number (110, 12345, 95xxx), a landline with its area code
# (0 + 2-3 digit code + 7-8 digits), a mobile (1[3-9] + 9 digits), or a 400/800 business line.
_PHONE_RE = re.compile(r"\d{3,5}|0\d{10,11}|1[3-9]\d{9}|[48]00\d{7}")
# Made-up sample numbers: 0772 then a local number starting with 0, which cannot ring anyone.
SAMPLE_PHONE_PREFIX = "07720"
_PHONE_JUNK = re.compile(r"[\s-]+")  # as people type numbers: "0772 123-4567"
_DATE_RE = re.compile(r"\d{4}-\d{2}-\d{2}")
_SAMPLE_VALUES = {"0": False, "false": False, "1": True, "true": True}


def _column_length(name: str) -> int:
    """A String column's length in `db.models.Contact`, so the checks follow the schema."""
    length = getattr(Contact.__table__.c[name].type, "length", None)
    assert isinstance(length, int)
    return length


# Free-text columns checked against the schema; key, kind, phone and dates have stricter rules of their own.
_TEXT_MAX = {
    name: _column_length(name)
    for name in ("name_zh", "name_en", "hours", "address_zh", "address_en", "helps_zh", "helps_en", "source")
}
_KEY_MAX = _column_length("key")
_CHUNK = 500  # codes per IN (...) query, well under driver parameter limits


class ContactImportError(Exception):
    """Every problem found in a file, each as `FILE:LINE: reason`."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("\n".join(errors))
        self.errors = errors


@dataclass(frozen=True)
class ContactRow:
    """One parsed, validated CSV line; `file`/`line` locate it for error messages (`source` is a column)."""

    key: str
    name_zh: str
    name_en: str
    kind: str
    categories: tuple[str, ...]
    area: str  # CN, GX or an area code
    phone: str  # digits only
    hours: str
    address_zh: str
    address_en: str
    helps_zh: str
    helps_en: str
    source: str
    verified_on: date
    is_sample: bool
    file: str
    line: int

    def where(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass(frozen=True)
class ImportSummary:
    created: int
    updated: int
    unchanged: int = 0
    removed: int = 0


# --- parsing ---------------------------------------------------------------------------------------


def parse_contacts_csv(path: Path) -> list[ContactRow]:
    """Read and check a CSV; raise `ContactImportError` listing every bad line (area codes are checked
    against the database by `import_contacts`)."""
    rows, problems = _read_csv(path)
    if problems:
        raise ContactImportError(_messages(path, problems))
    return rows


def _read_csv(path: Path) -> tuple[list[ContactRow], list[tuple[int, str]]]:
    """The rows read and every (line, reason) found; a row with a problem is still returned."""
    src = str(path)
    problems: list[tuple[int, str]] = []
    rows: list[ContactRow] = []
    first_line: dict[str, int] = {}
    with path.open(encoding="utf-8-sig", newline="") as f:  # utf-8-sig drops a leading BOM
        reader = csv.reader(f)
        header = next(reader, None)
        if header is None or [h.strip() for h in header] != list(COLUMNS):
            got = ",".join(header or [])
            return [], [(1, f"header must be {','.join(COLUMNS)}, got {got!r}")]
        while True:
            line = reader.line_num + 1  # where the next record starts
            try:
                record = next(reader)
            except StopIteration:
                break
            except csv.Error as e:
                problems.append((line, str(e)))
                break
            if not any(cell.strip() for cell in record):
                continue  # blank line
            if len(record) != len(COLUMNS):
                problems.append((line, f"expected {len(COLUMNS)} columns, got {len(record)}"))
                continue
            row, found = _check_record(dict(zip(COLUMNS, (c.strip() for c in record), strict=True)))
            if row.key in first_line:
                found.append(f"duplicate key {row.key!r} (first on line {first_line[row.key]})")
            elif row.key:
                first_line[row.key] = line
            problems.extend((line, p) for p in found)
            rows.append(replace(row, file=src, line=line))
    return rows, problems


def _messages(path: Path | str, problems: list[tuple[int, str]]) -> list[str]:
    # A stable sort: within a line, the file's objections come before the database's.
    return [f"{path}:{line}: {reason}" for line, reason in sorted(problems, key=lambda p: p[0])]


def _check_record(rec: dict[str, str]) -> tuple[ContactRow, list[str]]:
    problems: list[str] = []
    for col, value in rec.items():
        if not value and col not in OPTIONAL:
            problems.append(f"{col} is empty")
        elif "\n" in value or "\r" in value:
            problems.append(f"{col} must be one line")  # the bot shows each field as one short line
        elif col in _TEXT_MAX and len(value) > _TEXT_MAX[col]:
            problems.append(f"{col} is longer than {_TEXT_MAX[col]} characters")

    key = rec["key"]
    if key and len(key) > _KEY_MAX:
        problems.append(f"key {key!r} is longer than {_KEY_MAX} characters")
    elif key and not _KEY_RE.fullmatch(key):
        problems.append(f"key {key!r} may only contain a-z, 0-9 and '-'")
    if rec["kind"] and rec["kind"] not in KINDS:
        problems.append(f"unknown kind {rec['kind']!r} (one of {', '.join(KINDS)})")
    categories = tuple(c.strip() for c in rec["categories"].split(CATEGORY_SEP)) if rec["categories"] else ()
    problems += _category_problems(categories)
    phone = _PHONE_JUNK.sub("", rec["phone"])
    if phone.startswith("+86"):
        phone = phone[3:]
    if rec["phone"] and not _PHONE_RE.fullmatch(phone):
        problems.append(
            f"phone {rec['phone']!r} is not a Chinese number: a service number (110, 12345), a landline with "
            "its area code (0772...), a mobile (13800138000) or a 400/800 line"
        )
    if rec["hours"]:
        try:
            hours.parse(rec["hours"])
        except hours.HoursError as e:
            problems.append(f"bad hours: {e}")
    verified_on = _date(rec["verified_on"])
    if rec["verified_on"] and verified_on is None:
        problems.append(f"verified_on {rec['verified_on']!r} must be a date YYYY-MM-DD")
    elif verified_on is not None and verified_on > date.today():
        problems.append(f"verified_on {rec['verified_on']} is in the future")
    sample = _SAMPLE_VALUES.get(rec["sample"].lower())
    if rec["sample"] and sample is None:
        problems.append(f"sample {rec['sample']!r} must be 0, 1, true or false")
    if sample is False and phone.startswith(SAMPLE_PHONE_PREFIX):
        problems.append(f"phone {rec['phone']!r} is a made-up sample number, but the row is not marked sample")

    row = ContactRow(
        key=key,
        name_zh=rec["name_zh"],
        name_en=rec["name_en"],
        kind=rec["kind"],
        categories=categories,
        area=rec["area"],
        phone=phone,
        hours=rec["hours"],
        address_zh=rec["address_zh"],
        address_en=rec["address_en"],
        helps_zh=rec["helps_zh"],
        helps_en=rec["helps_en"],
        source=rec["source"],
        verified_on=verified_on or date.min,
        is_sample=bool(sample),
        file="",
        line=0,
    )
    return row, problems


def _category_problems(categories: tuple[str, ...]) -> list[str]:
    problems: list[str] = []
    seen: set[str] = set()
    for c in categories:
        if not c:
            problems.append(f"empty category (separate categories with {CATEGORY_SEP!r})")
        elif c not in CATEGORIES:
            problems.append(f"unknown category {c!r} (one of {', '.join(CATEGORIES)})")
        elif c in seen:
            problems.append(f"category {c!r} is listed twice")
        seen.add(c)
    return problems


def _date(text: str) -> date | None:
    if not _DATE_RE.fullmatch(text):
        return None  # fromisoformat alone would also take "20261129"; the file has one spelling
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None


# --- import / export -------------------------------------------------------------------------------


async def import_contacts(session: AsyncSession, rows: list[ContactRow], *, replace: bool = False) -> ImportSummary:
    """Upsert `rows` by key within the caller's transaction, `position` following the row order; with
    `replace`, contacts whose key is not in `rows` are deleted. Everything is checked before anything is
    written, so a `ContactImportError` leaves the session untouched."""
    if replace and not rows:
        # An empty or truncated file must not silently wipe the directory.
        raise ContactImportError(["no contacts given: replacing would remove every contact"])
    areas = await _areas_by_code(session, {r.area for r in rows if r.area not in SCOPES})
    problems = _database_problems(rows, areas)
    if problems:
        raise ContactImportError(_messages(rows[0].file, problems))

    existing = await _contacts_by_key(session, {r.key for r in rows})
    created = updated = unchanged = 0
    for position, r in enumerate(rows):
        values = _values(r, areas, position)
        contact = existing.get(r.key)
        if contact is None:
            session.add(Contact(key=r.key, **values))
            created += 1
        elif any(getattr(contact, k) != v for k, v in values.items()):
            for k, v in values.items():
                setattr(contact, k, v)
            updated += 1
        else:
            unchanged += 1
    removed = 0
    if replace:
        keys = {r.key for r in rows}
        stale = [k for k in await session.scalars(select(Contact.key)) if k not in keys]
        for i in range(0, len(stale), _CHUNK):
            await session.execute(delete(Contact).where(Contact.key.in_(stale[i : i + _CHUNK])))
        removed = len(stale)
    await session.flush()
    return ImportSummary(created, updated, unchanged, removed)


async def import_contacts_file(db: Database, path: Path, *, replace: bool = False) -> ImportSummary:
    """Parse and import in one transaction: on any error nothing is imported."""
    rows, problems = _read_csv(path)
    async with db.transaction() as session:
        if problems:
            # Add the database's objections, so one run reports everything.
            areas = await _areas_by_code(session, {r.area for r in rows if r.area not in SCOPES})
            problems += _database_problems(rows, areas)
            raise ContactImportError(_messages(path, problems))
        if replace and not rows:
            raise ContactImportError([f"{path}:1: the file has no contacts; replacing would remove every contact"])
        return await import_contacts(session, rows, replace=replace)


def _database_problems(rows: list[ContactRow], areas: dict[str, Area]) -> list[tuple[int, str]]:
    return [
        (r.line, f"unknown area {r.area!r} (use CN, GX or an area code from the areas table)")
        for r in rows
        if r.area and r.area not in SCOPES and r.area not in areas
    ]


def _values(row: ContactRow, areas: dict[str, Area], position: int) -> dict[str, Any]:
    national = row.area in SCOPES
    return {
        "name_zh": row.name_zh,
        "name_en": row.name_en,
        "kind": row.kind,
        "categories": list(row.categories),
        "scope": row.area if national else AREA_SCOPE,
        "area_id": None if national else areas[row.area].id,
        "phone": row.phone,
        "hours": row.hours,
        "address_zh": row.address_zh,
        "address_en": row.address_en,
        "helps_zh": row.helps_zh,
        "helps_en": row.helps_en,
        "source": row.source,
        "verified_on": row.verified_on,
        "is_sample": row.is_sample,
        "position": position,
    }


async def export_contacts_csv(session: AsyncSession, out: TextIO) -> int:
    """Write every contact in the import format, ordered by position then key; return rows written."""
    result = await session.execute(select(Contact, Area.code).outerjoin(Area, Contact.area_id == Area.id))
    # Sorted in Python, not SQL: database collations disagree on '-'.
    pairs = sorted(result.all(), key=lambda p: (p[0].position, p[0].key))
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for c, code in pairs:
        writer.writerow(
            [
                c.key,
                c.name_zh,
                c.name_en,
                c.kind,
                CATEGORY_SEP.join(c.categories),
                c.scope if c.scope in SCOPES else code or "",
                c.phone,
                c.hours,
                c.address_zh,
                c.address_en,
                c.helps_zh,
                c.helps_en,
                c.source,
                c.verified_on.isoformat(),
                "1" if c.is_sample else "0",
            ]
        )
    return len(pairs)


async def ensure_default_contacts(session: AsyncSession, path: Path = DEFAULT_CONTACTS_CSV) -> int:
    """Seed the shipped contacts into an empty table (start-up, after the areas); return how many were created."""
    if await session.scalar(select(Contact.id).limit(1)) is not None:
        return 0
    return (await import_contacts(session, parse_contacts_csv(path))).created


async def stale_contacts(session: AsyncSession, *, today: date, max_age_days: int = 180) -> list[Contact]:
    """Real (non-sample) contacts last checked more than `max_age_days` ago, by key: the re-check list."""
    cutoff = today - timedelta(days=max_age_days)
    found = await session.scalars(select(Contact).where(Contact.is_sample.is_(False), Contact.verified_on < cutoff))
    return sorted(found, key=lambda c: c.key)


# --- helpers ---------------------------------------------------------------------------------------


async def _areas_by_code(session: AsyncSession, codes: set[str]) -> dict[str, Area]:
    found: dict[str, Area] = {}
    ordered = sorted(codes)
    for i in range(0, len(ordered), _CHUNK):
        chunk = ordered[i : i + _CHUNK]
        found.update({a.code: a for a in await session.scalars(select(Area).where(Area.code.in_(chunk)))})
    return found


async def _contacts_by_key(session: AsyncSession, keys: set[str]) -> dict[str, Contact]:
    found: dict[str, Contact] = {}
    ordered = sorted(keys)
    for i in range(0, len(ordered), _CHUNK):
        chunk = ordered[i : i + _CHUNK]
        found.update({c.key: c for c in await session.scalars(select(Contact).where(Contact.key.in_(chunk)))})
    return found


async def sample_count(session: AsyncSession) -> int:
    """How many made-up entries families still see (until the verified county list is imported)."""
    return int(await session.scalar(select(func.count()).select_from(Contact).where(Contact.is_sample.is_(True))) or 0)
