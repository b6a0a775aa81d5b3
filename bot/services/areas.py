"""Places: county > township > village, loaded from a CSV and read by the conversation layer.

The CSV (`code,parent_code,level,name_zh,name_en,sample`) is the one format for the shipped seed,
for imports by an operator and for exports; `import_areas(export_areas_csv(...))` changes nothing.
No Telegram imports here: handlers turn `AreaView`s into buttons.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Hashable, Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TextIO

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from bot.paths import CONTENT_DIR
from bot.services.memory import Forgetful, Shelf
from db.models import Area
from db.session import Database

COLUMNS = ("code", "parent_code", "level", "name_zh", "name_en", "sample")
LEVELS = ("county", "township", "village")
# The level a parent must have; a county has no parent.
PARENT_LEVEL = {"township": "county", "village": "township"}
DEFAULT_AREAS_CSV = CONTENT_DIR / "areas" / "xincheng.csv"

_CODE_RE = re.compile(r"[A-Za-z0-9-]+")
_SAMPLE_VALUES = {"0": False, "false": False, "1": True, "true": True}


def _column_length(name: str) -> int:
    """A String column's length in `db.models.Area`, so the checks follow the schema."""
    length = getattr(Area.__table__.c[name].type, "length", None)
    assert isinstance(length, int)
    return length


_CODE_MAX = _column_length("code")
_NAME_MAX = {"name_zh": _column_length("name_zh"), "name_en": _column_length("name_en")}
_CHUNK = 500  # codes per IN (...) query, well under driver parameter limits


class AreaImportError(Exception):
    """Every problem found in a file, each as `FILE:LINE: reason`."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("\n".join(errors))
        self.errors = errors


@dataclass(frozen=True)
class AreaRow:
    """One parsed, validated CSV line; `source`/`line` locate it for error messages."""

    code: str
    parent_code: str | None
    level: str
    name_zh: str
    name_en: str
    is_sample: bool
    source: str
    line: int

    def where(self) -> str:
        return f"{self.source}:{self.line}"


@dataclass(frozen=True)
class ImportSummary:
    created: int
    updated: int
    unchanged: int = 0


@dataclass(frozen=True)
class AreaView:
    """A detached, read-only area for the conversation layer."""

    id: int
    code: str
    level: str
    name_zh: str
    name_en: str
    is_sample: bool
    parent_id: int | None

    def name(self, locale: str) -> str:
        return self.name_zh if locale == "zh_Hans" else self.name_en

    @classmethod
    def of(cls, area: Area) -> AreaView:
        return cls(area.id, area.code, area.level, area.name_zh, area.name_en, area.is_sample, area.parent_id)


class Atlas(Forgetful):
    """Areas kept in memory by id: every report and every escalation names its village, township and county,
    and the map changes only when an operator imports one. Forgotten when an area row changes."""

    KEY = "areas"
    WATCHED = frozenset({Area.__tablename__})

    def __init__(self, db: Database, *, ttl: float = 300.0, size: int = 20_000) -> None:
        super().__init__(db, ttl=ttl)
        self._areas: Shelf[int, AreaView] = self.shelf(size)
        db.memory[self.KEY] = self

    def get(self, area_id: int) -> AreaView | None:
        return self._areas.get(area_id)

    def put(self, session: AsyncSession, view: AreaView, generation: int) -> None:
        if self.may_keep(session, generation):
            self._areas.put(view.id, view)

    def keys_of(self, obj: object) -> set[Hashable] | object:
        return {obj.id} if isinstance(obj, Area) else set()

    def forget(self, keys: set[Hashable]) -> None:
        for key in keys:
            self._areas.pop(key)  # type: ignore[arg-type]

    def forget_all(self) -> None:
        self._areas.clear()


async def area_view(session: AsyncSession, area_id: int) -> AreaView | None:
    """One area by id, from memory when this process has read it lately (Atlas)."""
    atlas: Atlas | None = session.info.get(Atlas.KEY)
    found = atlas.get(area_id) if atlas is not None else None
    if found is not None:
        return found
    generation = atlas.generation if atlas is not None else 0
    area = await session.get(Area, area_id)
    if area is None:
        return None
    view = AreaView.of(area)
    if atlas is not None:
        atlas.put(session, view, generation)
    return view


# --- parsing ---------------------------------------------------------------------------------------


def parse_areas_csv(path: Path) -> list[AreaRow]:
    """Read and check a CSV; raise `AreaImportError` listing every bad line (parents that are not in the
    file are looked up in the database by `import_areas`)."""
    rows, problems = _read_csv(path)
    if problems:
        raise AreaImportError(_messages(path, problems))
    return rows


def _read_csv(path: Path) -> tuple[list[AreaRow], list[tuple[int, str]]]:
    """The rows read and every (line, reason) found; a row with a problem is still returned."""
    src = str(path)
    problems: list[tuple[int, str]] = []
    rows: list[AreaRow] = []
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
            if row.code in first_line:
                found.append(f"duplicate code {row.code!r} (first on line {first_line[row.code]})")
            elif row.code:
                first_line[row.code] = line
            problems.extend((line, p) for p in found)
            rows.append(replace(row, source=src, line=line))
    # Parents defined in the same file must have the right level; others are looked up at import.
    by_code = {r.code: r for r in rows}
    for r in rows:
        parent = by_code.get(r.parent_code or "")
        want = PARENT_LEVEL.get(r.level)
        if parent is not None and want and parent.level in LEVELS and parent.level != want:
            problems.append((r.line, _wrong_parent(r, parent.level)))
    return rows, problems


def _wrong_parent(row: AreaRow, parent_level: str) -> str:
    want = PARENT_LEVEL.get(row.level)
    return f"a {row.level}'s parent must be a {want}, {row.parent_code!r} is a {parent_level}"


def _messages(path: Path | str, problems: list[tuple[int, str]]) -> list[str]:
    return [f"{path}:{line}: {reason}" for line, reason in sorted(problems, key=lambda p: p[0])]


def _check_record(rec: dict[str, str]) -> tuple[AreaRow, list[str]]:
    problems: list[str] = []
    code, parent, level = rec["code"], rec["parent_code"], rec["level"]
    if not code:
        problems.append("code is empty")
    elif len(code) > _CODE_MAX:
        problems.append(f"code {code!r} is longer than {_CODE_MAX} characters")
    elif not _CODE_RE.fullmatch(code):
        problems.append(f"code {code!r} may only contain letters, digits and '-'")
    if level not in LEVELS:
        problems.append(f"level {level!r} must be one of {', '.join(LEVELS)}")
    elif level == "county" and parent:
        problems.append("a county has no parent_code")
    elif level != "county" and not parent:
        problems.append(f"a {level} needs a parent_code")
    if parent and parent == code:
        problems.append("an area cannot be its own parent")
    for col, limit in _NAME_MAX.items():
        if not rec[col]:
            problems.append(f"{col} is empty")
        elif len(rec[col]) > limit:
            problems.append(f"{col} is longer than {limit} characters")
    sample = _SAMPLE_VALUES.get(rec["sample"].lower())
    if sample is None:
        problems.append(f"sample {rec['sample']!r} must be 0, 1, true or false")
    row = AreaRow(code, parent or None, level, rec["name_zh"], rec["name_en"], bool(sample), "", 0)
    return row, problems


# --- import / export -------------------------------------------------------------------------------


async def import_areas(session: AsyncSession, rows: list[AreaRow]) -> ImportSummary:
    """Upsert `rows` by code within the caller's transaction. Everything is checked before anything is
    written, so an `AreaImportError` leaves the session untouched."""
    existing = await _existing(session, rows)
    problems = await _database_problems(session, rows, existing)
    if problems:
        raise AreaImportError(_messages(rows[0].source, problems))

    created = updated = unchanged = 0
    # Parents first: one flush per level gives every new parent an id before its children need it.
    for level in LEVELS:
        for r in (r for r in rows if r.level == level):
            parent_id = existing[r.parent_code].id if r.parent_code else None
            values = {
                "parent_id": parent_id,
                "level": r.level,
                "name_zh": r.name_zh,
                "name_en": r.name_en,
                "is_sample": r.is_sample,
            }
            area = existing.get(r.code)
            if area is None:
                area = Area(code=r.code, **values)
                session.add(area)
                existing[r.code] = area
                created += 1
            elif any(getattr(area, k) != v for k, v in values.items()):
                for k, v in values.items():
                    setattr(area, k, v)
                updated += 1
            else:
                unchanged += 1
        await session.flush()
    return ImportSummary(created, updated, unchanged)


async def import_areas_file(db: Database, path: Path) -> ImportSummary:
    """Parse and import in one transaction: on any error nothing is imported."""
    rows, problems = _read_csv(path)
    async with db.transaction() as session:
        if problems:
            # Add the database's objections to the rows that parsed, so one run reports everything.
            bad = {line for line, _ in problems}
            existing = await _existing(session, rows)
            problems += await _database_problems(session, rows, existing, skip=bad)
            raise AreaImportError(_messages(path, problems))
        return await import_areas(session, rows)


async def _existing(session: AsyncSession, rows: list[AreaRow]) -> dict[str, Area]:
    """The areas already stored under the rows' codes and parent codes."""
    return await _areas_by_code(session, {r.code for r in rows} | {r.parent_code for r in rows if r.parent_code})


async def _database_problems(
    session: AsyncSession, rows: list[AreaRow], existing: dict[str, Area], skip: set[int] | None = None
) -> list[tuple[int, str]]:
    """Parents missing or of the wrong level, and level changes that would strand children."""
    in_file = {r.code: r for r in rows}
    problems: list[tuple[int, str]] = []
    for r in rows:
        if skip and r.line in skip:
            continue
        want = PARENT_LEVEL.get(r.level)
        if r.parent_code:
            parent = in_file.get(r.parent_code) or existing.get(r.parent_code)
            if parent is None:
                problems.append((r.line, f"unknown parent_code {r.parent_code!r} (not in file or database)"))
            elif want and parent.level != want and parent.level in LEVELS:
                problems.append((r.line, _wrong_parent(r, parent.level)))
        old = existing.get(r.code)
        if old is not None and old.level != r.level:
            # Children left behind in the DB would end up under a parent of the wrong level.
            children = await session.scalars(select(Area.code).where(Area.parent_id == old.id))
            stranded = sum(1 for c in children if c not in in_file)
            if stranded:
                problems.append(
                    (
                        r.line,
                        f"cannot change {r.code!r} from {old.level} to {r.level}: "
                        f"it has {stranded} child area(s) not in this file",
                    )
                )
    return problems


async def export_areas_csv(session: AsyncSession, out: TextIO) -> int:
    """Write every area in the import format (county, townships, villages; each by code); return rows."""
    parent = aliased(Area)
    result = await session.execute(select(Area, parent.code).outerjoin(parent, Area.parent_id == parent.id))
    pairs = sorted(result.all(), key=lambda p: _sort_key(p[0]))
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for area, parent_code in pairs:
        sample = "1" if area.is_sample else "0"
        writer.writerow([area.code, parent_code or "", area.level, area.name_zh, area.name_en, sample])
    return len(pairs)


async def ensure_default_areas(session: AsyncSession, path: Path = DEFAULT_AREAS_CSV) -> int:
    """Seed the shipped areas into an empty table (start-up); return how many were created."""
    if await session.scalar(select(Area.id).limit(1)) is not None:
        return 0
    return (await import_areas(session, parse_areas_csv(path))).created


# --- queries for the conversation layer ------------------------------------------------------------


async def townships(session: AsyncSession, county_code: str | None = None) -> list[AreaView]:
    """Townships ordered by code; only those of `county_code` when given."""
    stmt = select(Area).where(Area.level == "township")
    if county_code is not None:
        county = aliased(Area)
        stmt = stmt.join(county, Area.parent_id == county.id).where(county.code == county_code)
    return _views(await session.scalars(stmt))


async def villages(session: AsyncSession, township_id: int) -> list[AreaView]:
    """The villages of one township, ordered by code."""
    stmt = select(Area).where(Area.level == "village", Area.parent_id == township_id)
    return _views(await session.scalars(stmt))


async def get_area(session: AsyncSession, area_id: int) -> AreaView | None:
    area = await session.get(Area, area_id)
    return AreaView.of(area) if area else None


async def get_area_by_code(session: AsyncSession, code: str) -> AreaView | None:
    area = await session.scalar(select(Area).where(Area.code == code))
    return AreaView.of(area) if area else None


async def area_path(session: AsyncSession, area_id: int) -> list[AreaView]:
    """The area and its ancestors, top first (county → township → village); [] if unknown."""
    path: list[AreaView] = []
    next_id: int | None = area_id
    while next_id is not None and len(path) <= len(LEVELS):  # bound guards against a corrupt cycle
        area = await area_view(session, next_id)
        if area is None:
            break
        path.append(area)
        next_id = area.parent_id
    return path[::-1]


# --- helpers ---------------------------------------------------------------------------------------


def _sort_key(area: Area) -> tuple[int, str]:
    level = LEVELS.index(area.level) if area.level in LEVELS else len(LEVELS)
    return level, area.code


def _views(areas: Iterable[Area]) -> list[AreaView]:
    # Sorted in Python, not SQL: database collations disagree on '-', and the lists are short.
    return [AreaView.of(a) for a in sorted(areas, key=_sort_key)]


async def _areas_by_code(session: AsyncSession, codes: set[str]) -> dict[str, Area]:
    found: dict[str, Area] = {}
    ordered = sorted(codes)
    for i in range(0, len(ordered), _CHUNK):
        chunk = ordered[i : i + _CHUNK]
        found.update({a.code: a for a in await session.scalars(select(Area).where(Area.code.in_(chunk)))})
    return found
