"""Areas: the shipped county file, CSV import/export and the queries behind the location menus."""

from __future__ import annotations

import io
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot.services.areas import (
    DEFAULT_AREAS_CSV,
    AreaImportError,
    AreaView,
    area_path,
    ensure_default_areas,
    export_areas_csv,
    get_area,
    get_area_by_code,
    import_areas,
    import_areas_file,
    parse_areas_csv,
    townships,
    villages,
)
from db.models import Area
from db.session import Database

HEADER = "code,parent_code,level,name_zh,name_en,sample\n"


def write(tmp_path: Path, body: str, name: str = "areas.csv", bom: bool = False) -> Path:
    path = tmp_path / name
    path.write_text(("\ufeff" if bom else "") + HEADER + body, encoding="utf-8")
    return path


async def count_areas(db: Database) -> int:
    async with db.transaction() as session:
        return int(await session.scalar(select(func.count()).select_from(Area)) or 0)


async def seed(db: Database) -> int:
    async with db.transaction() as session:
        return await ensure_default_areas(session)


# --- the shipped file ------------------------------------------------------------------------------


def test_shipped_file_has_the_county_its_12_townships_and_sample_villages() -> None:
    rows = parse_areas_csv(DEFAULT_AREAS_CSV)
    levels = Counter(r.level for r in rows)
    assert levels["county"] == 1
    assert levels["township"] == 12
    assert levels["village"] >= 36
    county = next(r for r in rows if r.level == "county")
    assert (county.code, county.name_zh, county.name_en, county.is_sample) == (
        "451321",
        "忻城县",
        "Xincheng County",
        False,
    )
    towns = [r for r in rows if r.level == "township"]
    assert [t.code for t in towns] == [f"451321-{i:02d}" for i in range(1, 13)]
    assert all(t.parent_code == "451321" and not t.is_sample for t in towns)
    assert {"城关镇", "大塘镇", "安东乡", "新圩乡", "北更乡"} <= {t.name_zh for t in towns}
    assert all(t.name_en.endswith((" Town", " Township")) for t in towns)
    per_town = Counter(r.parent_code for r in rows if r.level == "village")
    assert all(per_town[t.code] >= 3 for t in towns)
    for v in (r for r in rows if r.level == "village"):
        assert v.is_sample and "示例" in v.name_zh and "村" in v.name_zh and "(sample)" in v.name_en


async def test_ensure_default_areas_seeds_once(db: Database) -> None:
    expected = len(parse_areas_csv(DEFAULT_AREAS_CSV))
    assert await seed(db) == expected
    assert await seed(db) == 0
    assert await count_areas(db) == expected


async def test_ensure_default_areas_leaves_a_populated_table_alone(db: Database, tmp_path: Path) -> None:
    await import_areas_file(db, write(tmp_path, "X1,,county,某县,Some County,1\n"))
    assert await seed(db) == 0
    assert await count_areas(db) == 1


# --- parsing and import errors ---------------------------------------------------------------------


async def test_bad_rows_are_all_reported_and_nothing_is_imported(db: Database, tmp_path: Path) -> None:
    await seed(db)
    before = await count_areas(db)
    path = write(
        tmp_path,
        "N1,451321,township,新乡,New Township,0\n"  # 2: fine on its own
        "N1-V1,N1,hamlet,新一村,New 1,1\n"  # 3: bad level
        "N1-V2,N1,village,,New 2,1\n"  # 4: empty name
        "N1,451321,township,新乡二,New Township 2,0\n"  # 5: duplicate code
        "N1-V3,451321,village,新三村,New 3,1\n"  # 6: village under a county (in the DB)
        "N1-V4,NOPE,village,新四村,New 4,1\n"  # 7: unknown parent
        "N1-V5,X9,village,新五村,New 5,1\n"  # 8: village under a county (in the file)
        "X9,,county,某县,Some County,1\n",  # 9: fine
    )
    expected = [
        f"{path}:3: level 'hamlet' must be one of county, township, village",
        f"{path}:4: name_zh is empty",
        f"{path}:5: duplicate code 'N1' (first on line 2)",
        f"{path}:6: a village's parent must be a township, '451321' is a county",
        f"{path}:7: unknown parent_code 'NOPE' (not in file or database)",
        f"{path}:8: a village's parent must be a township, 'X9' is a county",
    ]
    # One run of the file import reports the file's and the database's objections together.
    with pytest.raises(AreaImportError) as e:
        await import_areas_file(db, path)
    assert e.value.errors == expected
    assert str(e.value) == "\n".join(expected)
    assert await count_areas(db) == before

    # Parsing alone reports what it can see without the database.
    with pytest.raises(AreaImportError) as e:
        parse_areas_csv(path)
    assert e.value.errors == [expected[i] for i in (0, 1, 2, 5)]


async def test_database_checks_raise_before_anything_is_written(db: Database, tmp_path: Path) -> None:
    await seed(db)
    before = await count_areas(db)
    path = write(
        tmp_path,
        "N1,451321,township,新乡,New Township,0\n"
        "N1-V3,451321,village,新三村,New 3,1\n"
        "N1-V4,NOPE,village,新四村,New 4,1\n",
    )
    rows = parse_areas_csv(path)  # fine as a file
    async with db.transaction() as session:
        with pytest.raises(AreaImportError) as e:
            await import_areas(session, rows)
        assert not session.new and not session.dirty
    assert e.value.errors == [
        f"{path}:3: a village's parent must be a township, '451321' is a county",
        f"{path}:4: unknown parent_code 'NOPE' (not in file or database)",
    ]
    assert await count_areas(db) == before


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("a b,,county,县,County,0\n", "code 'a b' may only contain letters, digits and '-'"),
        ("X" * 33 + ",,county,县,County,0\n", f"code '{'X' * 33}' is longer than 32 characters"),
        (",,county,县,County,0\n", "code is empty"),
        ("C1,,county,县,County,maybe\n", "sample 'maybe' must be 0, 1, true or false"),
        ("C1,P,county,县,County,0\n", "a county has no parent_code"),
        ("T1,,township,乡,Township,0\n", "a township needs a parent_code"),
        ("C1,,county,县,County\n", "expected 6 columns, got 5"),
        (f"C1,,county,{'县' * 65},County,0\n", "name_zh is longer than 64 characters"),
    ],
)
def test_each_field_rule(tmp_path: Path, body: str, reason: str) -> None:
    path = write(tmp_path, body)
    with pytest.raises(AreaImportError) as e:
        parse_areas_csv(path)
    assert e.value.errors == [f"{path}:2: {reason}"]


def test_wrong_header_is_line_1(tmp_path: Path) -> None:
    path = tmp_path / "h.csv"
    path.write_text("code,parent,level\n", encoding="utf-8")
    with pytest.raises(AreaImportError) as e:
        parse_areas_csv(path)
    assert len(e.value.errors) == 1 and e.value.errors[0].startswith(f"{path}:1: header must be")


def test_bom_blank_lines_and_booleans_are_tolerated(tmp_path: Path) -> None:
    rows = parse_areas_csv(write(tmp_path, "C1,,county,县,County,TRUE\n\nT1,C1,township,乡,Town,false\n", bom=True))
    assert [(r.code, r.is_sample, r.line) for r in rows] == [("C1", True, 2), ("T1", False, 4)]


# --- round trip and updates ------------------------------------------------------------------------


async def test_export_then_import_is_identity(db: Database, tmp_path: Path) -> None:
    await seed(db)
    out = io.StringIO()
    async with db.transaction() as session:
        written = await export_areas_csv(session, out)
    exported = out.getvalue()
    assert written == len(parse_areas_csv(DEFAULT_AREAS_CSV))
    # The shipped file is already in export order, so the export reproduces it byte for byte.
    assert exported == DEFAULT_AREAS_CSV.read_text(encoding="utf-8")

    path = tmp_path / "export.csv"
    path.write_text(exported, encoding="utf-8")
    summary = await import_areas_file(db, path)
    assert (summary.created, summary.updated, summary.unchanged) == (0, 0, written)
    again = io.StringIO()
    async with db.transaction() as session:
        await export_areas_csv(session, again)
    assert again.getvalue() == exported


async def test_reimport_updates_names_and_adds_new_rows(db: Database, tmp_path: Path) -> None:
    await seed(db)
    path = write(
        tmp_path,
        "451321-02,451321,township,大塘镇,Datang Town (renamed),0\n"
        "451321-02-S9,451321-02,village,大塘九村（示例）,Datang Village 9 (sample),1\n",
    )
    summary = await import_areas_file(db, path)
    assert (summary.created, summary.updated, summary.unchanged) == (1, 1, 0)
    async with db.transaction() as session:
        datang = await get_area_by_code(session, "451321-02")
        assert datang is not None and datang.name_en == "Datang Town (renamed)"
        assert [v.code for v in await villages(session, datang.id)][-1] == "451321-02-S9"


async def test_changing_the_level_of_an_area_with_children_is_refused(db: Database, tmp_path: Path) -> None:
    await seed(db)
    path = write(tmp_path, "451321-02,,county,大塘镇,Datang,0\n")  # its 3 villages would sit under a county
    with pytest.raises(AreaImportError) as e:
        await import_areas_file(db, path)
    reason = "cannot change '451321-02' from township to county: it has 3 child area(s) not in this file"
    assert e.value.errors == [f"{path}:2: {reason}"]


async def test_import_within_a_failed_transaction_leaves_nothing(db: Database, tmp_path: Path) -> None:
    rows = parse_areas_csv(write(tmp_path, "C1,,county,县,County,0\nT1,C1,township,乡,Town,0\n"))
    with pytest.raises(RuntimeError):
        async with db.transaction() as session:
            assert (await import_areas(session, rows)).created == 2
            raise RuntimeError("caller fails later")
    assert await count_areas(db) == 0


# --- queries ---------------------------------------------------------------------------------------


async def test_townships_and_villages_are_ordered_and_scoped(db: Database, tmp_path: Path) -> None:
    await seed(db)
    # A second county whose township and villages must never leak into Xincheng's menus.
    await import_areas_file(
        db,
        write(
            tmp_path,
            "999999,,county,别县,Other County,1\n"
            "999999-01,999999,township,别乡,Other Township,1\n"
            "999999-01-S1,999999-01,village,别一村（示例）,Other Village 1 (sample),1\n",
        ),
    )
    async with db.transaction() as session:
        xincheng = await townships(session, "451321")
        assert [t.code for t in xincheng] == [f"451321-{i:02d}" for i in range(1, 13)]
        assert [t.code for t in await townships(session)][-1] == "999999-01"
        assert await townships(session, "nope") == []

        datang = xincheng[1]
        assert datang.name("zh_Hans") == "大塘镇" and datang.name("en") == "Datang Town"
        vs = await villages(session, datang.id)
        assert [v.code for v in vs] == ["451321-02-S1", "451321-02-S2", "451321-02-S3"]
        assert all(v.parent_id == datang.id and v.is_sample for v in vs)
        other = await get_area_by_code(session, "999999-01")
        assert other is not None
        assert [v.code for v in await villages(session, other.id)] == ["999999-01-S1"]
        assert await villages(session, xincheng[0].parent_id or 0) == []  # a county has no villages directly

        path = await area_path(session, vs[0].id)
        assert [a.level for a in path] == ["county", "township", "village"]
        assert [a.code for a in path] == ["451321", "451321-02", "451321-02-S1"]
        assert await area_path(session, 10**9) == []
        assert await get_area(session, vs[0].id) == vs[0]
        assert await get_area(session, 10**9) is None
        assert isinstance(vs[0], AreaView)
