"""Contacts: the shipped directory, CSV import/export, seeding and the re-check list."""

from __future__ import annotations

import csv
import io
import re
from collections import Counter
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot.services.areas import ensure_default_areas, parse_areas_csv
from bot.services.contacts import (
    CATEGORIES,
    COLUMNS,
    DEFAULT_CONTACTS_CSV,
    KINDS,
    SCOPES,
    ContactImportError,
    ContactRow,
    ensure_default_contacts,
    export_contacts_csv,
    import_contacts,
    import_contacts_file,
    parse_contacts_csv,
    stale_contacts,
)
from db.models import Contact
from db.session import Database

HEADER = ",".join(COLUMNS) + "\n"
COUNTY = "451321"
TOWNSHIPS = [f"{COUNTY}-{i:02d}" for i in range(1, 13)]


NOT_CHINESE = (
    "is not a Chinese number: a service number (110, 12345), a landline with its area code (0772...), "
    "a mobile (13800138000) or a 400/800 line"
)


def line(**fields: str) -> str:
    """One valid CSV line; keyword arguments replace single fields."""
    values = {
        "key": "test-clinic",
        "name_zh": "测试卫生室",
        "name_en": "Test Clinic",
        "kind": "clinic",
        "categories": "health",
        "area": "451321-02",
        "phone": "07715550100",
        "hours": "daily 08:00-17:30",
        "address_zh": "",
        "address_en": "",
        "helps_zh": "看病",
        "helps_en": "Doctor visits",
        "source": "test",
        "verified_on": "2026-11-29",
        "sample": "1",
    } | fields
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerow([values[c] for c in COLUMNS])
    return out.getvalue()


def write(tmp_path: Path, body: str, name: str = "contacts.csv", bom: bool = False) -> Path:
    path = tmp_path / name
    path.write_text(("\ufeff" if bom else "") + HEADER + body, encoding="utf-8")
    return path


async def count_contacts(db: Database) -> int:
    async with db.transaction() as session:
        return int(await session.scalar(select(func.count()).select_from(Contact)) or 0)


async def seed(db: Database) -> int:
    async with db.transaction() as session:
        await ensure_default_areas(session)
        return await ensure_default_contacts(session)


def shipped() -> list[ContactRow]:
    return parse_contacts_csv(DEFAULT_CONTACTS_CSV)


# --- the shipped file ------------------------------------------------------------------------------


def test_shipped_file_parses_with_the_real_hotlines() -> None:
    rows = shipped()
    real = {r.key: r for r in rows if not r.is_sample}
    phones = sorted((r.phone, r.area) for r in real.values())
    assert phones == [
        ("110", "CN"),
        ("119", "CN"),
        ("120", "CN"),
        ("12338", "CN"),
        ("12345", "GX"),
        ("12345", "GX"),
        ("12355", "GX"),
        ("12356", "CN"),
    ]
    assert all(r.hours == "24h" for r in real.values() if r.phone in {"110", "119", "120", "12345"})
    press_6 = next(r for r in real.values() if r.phone == "12345" and "6" in r.name_en)
    assert "转6" in press_6.name_zh and "press 6" in press_6.name_en
    assert set(press_6.categories) == {"protection", "assistance", "mental_health", "school"}
    assert all(r.verified_on == date(2026, 11, 29) and r.source for r in real.values())
    # Hours the brief does not give exactly must say so where an operator will look.
    for r in real.values():
        if r.phone in {"12355", "12356", "12338"}:
            assert r.hours == "unknown" and "not confirmed" in r.source, r.key


def test_shipped_file_is_ordered_national_guangxi_county_townships_villages() -> None:
    levels = {COUNTY: 2, **dict.fromkeys(TOWNSHIPS, 3)}
    order = [{"CN": 0, "GX": 1}.get(r.area) if r.area in SCOPES else levels.get(r.area, 4) for r in shipped()]
    assert order == sorted(order)
    assert set(order) == {0, 1, 2, 3, 4}


def test_shipped_samples_are_marked_and_unreachable() -> None:
    rows = shipped()
    village_codes = {r.area for r in rows if r.area not in SCOPES} - {COUNTY, *TOWNSHIPS}
    known = {a.code for a in parse_areas_csv(Path(DEFAULT_CONTACTS_CSV).parents[1] / "areas" / "xincheng.csv")}
    assert village_codes <= known
    for r in rows:
        assert len(r.helps_zh) <= 40 and len(r.helps_en) <= 100, r.key
        assert r.kind in KINDS and r.categories
        if r.area in SCOPES:
            assert not r.is_sample, r.key
            continue
        assert r.is_sample, r.key
        assert r.name_zh.endswith("（示例）") and r.name_en.endswith(" (sample)"), r.key
        # Laibin area code, then a local number starting with 0: no real line can have it.
        assert re.fullmatch(r"07720\d{6}", r.phone), r.key
    assert len({r.phone for r in rows if r.is_sample}) == sum(r.is_sample for r in rows)


def test_every_need_has_someone_to_call_above_the_village() -> None:
    rows = shipped()
    wide = {c for r in rows if r.area in SCOPES for c in r.categories}
    county = {c for r in rows if r.area == COUNTY for c in r.categories}
    assert set(CATEGORIES) - wide == {"volunteers"}  # no national or Guangxi volunteer line in the brief
    assert county == set(CATEGORIES)
    county_kinds = {r.kind for r in rows if r.area == COUNTY}
    assert {"civil_affairs", "hospital", "school", "women_federation", "youth_league", "legal_aid"} <= county_kinds
    assert "social_work" in county_kinds


def test_each_township_has_a_clinic_a_station_and_a_school_and_sample_villages_their_people() -> None:
    rows = shipped()
    for code in TOWNSHIPS:
        assert Counter(r.kind for r in rows if r.area == code) == {"clinic": 1, "township_station": 1, "school": 1}
    villages = [f"{t}-S{i}" for t in ("451321-02", "451321-05") for i in (1, 2, 3)]
    for code in villages:
        assert Counter(r.kind for r in rows if r.area == code) == {"clinic": 1, "child_director": 1}
    director = next(r for r in rows if r.kind == "child_director")
    assert director.categories == ("protection", "school", "assistance", "women_family")


# --- seeding ---------------------------------------------------------------------------------------


async def test_seeding_is_idempotent(db: Database) -> None:
    expected = len(shipped())
    assert await seed(db) == expected
    assert await seed(db) == 0
    assert await count_contacts(db) == expected
    async with db.transaction() as session:
        police = await session.scalar(select(Contact).where(Contact.key == "cn-110-police"))
        assert police is not None and (police.scope, police.area_id, police.position) == ("CN", None, 0)
        clinic = await session.scalar(select(Contact).where(Contact.key == "t02-s1-clinic"))
        assert clinic is not None and clinic.scope == "area" and clinic.area_id is not None


async def test_seeding_needs_the_areas_first(db: Database) -> None:
    with pytest.raises(ContactImportError) as e:
        async with db.transaction() as session:
            await ensure_default_contacts(session)
    assert all("unknown area" in m for m in e.value.errors)
    assert await count_contacts(db) == 0


async def test_seeding_leaves_a_populated_table_alone(db: Database, tmp_path: Path) -> None:
    await seed(db)
    async with db.transaction() as session:
        await session.execute(Contact.__table__.delete().where(Contact.key != "cn-110-police"))
    assert await seed(db) == 0
    assert await count_contacts(db) == 1


# --- parsing and import errors ---------------------------------------------------------------------


async def test_one_bad_row_of_each_kind_is_reported_and_nothing_is_imported(db: Database, tmp_path: Path) -> None:
    await seed(db)
    before = await count_contacts(db)
    path = write(
        tmp_path,
        line(key="new-ok")  # 2: fine
        + line(key="bad-phone", phone="0772-12a")  # 3
        + line(key="bad-category", categories="health|cooking")  # 4
        + line(key="bad-area", area="451321-99")  # 5
        + line(key="bad-kind", kind="shop")  # 6
        + line(key="bad-hours", hours="mon-fri 9-17")  # 7
        + line(key="bad-date", verified_on="2026-02-30")  # 8
        + line(key="new-ok")  # 9: duplicate key
        + line(key="no-helps", helps_zh="")  # 10
        + line(key="cn-110-police", area="CN", kind="police", sample="0"),  # 11: an update, fine
    )
    expected = [
        f"{path}:3: phone '0772-12a' {NOT_CHINESE}",
        f"{path}:4: unknown category 'cooking' (one of {', '.join(CATEGORIES)})",
        f"{path}:5: unknown area '451321-99' (use CN, GX or an area code from the areas table)",
        f"{path}:6: unknown kind 'shop' (one of {', '.join(KINDS)})",
        f"{path}:7: bad hours: bad time '9' (expected HH:MM)",
        f"{path}:8: verified_on '2026-02-30' must be a date YYYY-MM-DD",
        f"{path}:9: duplicate key 'new-ok' (first on line 2)",
        f"{path}:10: helps_zh is empty",
    ]
    # One run reports the file's and the database's objections together.
    with pytest.raises(ContactImportError) as e:
        await import_contacts_file(db, path)
    assert e.value.errors == expected
    assert str(e.value) == "\n".join(expected)
    assert await count_contacts(db) == before
    async with db.transaction() as session:
        police = await session.scalar(select(Contact).where(Contact.key == "cn-110-police"))
        assert police is not None and police.name_zh == "110报警电话"  # the good update was not applied

    # Parsing alone reports everything it can see without the database.
    with pytest.raises(ContactImportError) as e:
        parse_contacts_csv(path)
    assert e.value.errors == [m for m in expected if ":5:" not in m]


async def test_unknown_area_raises_before_anything_is_written(db: Database, tmp_path: Path) -> None:
    await seed(db)
    before = await count_contacts(db)
    rows = parse_contacts_csv(write(tmp_path, line(key="a") + line(key="b", area="NOPE")))
    async with db.transaction() as session:
        with pytest.raises(ContactImportError) as e:
            await import_contacts(session, rows)
        assert not session.new and not session.dirty
    assert e.value.errors == [
        f"{rows[1].where()}: unknown area 'NOPE' (use CN, GX or an area code from the areas table)"
    ]
    assert await count_contacts(db) == before


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"key": "Bad_Key"}, "key 'Bad_Key' may only contain a-z, 0-9 and '-'"),
        ({"key": "k" * 49}, f"key '{'k' * 49}' is longer than 48 characters"),
        ({"categories": ""}, "categories is empty"),
        ({"categories": "health|"}, "empty category (separate categories with '|')"),
        ({"categories": "health|health"}, "category 'health' is listed twice"),
        (
            {"phone": "12"},
            f"phone '12' {NOT_CHINESE}",
        ),
        (
            {"phone": "0772123456"},
            f"phone '0772123456' {NOT_CHINESE}",
        ),
        (
            {"phone": "07720000999", "sample": "0"},
            "phone '07720000999' is a made-up sample number, but the row is not marked sample",
        ),
        ({"verified_on": "2999-01-01"}, "verified_on 2999-01-01 is in the future"),
        (
            {"phone": "1" * 16},
            f"phone '{'1' * 16}' {NOT_CHINESE}",
        ),
        ({"hours": "whenever"}, "bad hours: unknown day 'whenever' (use mon..sun or daily)"),
        ({"verified_on": "29/11/2026"}, "verified_on '29/11/2026' must be a date YYYY-MM-DD"),
        ({"verified_on": "20261129"}, "verified_on '20261129' must be a date YYYY-MM-DD"),
        ({"sample": "maybe"}, "sample 'maybe' must be 0, 1, true or false"),
        ({"name_zh": "名" * 65}, "name_zh is longer than 64 characters"),
        ({"helps_en": "x" * 141}, "helps_en is longer than 140 characters"),
        ({"helps_en": "two\nlines"}, "helps_en must be one line"),
        ({"source": ""}, "source is empty"),
    ],
)
def test_each_field_rule(tmp_path: Path, fields: dict[str, str], reason: str) -> None:
    path = write(tmp_path, line(**fields))
    with pytest.raises(ContactImportError) as e:
        parse_contacts_csv(path)
    assert e.value.errors == [f"{path}:2: {reason}"]


def test_wrong_header_and_short_rows(tmp_path: Path) -> None:
    path = tmp_path / "h.csv"
    path.write_text("key,name_zh\n", encoding="utf-8")
    with pytest.raises(ContactImportError) as e:
        parse_contacts_csv(path)
    assert len(e.value.errors) == 1 and e.value.errors[0].startswith(f"{path}:1: header must be")
    path = write(tmp_path, "a,b,c\n")
    with pytest.raises(ContactImportError) as e:
        parse_contacts_csv(path)
    assert e.value.errors == [f"{path}:2: expected {len(COLUMNS)} columns, got 3"]


def test_bom_blank_lines_phone_spacing_and_booleans_are_tolerated(tmp_path: Path) -> None:
    body = line(key="a", phone="0771 555-0100", sample="TRUE") + "\n" + line(key="b", sample="false", area="GX")
    rows = parse_contacts_csv(write(tmp_path, body, bom=True))
    assert [(r.key, r.phone, r.is_sample, r.line) for r in rows] == [
        ("a", "07715550100", True, 2),
        ("b", "07715550100", False, 4),
    ]
    # A date in the future is fine: an operator may record a planned re-check.


# --- replace, round trip, updates ------------------------------------------------------------------


async def test_replace_removes_contacts_not_in_the_file(db: Database, tmp_path: Path) -> None:
    await seed(db)
    total = await count_contacts(db)
    path = write(tmp_path, line(key="cn-110-police", area="CN", kind="police", sample="0") + line(key="new-one"))

    summary = await import_contacts_file(db, path)  # without replace, the others stay
    assert (summary.created, summary.updated, summary.unchanged, summary.removed) == (1, 1, 0, 0)
    assert await count_contacts(db) == total + 1

    summary = await import_contacts_file(db, path, replace=True)
    assert (summary.created, summary.updated, summary.unchanged, summary.removed) == (0, 0, 2, total - 1)
    async with db.transaction() as session:
        keys = list(await session.scalars(select(Contact.key).order_by(Contact.position)))
    assert keys == ["cn-110-police", "new-one"]

    with pytest.raises(ContactImportError) as e:  # an empty file must not wipe the directory
        await import_contacts_file(db, write(tmp_path, "", name="empty.csv"), replace=True)
    assert e.value.errors == [
        f"{tmp_path / 'empty.csv'}:1: the file has no contacts; replacing would remove every contact"
    ]
    assert await count_contacts(db) == 2


async def test_export_then_import_is_identity(db: Database, tmp_path: Path) -> None:
    await seed(db)
    out = io.StringIO()
    async with db.transaction() as session:
        written = await export_contacts_csv(session, out)
    exported = out.getvalue()
    assert written == len(shipped())
    assert exported == DEFAULT_CONTACTS_CSV.read_text(encoding="utf-8")

    path = tmp_path / "export.csv"
    path.write_text(exported, encoding="utf-8")
    summary = await import_contacts_file(db, path, replace=True)
    assert (summary.created, summary.updated, summary.unchanged, summary.removed) == (0, 0, written, 0)
    again = io.StringIO()
    async with db.transaction() as session:
        await export_contacts_csv(session, again)
    assert again.getvalue() == exported


async def test_reimport_moves_and_updates(db: Database, tmp_path: Path) -> None:
    await seed(db)
    # A new hotline placed first takes position 0; the updated contact gets the file's position.
    path = write(tmp_path, line(key="cn-new", area="CN", sample="0") + line(key="t02-s1-clinic", area="451321-02-S1"))
    summary = await import_contacts_file(db, path)
    assert (summary.created, summary.updated) == (1, 1)
    async with db.transaction() as session:
        clinic = await session.scalar(select(Contact).where(Contact.key == "t02-s1-clinic"))
        assert clinic is not None and (clinic.name_en, clinic.position) == ("Test Clinic", 1)
        out = io.StringIO()
        await export_contacts_csv(session, out)
    # Ties on position are broken by key, so the export is stable.
    assert out.getvalue().splitlines()[1:3] == [
        DEFAULT_CONTACTS_CSV.read_text(encoding="utf-8").splitlines()[1],  # cn-110-police, also position 0
        line(key="cn-new", area="CN", sample="0").rstrip("\n"),
    ]


# --- the re-check list -----------------------------------------------------------------------------


async def test_stale_contacts_ignores_samples_and_finds_an_old_one(db: Database, tmp_path: Path) -> None:
    await seed(db)
    await import_contacts_file(
        db,
        write(
            tmp_path,
            line(key="old-real", area="GX", sample="0", verified_on="2026-01-01")
            + line(key="old-sample", verified_on="2020-01-01")
            + line(key="edge-real", area="CN", sample="0", verified_on="2026-06-02"),  # exactly 180 days
        ),
    )
    async with db.transaction() as session:
        today = date(2026, 11, 29)
        assert [c.key for c in await stale_contacts(session, today=today)] == ["old-real"]
        later = await stale_contacts(session, today=date(2027, 6, 1))
        assert [c.key for c in later][:3] == ["cn-110-police", "cn-119-fire-rescue", "cn-120-ambulance"]
        assert all(not c.is_sample for c in later)
        assert "edge-real" in {c.key for c in later} and "old-sample" not in {c.key for c in later}
        assert [c.key for c in await stale_contacts(session, today=today, max_age_days=1000)] == []
